/**
 * Issue 13, case 2 (second half): values captured for comparison are redacted before the
 * report stores them. Before, /compare showed the card numbers and cookies of live answers.
 */
import { compileRedactor, REDACTED } from "../../../workloads/mirror-proxy/src/compare/redact.ts";
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { configText, request, startProxy, startUpstream, waitFor, type Upstream } from "../helpers.ts";

describe("compileRedactor", () => {
  const redact = compileRedactor({ headers: ["set-cookie", "authorization"], paths: ["$.card.number", "$[*].iban", "$.secret"] });
  test("masks the values of redacted headers and paths (and below them), keeps the path and kind", () => {
    const out = redact({
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
