/**
 * Issue 13, case 2 (second half): values captured for comparison are redacted before the
 * report stores them. Before, /compare showed the card numbers and cookies of live answers,
 * and the request lines (`GET /cards/<card number>?token=...`) and text previews as sent.
 */
import { formatProblem } from "../../../workloads/mirror-proxy/src/config.ts";
import { compareAnswers } from "../../../workloads/mirror-proxy/src/compare/diff.ts";
import { compileRedactor, DEFAULT_REDACT, lastKeyNames, REDACTED } from "../../../workloads/mirror-proxy/src/compare/redact.ts";
import { validateCompareSettings } from "../../../workloads/mirror-proxy/src/compare/settings.ts";
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { jsonAnswer, textAnswer } from "../compare/helpers.ts";
import { configText, request, startProxy, startUpstream, waitFor, type Upstream } from "../helpers.ts";

describe("compileRedactor", () => {
  const redact = compileRedactor({ ...DEFAULT_REDACT, headers: ["set-cookie", "authorization"], paths: ["$.card.number", "$[*].iban", "$.secret"] });
  test("masks the values of redacted headers and paths (and below them), keeps the path and kind", () => {
    const out = redact.result({
      result: "mismatch",
      omitted: 0,
      patterns: [],
      differences: [
        { path: "headers.set-cookie", kind: "changed", primary: "sid=abc", shadow: "sid=def" },
        { path: "headers.content-type", kind: "changed", primary: "a", shadow: "b" },
        { path: "$.card.number", kind: "changed", primary: "4111111111111111", shadow: "4000000000000002" },
        { path: "$.secret.deep.er", kind: "added", shadow: "x" },
        { path: "$[3].iban", kind: "removed", primary: "DE89370400440532013000" },
        { path: "$.card", kind: "type", primary: null, shadow: { number: "4111111111111111", brand: "visa" } },
        { path: "$.name", kind: "changed", primary: "a", shadow: "b" },
      ],
    });
    expect(out.differences).toEqual([
      { path: "headers.set-cookie", kind: "changed", primary: REDACTED, shadow: REDACTED },
      { path: "headers.content-type", kind: "changed", primary: "a", shadow: "b" },
      { path: "$.card.number", kind: "changed", primary: REDACTED, shadow: REDACTED },
      { path: "$.secret.deep.er", kind: "added", shadow: REDACTED },
      { path: "$[3].iban", kind: "removed", primary: REDACTED },
      { path: "$.card", kind: "type", primary: null, shadow: { number: REDACTED, brand: "visa" } },
      { path: "$.name", kind: "changed", primary: "a", shadow: "b" },
    ]);
  });
});

describe("through the proxy: /compare holds no redacted value", () => {
  let v1: Upstream;
  let v2: Upstream;
  let proxy: MirrorProxy;
  const answer = (card: string, cookie: string) => (_req: unknown, res: import("node:http").ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json", "set-cookie": cookie });
    res.end(JSON.stringify({ card: { number: card, brand: "visa" }, accounts: [{ iban: `${card}-iban`, kind: "giro" }] }));
  };
  beforeAll(async () => {
    v1 = await startUpstream("v1", answer("4111111111111111", "sid=primary-session"));
    v2 = await startUpstream("v2", answer("4000000000000002", "sid=shadow-session"));
    proxy = await startProxy(
      configText({
        vs: `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n      mirror: { host: app, subset: v2 }\n`,
        upstreams: { "app/v1": v1.url, "app/v2": v2.url },
        proxy: `  compare:\n    headers: ["*"]\n    ignoreHeaders: [date]\n    redact: { paths: ["$.card.number", "$.accounts[*].iban"] }\n`,
      }),
    );
  });
  afterAll(async () => {
    await proxy.close();
    await v1.close();
    await v2.close();
  });

  test("the differences are reported by path, their values masked (default headers and configured paths)", async () => {
    expect((await request(proxy.port, { path: "/pay" })).status).toBe(200);
    await waitFor(() => (proxy.compareReport()?.toJSON() as { totals: { compared: number } }).totals.compared === 1, 5000, "the comparison");
    const text = (await request(proxy.adminPort, { path: "/compare" })).body;
    const stats = (await request(proxy.adminPort, { path: "/compare/stats" })).body;
    for (const secret of ["4111111111111111", "4000000000000002", "primary-session", "shadow-session"]) {
      expect(text).not.toContain(secret);
      expect(stats).not.toContain(secret);
    }
    const paths = JSON.parse(text).lastMismatches[0].differences.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["headers.set-cookie", "$.card.number", "$.accounts[0].iban"]));
    expect(text).toContain(REDACTED);
  });
});

describe("the request line", () => {
  const { path } = compileRedactor(DEFAULT_REDACT);
  test("query values by name (case-insensitive, percent-decoded), path segments and query values by pattern", () => {
    expect(path("/cards/4111111111111111/charges?token=abc&page=2&Access_Token=x&%74oken=y&card=4000000000000002&flag&empty="))
      .toBe(`/cards/${REDACTED}/charges?token=${REDACTED}&page=2&Access_Token=${REDACTED}&%74oken=${REDACTED}&card=${REDACTED}&flag&empty=`);
    expect(path("/orders/42/items?code=x")).toBe(`/orders/42/items?code=${REDACTED}`);
    expect(path("/a/%34111111111111111/b?4111111111111111")).toBe(`/a/${REDACTED}/b?${REDACTED}`);
    expect(path("/plain/path")).toBe("/plain/path");
    expect(path("/bad%zz/x?%zz=1")).toBe("/bad%zz/x?%zz=1"); // undecodable: matched as it is
  });
  test("the settings choose the names and the patterns", () => {
    const r = compileRedactor({ ...DEFAULT_REDACT, queryParams: ["session-id"], pathSegments: ["acct_[a-z0-9]+", "^[0-9]{4}(-[0-9]{4}){3}$"] });
    expect(r.path("/acct_9x/4111-1111-1111-1111/4111111111111111?session-id=s&token=t")).toBe(`/${REDACTED}/${REDACTED}/4111111111111111?session-id=${REDACTED}&token=t`);
    expect(compileRedactor({ ...DEFAULT_REDACT, queryParams: [], pathSegments: [] }).path("/4111111111111111?token=t")).toBe("/4111111111111111?token=t");
  });
});

describe("the text rule (non-JSON previews, header values, JSON strings)", () => {
  const { text } = compileRedactor({ ...DEFAULT_REDACT, paths: ["$.card.number", "$.accounts[*]", "$[*]"] });
  test.each([
    ["GET /x?token=abc&page=2 failed", `GET /x?token=${REDACTED}&page=2 failed`],
    ["password=hunter2; path=/", `password=${REDACTED}; path=/`],
    ["key=user:pass ok", `key=${REDACTED} ok`], // a colon belongs to the value
    ['<a href="/cb?code=xyz">', `<a href="/cb?code=${REDACTED}">`],
    ["Authorization: Bearer abc.def\nX-Other: 1", `Authorization: ${REDACTED}\nX-Other: 1`],
    ["Set-Cookie: sid=1; HttpOnly", `Set-Cookie: ${REDACTED}`],
    ['{"card":{"number":"4111111111111111","brand":"visa"}}', `{"card":{"number":"${REDACTED}","brand":"visa"}}`],
    ['{"number": 4111111111111111, "n": 2}', `{"number": ${REDACTED}, "n": 2}`],
    ['{"accounts":[{"iban":"DE89"}],"total":1}', `{"accounts":${REDACTED},"total":1}`],
    ['{"accounts":[{"iban":"DE8', `{"accounts":${REDACTED}`],
    ['{"token":"abc', `{"token":"${REDACTED}`],
    ["card 4111111111111111 declined.", `card ${REDACTED} declined.`],
    ["tokenizer=1 mytoken=2 x_token=3", `tokenizer=1 mytoken=2 x_token=${REDACTED}`],
    ["order 42 shipped, status code 200", "order 42 shipped, status code 200"],
  ])("%s", (input, masked) => {
    expect(text(input)).toBe(masked);
  });
  test("the key names of JSON paths", () => {
    expect(lastKeyNames(["$.card.number", "$.accounts[*]", "$[*]", "$['Odd Key'][0]", "$.*"])).toEqual(["number", "accounts", "odd key"]);
  });
});

describe("differences from real diffs", () => {
  const redact = compileRedactor({ ...DEFAULT_REDACT, paths: ["$.card.number"] });
  const options = { headers: ["*"], redactPaths: ["$.card.number"] };
  test("a non-JSON body: its text preview masked, length and hash kept", () => {
    const r = redact.result(compareAnswers(textAnswer("charged 4111111111111111 token=abc: ok"), textAnswer("charged 4111111111111111 token=abc: failed"), options));
    const d = r.differences.find((x) => x.path === "body")!;
    expect(d.primary).toEqual({ bytes: 38, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), text: `charged ${REDACTED} token=${REDACTED} ok` });
    expect((d.shadow as { text: string }).text).toBe(`charged ${REDACTED} token=${REDACTED} failed`);
  });
  test("a header value (location) and JSON strings and numbers outside the configured paths", () => {
    const r = redact.result(compareAnswers(
      jsonAnswer({ next: "/p?token=abc&page=2", id: 4111111111111111, n: 1 }, { location: "/cb?code=c1" }),
      jsonAnswer({ next: "/p?token=def&page=3", id: 4000000000000002, n: 2 }, { location: "/cb?code=c2" }),
      options,
    ));
    expect(r.differences).toEqual([
      { path: "headers.location", kind: "changed", primary: `/cb?code=${REDACTED}`, shadow: `/cb?code=${REDACTED}` },
      { path: "$.next", kind: "changed", primary: `/p?token=${REDACTED}&page=2`, shadow: `/p?token=${REDACTED}&page=3` },
      { path: "$.id", kind: "changed", primary: REDACTED, shadow: REDACTED },
      { path: "$.n", kind: "changed", primary: 1, shadow: 2 },
    ]);
  });
  test("a container cut to a preview string: the redacted path masked in it, by position", () => {
    const big = { card: { number: "4111111111111111", holder: "x".repeat(300) } };
    const r = redact.result(compareAnswers(jsonAnswer(big), jsonAnswer([big]), options));
    expect(r.differences).toHaveLength(1);
    const d = r.differences[0];
    expect(d).toMatchObject({ path: "$", kind: "type", truncated: true });
    expect(d.primary).toBe(`{"card":{"number":"${REDACTED}","holder":"${"x".repeat(200 - 41)}…`);
    expect(JSON.stringify(r)).not.toContain("4111111111111111");
  });
});

describe("compare.redact settings", () => {
  const problems = (redact: unknown) => validateCompareSettings({ redact }).problems.map(formatProblem);
  test("defaults", () => {
    expect(validateCompareSettings({}).settings?.redact).toEqual(DEFAULT_REDACT);
    expect(DEFAULT_REDACT.queryParams).toEqual(expect.arrayContaining(["token", "access_token", "api_key", "apikey", "password", "secret", "signature", "sig", "code"]));
  });
  test("every problem names the key and the value", () => {
    expect(problems({ queryParams: ["Token", "a&b", ""], pathSegments: ["(?=x)", "a(b", 3], headers: "authorization" })).toEqual([
      "MirrorProxy: spec.compare.redact.headers: must be a list (got authorization)",
      "MirrorProxy: spec.compare.redact.queryParams[0]: must be a lower-case query parameter name (no &, =, # or white space) (got Token)",
      "MirrorProxy: spec.compare.redact.queryParams[1]: must be a lower-case query parameter name (no &, =, # or white space) (got a&b)",
      "MirrorProxy: spec.compare.redact.queryParams[2]: must be a lower-case query parameter name (no &, =, # or white space) (got )",
      "MirrorProxy: spec.compare.redact.pathSegments[0]: not a valid RE2 regex: lookahead/lookbehind is not supported by RE2 (got (?=x))",
      "MirrorProxy: spec.compare.redact.pathSegments[1]: not a valid RE2 regex: missing closing ): `a(b` (got a(b)",
      "MirrorProxy: spec.compare.redact.pathSegments[2]: must be a string (got 3)",
    ]);
    expect(problems({ queryParams: "token" })).toEqual(["MirrorProxy: spec.compare.redact.queryParams: must be a list (got token)"]);
  });
});

describe("through the proxy: the request line and text previews on /compare hold no secret", () => {
  const CARD = "4111111111111111";
  let v1: Upstream;
  let v2: Upstream;
  let proxy: MirrorProxy;
  // Both versions echo the request line, as error pages and `self` links do; they differ in what else they say.
  const answer = (version: "v1" | "v2") => (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    const url = req.url ?? "";
    if (url.startsWith("/text/")) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`statement for ${url}: balance ${version === "v1" ? 1 : 2}\n`);
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    // v2 moved the link into `links` (with a long note, so that difference is cut to a preview string).
    res.end(JSON.stringify(version === "v1" ? { self: url, balance: 1 } : { links: { self: url, note: "n".repeat(300) }, balance: 2 }));
  };
  beforeAll(async () => {
    v1 = await startUpstream("v1", answer("v1"));
    v2 = await startUpstream("v2", answer("v2"));
    proxy = await startProxy(
      configText({
        vs: `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n      mirror: { host: app, subset: v2 }\n`,
        upstreams: { "app/v1": v1.url, "app/v2": v2.url },
        proxy: `  compare:\n    headers: [content-type]\n`,
      }),
    );
  });
  afterAll(async () => {
    await proxy.close();
    await v1.close();
    await v2.close();
  });

  test("secrets in the path and the query of JSON and text/plain answers appear nowhere; the differences are still reported", async () => {
    for (const path of [`/accounts/${CARD}/statement?token=abc`, `/text/${CARD}?token=abc`]) {
      const reply = await request(proxy.port, { path });
      expect(reply.status).toBe(200);
      expect(reply.body).toContain(CARD); // the client's own answer is untouched
    }
    await waitFor(() => (proxy.compareReport()?.toJSON() as { totals: { compared: number } }).totals.compared === 2, 5000, "both comparisons");
    const compare = await request(proxy.adminPort, { path: "/compare" });
    const stats = await request(proxy.adminPort, { path: "/compare/stats" });
    for (const served of [compare, stats]) {
      expect(served.status).toBe(200);
      expect(served.body).not.toContain(CARD);
      expect(served.body).not.toContain("token=abc");
      expect(served.body).not.toMatch(/\babc\b/); // (a SHA-256 in hex is one word: an "abc" inside it is no leak)
    }
    const report = JSON.parse(compare.body) as { totals: { mismatch: number }; lastMismatches: { request: string; differences: { path: string; primary?: unknown; shadow?: unknown }[] }[] };
    expect(report.totals.mismatch).toBe(2);
    const byRequest = Object.fromEntries(report.lastMismatches.map((m) => [m.request, m.differences]));
    expect(Object.keys(byRequest).sort()).toEqual([`GET /accounts/${REDACTED}/statement?token=${REDACTED}`, `GET /text/${REDACTED}?token=${REDACTED}`]);
    const json = byRequest[`GET /accounts/${REDACTED}/statement?token=${REDACTED}`];
    expect(json.map((d) => d.path).sort()).toEqual(["$.balance", "$.links", "$.self"]);
    expect(json.find((d) => d.path === "$.self")?.primary).toBe(`/accounts/${REDACTED}/statement?token=${REDACTED}`);
    expect(json.find((d) => d.path === "$.balance")).toMatchObject({ primary: 1, shadow: 2 });
    const body = byRequest[`GET /text/${REDACTED}?token=${REDACTED}`].find((d) => d.path === "body")!;
    expect(body.primary).toMatchObject({ text: `statement for /text/${REDACTED}?token=${REDACTED} balance 1\n` });
    expect(body.shadow).toMatchObject({ text: `statement for /text/${REDACTED}?token=${REDACTED} balance 2\n` });
  });
});
