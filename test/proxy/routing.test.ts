/** Istio routing semantics over real sockets: the proxy in-process, real upstream servers. */
import net from "node:net";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { closedPort, configText, DR, many, metric, request, startProxy, startUpstream, type Upstream } from "./helpers.ts";

let ups: Record<string, Upstream>;
let proxy: MirrorProxy;
let deadPort: number;

const vs = `  hosts: ["app", "*.wild.example", "deep.wild.example", "exact.example"]
  http:
    - name: uri-exact
      match: [{ uri: { exact: /exact } }]
      route: [{ destination: { host: app, subset: a } }]
    - name: uri-regex
      match: [{ uri: { regex: "/re/[0-9]+" } }]
      route: [{ destination: { host: app, subset: b } }]
    - name: prefix-nocase
      match: [{ uri: { prefix: /CaSe }, ignoreUriCase: true }]
      route: [{ destination: { host: app, subset: a } }]
    - name: and-or
      match:
        - { method: { exact: POST }, headers: { x-team: { prefix: blue } } }
        - { queryParams: { flag: { exact: "on" } } }
        - { queryParams: { present: {} } }
      route: [{ destination: { host: app, subset: b } }]
    - name: header-regex
      match: [{ headers: { cookie: { regex: "^(.*?; ?)?(user=test)(;.*)?$" } } }]
      route: [{ destination: { host: app, subset: c } }]
    - name: presence
      match: [{ headers: { x-present: {} } }]
      route: [{ destination: { host: app, subset: c } }]
    - name: without
      match: [{ uri: { prefix: /without }, withoutHeaders: { x-block: {} } }]
      route: [{ destination: { host: app, subset: a } }]
    - name: authority
      match: [{ authority: { regex: "deep\\\\.wild\\\\.example(:[0-9]+)?" }, uri: { prefix: /auth } }]
      route: [{ destination: { host: app, subset: c } }]
    - name: scheme
      match: [{ scheme: { exact: https }, uri: { prefix: /scheme } }]
      route: [{ destination: { host: app, subset: a } }]
    - name: weighted
      match: [{ uri: { prefix: /weighted } }]
      route:
        - { destination: { host: app, subset: a }, weight: 25 }
        - { destination: { host: app, subset: b }, weight: 75 }
    - name: slow
      match: [{ uri: { prefix: /slow } }]
      route: [{ destination: { host: app, subset: slow } }]
      timeout: 150ms
    - name: dead
      match: [{ uri: { prefix: /dead } }]
      route: [{ destination: { host: app, subset: dead } }]
    - name: only-get
      match: [{ method: { exact: GET }, uri: { prefix: /only } }]
      route: [{ destination: { host: app, subset: a } }]
    - name: default
      route: [{ destination: { host: app, subset: d } }]
`;

beforeAll(async () => {
  ups = {
    a: await startUpstream("a"),
    b: await startUpstream("b"),
    c: await startUpstream("c"),
    d: await startUpstream("d"),
    slow: await startUpstream("slow", { delayMs: 2000 }),
    other: await startUpstream("other"),
  };
  deadPort = await closedPort();
  const text = configText({
    vs,
    drs: DR("app", "app", ["a", "b", "c", "d", "slow", "dead"]),
    upstreams: { "app/a": ups.a.url, "app/b": ups.b.url, "app/c": ups.c.url, "app/d": ups.d.url, "app/slow": ups.slow.url, "app/dead": `http://127.0.0.1:${deadPort}`, other: ups.other.url },
    extra: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: other }
spec:
  hosts: ["other.example", "*.example"]
  http:
    - route: [{ destination: { host: other } }]`,
  });
  proxy = await startProxy(text);
});

afterAll(async () => {
  await proxy.close();
  await Promise.all(Object.values(ups).map((u) => u.close()));
});

const get = (path: string, headers: Record<string, string> = {}, method = "GET") => request(proxy.port, { path, method, headers: { host: "app", ...headers } });
const servedBy = async (path: string, headers: Record<string, string> = {}, method = "GET") => (await get(path, headers, method)).body.split(" ")[0];

describe("hosts", () => {
  test("exact, short-name FQDN expansion, most specific wildcard, port stripped, case-insensitive", async () => {
    expect(await servedBy("/", { host: "app" })).toBe("d");
    expect(await servedBy("/", { host: "APP:8080" })).toBe("d");
    expect(await servedBy("/", { host: "app.demo.svc.cluster.local" })).toBe("d"); // VirtualService namespace: demo
    expect(await servedBy("/", { host: "x.wild.example" })).toBe("d"); // *.wild.example beats *.example
    expect(await servedBy("/", { host: "a.b.wild.example" })).toBe("d");
    expect(await servedBy("/", { host: "exact.example" })).toBe("d"); // exact beats *.example
    expect(await servedBy("/", { host: "zzz.example" })).toBe("other");
    expect(await servedBy("/", { host: "other.example" })).toBe("other");
  });

  test("a Host no VirtualService serves is a 404 and contacts nobody", async () => {
    const before = Object.values(ups).reduce((s, u) => s + u.arrived, 0);
    const r = await get("/", { host: "evil.invalid" });
    expect(r.status).toBe(404);
    expect(r.body).toBe("no route\n");
    expect(Object.values(ups).reduce((s, u) => s + u.arrived, 0)).toBe(before);
    expect(await metric(proxy, "mirror_proxy_requests_total", { route: "none", code_class: "4xx" })).toBeGreaterThanOrEqual(1);
  });
});

describe("matches", () => {
  test("first match wins, in http[] order", async () => {
    expect(await servedBy("/exact")).toBe("a");
    expect(await servedBy("/exact/")).toBe("d");
    expect(await servedBy("/exact?x=1")).toBe("a"); // the query is not part of the uri match
  });

  test("regex is a whole-value match", async () => {
    expect(await servedBy("/re/123")).toBe("b");
    expect(await servedBy("/re/123x")).toBe("d");
    expect(await servedBy("/x/re/1")).toBe("d");
  });

  test("ignoreUriCase", async () => {
    expect(await servedBy("/case/x")).toBe("a");
    expect(await servedBy("/CASE")).toBe("a");
  });

  test("conditions in one block are ANDed, blocks are ORed", async () => {
    expect(await servedBy("/p", { "x-team": "blue-1" }, "POST")).toBe("b");
    expect(await servedBy("/p", { "x-team": "blue-1" }, "GET")).toBe("d");
    expect(await servedBy("/p", { "x-team": "red" }, "POST")).toBe("d");
    expect(await servedBy("/p?flag=on")).toBe("b");
    expect(await servedBy("/p?flag=off")).toBe("d");
    expect(await servedBy("/p?a=1&present")).toBe("b");
  });

  test("cookie through the cookie header regex, header presence", async () => {
    expect(await servedBy("/", { cookie: "user=test" })).toBe("c");
    expect(await servedBy("/", { cookie: "a=b; user=test; c=d" })).toBe("c");
    expect(await servedBy("/", { cookie: "user=tester" })).toBe("d");
    expect(await servedBy("/", { "x-present": "" })).toBe("c");
  });

  test("withoutHeaders", async () => {
    expect(await servedBy("/without")).toBe("a");
    expect(await servedBy("/without", { "x-block": "1" })).toBe("d");
  });

  test("authority (with port) and scheme (always http on this listener)", async () => {
    expect(await servedBy("/auth", { host: "deep.wild.example:81" })).toBe("c");
    expect(await servedBy("/auth", { host: "x.wild.example" })).toBe("d");
    expect(await servedBy("/scheme")).toBe("d");
  });

  test("method", async () => {
    expect(await servedBy("/only")).toBe("a");
    expect(await servedBy("/only", {}, "DELETE")).toBe("d");
  });
});

test("weighted route: 25/75 within 5 sigma over 4000 requests", async () => {
  const n = 4000;
  const replies = await many(n, 32, () => get("/weighted"));
  const a = replies.filter((r) => r.body.startsWith("a ")).length;
  const b = replies.filter((r) => r.body.startsWith("b ")).length;
  expect(replies.filter((r) => !r.body.startsWith("a ") && !r.body.startsWith("b ")).map((r) => `${r.status} ${r.body}`).slice(0, 3)).toEqual([]);
  expect(a + b).toBe(n);
  const sigma = Math.sqrt(n * 0.25 * 0.75);
  expect(Math.abs(a - n * 0.25)).toBeLessThan(5 * sigma);
});

describe("errors, as Envoy answers", () => {
  test("primary timeout: 504", async () => {
    const r = await get("/slow");
    expect(r.status).toBe(504);
    expect(r.ms).toBeLessThan(1500);
    expect(await metric(proxy, "mirror_proxy_requests_total", { route: "app/slow", code_class: "5xx" })).toBe(1);
    expect(await metric(proxy, "mirror_proxy_upstream_errors_total", { upstream: "app/slow", reason: "timeout" })).toBe(1);
  });

  test("primary unreachable: 503, as Envoy answers", async () => {
    const r = await get("/dead");
    expect(r.status).toBe(503);
    expect(r.body).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection failure\n");
    expect(await metric(proxy, "mirror_proxy_upstream_errors_total", { upstream: "app/dead", reason: "connect" })).toBe(1);
  });

  test("malformed HTTP gets a 400 and the proxy keeps serving", async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, "127.0.0.1", () => s.write("GARBAGE / HTTP/9\r\n\r\n"));
      let got = "";
      s.on("data", (d) => (got += d));
      s.on("close", () => resolve(got));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await get("/")).status).toBe(200);
  });
});

describe("headers and targets", () => {
  test("hop-by-hop headers are dropped, x-forwarded-* set, Host kept, end-to-end headers pass both ways", async () => {
    ups.a.seen.length = 0;
    const r = await request(proxy.port, {
      path: "/exact?q=1",
      headers: { host: "app:9", connection: "keep-alive, x-secret", "x-secret": "s", "keep-alive": "timeout=5", te: "trailers", "proxy-authorization": "p", "x-custom": "yes", "x-forwarded-for": "10.0.0.1" },
    });
    expect(r.headers["x-upstream"]).toBe("a");
    const h = ups.a.seen[0].headers;
    expect(ups.a.seen[0].url).toBe("/exact?q=1");
    expect(h.host).toBe("app:9");
    expect(h["x-custom"]).toBe("yes");
    for (const hop of ["x-secret", "keep-alive", "te", "proxy-authorization"]) expect(h[hop]).toBeUndefined();
    expect(h["x-forwarded-for"]).toBe("10.0.0.1, 127.0.0.1");
    expect(h["x-forwarded-proto"]).toBe("http");
    expect(h["x-forwarded-host"]).toBe("app:9");
  });

  test("an absolute-form URI routes by its authority and never reaches the address it names", async () => {
    const evil = await startUpstream("evil");
    try {
      const raw = (target: string) =>
        new Promise<string>((resolve) => {
          const s = net.connect(proxy.port, "127.0.0.1", () => s.write(`GET ${target} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`));
          let got = "";
          s.on("data", (d) => (got += d));
          s.on("close", () => resolve(got));
        });
      const routed = await raw(`http://app/exact`);
      expect(routed).toMatch(/^HTTP\/1\.1 200/);
      expect(routed).toContain("a GET /exact");
      const refused = await raw(`http://127.0.0.1:${evil.port}/`);
      expect(refused).toMatch(/^HTTP\/1\.1 404/);
      expect(evil.arrived).toBe(0);
    } finally {
      await evil.close();
    }
  });

  test("request bodies stream to the primary byte for byte (chunked and sized)", async () => {
    ups.d.seen.length = 0;
    const body = Buffer.alloc(300000, "x");
    await request(proxy.port, { method: "PUT", path: "/put", headers: { host: "app" }, body });
    expect(ups.d.seen[0].bodyLength).toBe(body.length);
  });
});

test("deadPort stays closed", async () => {
  await expect(request(deadPort)).rejects.toThrow();
});
