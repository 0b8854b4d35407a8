/**
 * Shadow vs primary comparison (issue 5) wired into the proxy, over real sockets: what
 * `/compare` reports, what is not reported (ignored paths, learned noise), the skips and
 * their counts, the bounds, and that the primary's client never waits for any of it.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { startHostnameServer } from "../../workloads/hostname/src/server.ts";
import { startMoviesServer } from "../../workloads/movies/src/server.ts";
import { ConfigError, formatProblem, parseMirrorProxyConfig } from "../../workloads/mirror-proxy/src/config.ts";
import type { CompareReportJSON } from "../../workloads/mirror-proxy/src/compare/report.ts";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { configText, DR, expectNotHeldBySlowShadow, many, metric, request, startProxy, startUpstream, waitFor, type Upstream } from "./helpers.ts";

const MAX_BODY = 4096;

/** JSON answers by path; `version` decides the differences v2 makes. */
function api(version: "v1" | "v2") {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      const body = JSON.stringify(value);
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    const v2 = version === "v2";
    const movies = [
      { id: 1, title: "Metropolis", year: 1927 },
      { id: 2, title: "Blade Runner", year: 1982 },
    ];
    switch (path) {
      case "/status":
        return v2 ? json(503, { error: "busy" }) : json(200, { error: null });
      case "/header":
        return json(200, movies, { "x-api-version": v2 ? "2" : "1" });
      case "/field":
        return json(200, v2 ? movies.map((m) => ({ ...m, year: m.id === 2 ? 1983 : m.year, rating: 8 })) : movies);
      case "/ignored":
        return json(200, { movies, generatedAt: `${version}-${Date.now()}-${Math.random()}` });
      case "/big":
        return json(200, { blob: "x".repeat(MAX_BODY * 2) });
      case "/storm":
        // Every v2 answer differs at a new path: a storm of distinct mismatching paths.
        return json(200, { ...(v2 ? { [`k${Math.random().toString(36).slice(2)}`]: 1 } : { same: 1 }), nested: Array.from({ length: 30 }, () => Math.random()) });
      case "/text":
        res.writeHead(200, { "content-type": "text/plain" });
        return res.end(`plain ${v2 ? "two" : "one"}`);
      case "/gzip":
        res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
        return res.end("not really gzip");
      default:
        return json(200, movies);
    }
  };
}

let v1: Upstream;
let v2: Upstream;
let slowV2: Upstream;
let proxy: MirrorProxy;
let text: string;

const routeTo = (name: string, prefix: string, mirror: string) => `    - name: ${name}
      match: [{ uri: { prefix: ${prefix} } }]
      route: [{ destination: { host: app, subset: v1 } }]
      mirror: { host: app, subset: ${mirror} }`;

const COMPARE = `  compare:
    routes: ["*"]
    headers: [content-type, x-api-version]
    ignorePaths: ["$.generatedAt"]
    maxBodyBytes: ${MAX_BODY}
    maxInFlight: 64
    lastMismatches: 10
`;

beforeAll(async () => {
  v1 = await startUpstream("v1", api("v1"));
  v2 = await startUpstream("v2", api("v2"));
  const slowApi = api("v2");
  slowV2 = await startUpstream("slow", (req, res) => void setTimeout(() => slowApi(req, res), 200).unref());
  text = configText({
    vs: `  hosts: ["*"]
  http:
${routeTo("slow", "/slow", "slow")}
${routeTo("all", "/", "v2")}
`,
    drs: DR("app", "app", ["v1", "v2", "slow"]),
    upstreams: { "app/v1": v1.url, "app/v2": v2.url, "app/slow": slowV2.url },
    proxy: `  shadowTimeoutMs: 2000\n${COMPARE}`,
  });
  proxy = await startProxy(text);
});

afterAll(async () => {
  await proxy.close();
  await Promise.all([v1, v2, slowV2].map((u) => u.close()));
});

async function report(p: MirrorProxy = proxy): Promise<CompareReportJSON> {
  const reply = await request(p.adminPort, { path: "/compare" });
  if (reply.status !== 200) throw new Error(`${reply.status} ${reply.body}`);
  return JSON.parse(reply.body) as CompareReportJSON;
}

/** Comparisons done (compared + skipped) on `route`, from the metrics. */
const done = async (p: MirrorProxy, route: string) => (await metric(p, "mirror_proxy_compare_compared_total", { route })) + (await metric(p, "mirror_proxy_compare_skipped_total", { route }));
const settle = (p: MirrorProxy, route: string, n: number) => waitFor(async () => (await done(p, route)) >= n, 5000, `${n} comparisons on ${route}`);

describe("what /compare reports", () => {
  test("identical answers match", async () => {
    for (let i = 0; i < 3; i++) expect((await request(proxy.port, { path: "/same", headers: { host: "h" } })).status).toBe(200);
    await settle(proxy, "app/all", 3);
    const r = await report();
    expect(r.routes["app/all"]).toMatchObject({ compared: 3, match: 3, mismatch: 0, mismatchRate: 0 });
    expect(await metric(proxy, "mirror_proxy_compare_compared_total", { route: "app/all" })).toBe(3);
    expect(await metric(proxy, "mirror_proxy_compare_differing_total", { route: "app/all" })).toBe(0);
    expect(await metric(proxy, "mirror_proxy_compare_latency_delta_seconds_count", { route: "app/all" })).toBe(3);
  });

  test("a changed status, header and JSON field: reported with the path and both values; the client sees v1 only", async () => {
    const before = await done(proxy, "app/all");
    const s = await request(proxy.port, { path: "/status", headers: { host: "h" } });
    expect(s.status).toBe(200);
    const h = await request(proxy.port, { path: "/header", headers: { host: "h" } });
    expect(h.headers["x-api-version"]).toBe("1");
    const f = await request(proxy.port, { path: "/field?x=1", headers: { host: "h" } });
    expect(JSON.parse(f.body)).toEqual([{ id: 1, title: "Metropolis", year: 1927 }, { id: 2, title: "Blade Runner", year: 1982 }]);
    await settle(proxy, "app/all", before + 3);

    const r = await report();
    const [field, header, status] = r.lastMismatches; // newest first
    expect(status).toMatchObject({ route: "app/all", request: "GET /status", host: "h" });
    expect(status.differences).toEqual([
      { path: "status", kind: "changed", primary: 200, shadow: 503 },
      { path: "$.error", kind: "type", primary: null, shadow: "busy" },
    ]);
    expect(header.differences).toEqual([{ path: "headers.x-api-version", kind: "changed", primary: "1", shadow: "2" }]);
    expect(field.request).toBe("GET /field?x=1");
    expect(field.differences).toEqual([
      { path: "$[0].rating", kind: "added", shadow: 8 },
      { path: "$[1].year", kind: "changed", primary: 1982, shadow: 1983 },
      { path: "$[1].rating", kind: "added", shadow: 8 },
    ]);
    expect(r.topDifferences.map((d) => d.path)).toEqual(expect.arrayContaining(["status", "$.error", "headers.x-api-version", "$[*].rating", "$[*].year"]));
    expect(r.topDifferences.find((d) => d.path === "$[*].rating")?.count).toBe(1); // once per comparison
    expect(await metric(proxy, "mirror_proxy_compare_differing_total", { route: "app/all" })).toBe(3);
  });

  test("a non-JSON body differs by length and hash", async () => {
    const before = await done(proxy, "app/all");
    await request(proxy.port, { path: "/text", headers: { host: "h" } });
    await settle(proxy, "app/all", before + 1);
    const [rec] = (await report()).lastMismatches;
    expect(rec.request).toBe("GET /text");
    expect(rec.differences).toEqual([
      { path: "body", kind: "changed", primary: { bytes: 9, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), text: "plain one" }, shadow: { bytes: 9, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), text: "plain two" } },
    ]);
  });

  test("ignored paths are not reported", async () => {
    const before = await done(proxy, "app/all");
    const mismatches = (await report()).routes["app/all"].mismatch;
    for (let i = 0; i < 3; i++) await request(proxy.port, { path: "/ignored", headers: { host: "h" } });
    await settle(proxy, "app/all", before + 3);
    const r = await report();
    expect(r.routes["app/all"].mismatch).toBe(mismatches);
    expect(r.topDifferences.map((d) => d.path)).not.toContain("$.generatedAt");
  });

  test("oversized bodies and encoded bodies are skipped and counted; the client still gets the whole body", async () => {
    const before = await done(proxy, "app/all");
    const big = await request(proxy.port, { path: "/big", headers: { host: "h" } });
    expect(big.body.length).toBeGreaterThan(MAX_BODY * 2);
    await request(proxy.port, { path: "/gzip", headers: { host: "h" } });
    await settle(proxy, "app/all", before + 2);
    const r = await report();
    expect(r.routes["app/all"].skipped).toMatchObject({ body_too_large: 1, content_encoding: 1 });
    expect(await metric(proxy, "mirror_proxy_compare_skipped_total", { route: "app/all", reason: "body_too_large" })).toBe(1);
    expect(await metric(proxy, "mirror_proxy_compare_skipped_total", { route: "app/all", reason: "content_encoding" })).toBe(1);
  });

  test("HEAD: the declared length of an absent body is no reason to skip", async () => {
    const before = await done(proxy, "app/all");
    const matches = (await report()).routes["app/all"].match;
    expect((await request(proxy.port, { method: "HEAD", path: "/big", headers: { host: "h" } })).status).toBe(200);
    await settle(proxy, "app/all", before + 1);
    expect((await report()).routes["app/all"].match).toBe(matches + 1);
  });

  test("a request body above maxMirrorBodyBytes: no copy, the comparison is skipped (body_too_large)", async () => {
    const small = await startProxy(text.replace("  shadowTimeoutMs: 2000\n", "  shadowTimeoutMs: 2000\n  maxMirrorBodyBytes: 10\n"));
    try {
      const r = await request(small.port, { method: "POST", path: "/same", headers: { host: "h" }, body: "x".repeat(100) });
      expect(r.status).toBe(200);
      await settle(small, "app/all", 1);
      expect((await report(small)).routes["app/all"].skipped).toEqual({ body_too_large: 1 });
    } finally {
      await small.close();
    }
  });

  test("the summary line", async () => {
    const line = (await request(proxy.adminPort, { path: "/compare/summary" })).body;
    expect(line).toMatch(/^\d+ compared, \d+ differ \(\d+\.\d %\), top differences: .*; 2 skipped \(body_too_large 1, content_encoding 1\)\n$/);
  });
});

describe("never at the primary's cost", () => {
  test("a 200 ms shadow delays neither the primary nor the client; its comparison lands later", async () => {
    const replies = await many(100, 10, () => request(proxy.port, { path: "/slow/x", headers: { host: "h" } }));
    expectNotHeldBySlowShadow(replies);
    await settle(proxy, "app/slow", 100);
    const t = (await report()).routes["app/slow"];
    // ~200 ms of shadow latency keeps more than maxInFlight (64) comparisons open: the rest are skipped.
    expect(t.match).toBe(t.compared);
    expect(t.compared).toBeGreaterThanOrEqual(10);
    expect(t.compared + (t.skipped.in_flight_limit ?? 0)).toBe(100);
    // The latency delta histogram saw the shadow ~200 ms slower than the primary (it answers
    // after >= 200 ms, every primary within 190 ms).
    expect(await metric(proxy, "mirror_proxy_compare_latency_delta_seconds_bucket", { route: "app/slow", le: "0.005" })).toBe(0);
    expect(await metric(proxy, "mirror_proxy_compare_latency_delta_seconds_count", { route: "app/slow" })).toBe(t.compared);
    expect((await metric(proxy, "mirror_proxy_compare_latency_delta_seconds_sum", { route: "app/slow" })) / t.compared).toBeGreaterThan(0.1);
  });

  test("a failed shadow is skipped (shadow_failed), never retried", async () => {
    const deadText = text.replace(slowV2.url, "http://127.0.0.1:1");
    const p = await startProxy(deadText);
    try {
      expect((await request(p.port, { path: "/slow/a", headers: { host: "h" } })).status).toBe(200);
      await settle(p, "app/slow", 1);
      expect((await report(p)).routes["app/slow"].skipped).toEqual({ shadow_failed: 1 });
    } finally {
      await p.close();
    }
  });

  test("a hanging shadow times out (shadow_failed) and frees its slot; a failed primary: primary_failed", async () => {
    const hang = await startUpstream("hang", "hang");
    const p = await startProxy(text.replace(slowV2.url, hang.url).replace("shadowTimeoutMs: 2000", "shadowTimeoutMs: 100").replace(v1.url, "http://127.0.0.1:1"));
    try {
      expect((await request(p.port, { path: "/slow/a", headers: { host: "h" } })).status).toBe(503);
      await settle(p, "app/slow", 1);
      expect((await report(p)).routes["app/slow"].skipped).toEqual({ primary_failed: 1 });
      expect(await metric(p, "mirror_proxy_compare_in_flight")).toBe(0);
    } finally {
      await p.close();
    }
    const q = await startProxy(text.replace(slowV2.url, hang.url).replace("shadowTimeoutMs: 2000", "shadowTimeoutMs: 300"));
    try {
      const r = await request(q.port, { path: "/slow/b", headers: { host: "h" } });
      expect(r.status).toBe(200);
      expect(r.ms).toBeLessThan(250); // the client never waits for the copy's timeout
      await settle(q, "app/slow", 1);
      expect((await report(q)).routes["app/slow"].skipped).toEqual({ shadow_failed: 1 });
      expect(await metric(q, "mirror_proxy_compare_in_flight")).toBe(0);
    } finally {
      await q.close();
      await hang.close();
    }
  });

  test("memory bounded under a mismatch storm: in-flight comparisons, ring, counted paths, values", async () => {
    const storm = await startProxy(text.replace("maxInFlight: 64", "maxInFlight: 4").replace("lastMismatches: 10", "lastMismatches: 5"));
    try {
      let peak = 0;
      const watch = setInterval(() => void metric(storm, "mirror_proxy_compare_in_flight").then((n) => (peak = Math.max(peak, n))), 2);
      // 300 one after another-ish (all compared: > 200 distinct paths), then 200 at once (beyond maxInFlight).
      const N = 500;
      const replies = [
        ...(await many(300, 3, () => request(storm.port, { path: "/storm", headers: { host: "h" } }))),
        ...(await many(200, 32, () => request(storm.port, { path: "/storm", headers: { host: "h" } }))),
      ];
      clearInterval(watch);
      expect(replies.every((r) => r.status === 200 && (JSON.parse(r.body) as { same?: number }).same === 1)).toBe(true);
      await settle(storm, "app/all", N);
      expect(peak).toBeLessThanOrEqual(4);
      expect(await metric(storm, "mirror_proxy_compare_in_flight")).toBe(0);
      const r = await report(storm);
      const t = r.routes["app/all"];
      expect(t.compared + (t.skipped.in_flight_limit ?? 0)).toBe(N);
      expect(t.skipped.in_flight_limit).toBeGreaterThan(0);
      expect(t.mismatch).toBe(t.compared);
      expect(r.lastMismatches).toHaveLength(5);
      for (const m of r.lastMismatches) expect(m.differences.length + m.omitted).toBeGreaterThan(20); // 31 differing paths, 20 described
      for (const m of r.lastMismatches) expect(m.differences.length).toBeLessThanOrEqual(20);
      expect(t.topDifferences.length).toBeLessThanOrEqual(20);
      expect(t.compared).toBeGreaterThan(250);
      expect(t.evictedPaths).toBeGreaterThan(0); // > 200 distinct paths: the counter evicted, it did not grow
      expect(JSON.stringify(r).length).toBeLessThan(64 * 1024);
    } finally {
      await storm.close();
    }
  });
});

describe("noise: a second primary copy, learned, not reported", () => {
  let podA: Upstream;
  let podB: Upstream;
  let podV2: Upstream;
  let p: MirrorProxy;

  /** Like the hostname demo: every answer carries its pod and a random request id. */
  const pod = (name: string, version: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = JSON.stringify({ pod: name, requestId: Math.random().toString(36).slice(2), version: "same", greeting: req.url === "/differs" && version === "v2" ? "hi" : "hello" });
    res.writeHead(200, { "content-type": "application/json", "x-pod": name });
    res.end(body);
  };

  beforeAll(async () => {
    podA = await startUpstream("pod-a", pod("pod-a", "v1"));
    podB = await startUpstream("pod-b", pod("pod-b", "v1"));
    podV2 = await startUpstream("pod-v2", pod("pod-v2", "v2"));
    p = await startProxy(
      configText({
        vs: `  hosts: ["*"]\n  http:\n${routeTo("hostname", "/", "v2")}\n`,
        upstreams: { "app/v1": `[${podA.url}, ${podB.url}]`, "app/v2": podV2.url },
        proxy: `  compare:\n    routes: [hostname]\n    headers: ["*"]\n    noise: { samplePercent: 50, minSamples: 3 }\n`,
      }),
    );
  });
  afterAll(async () => {
    await p.close();
    await Promise.all([podA, podB, podV2].map((u) => u.close()));
  });

  test("a list of upstream URLs is taken round-robin", async () => {
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push((await request(p.port, { path: "/rr", headers: { host: "h" } })).headers["x-pod"]);
    expect(seen).toEqual(["pod-a", "pod-b", "pod-a", "pod-b"]);
    await settle(p, "app/hostname", 4);
  });

  test("pod names, request ids and x-pod are learned from two v1 answers and never reported; a real difference still is", async () => {
    const N = 40;
    const start = await done(p, "app/hostname");
    await many(N, 1, () => request(p.port, { path: "/same", headers: { host: "h" } }));
    await settle(p, "app/hostname", start + N);
    let r = await report(p);
    const t = r.routes["app/hostname"];
    // Warm-up: the first GETs (each gets a noise copy until 3 pairs) are skipped, then compared.
    const warmup = t.skipped.noise_warmup;
    expect(Object.keys(t.skipped)).toEqual(["noise_warmup"]);
    expect(warmup).toBeGreaterThanOrEqual(2); // pairs 1 and 2; the 3rd request's own pair may end the warm-up
    expect(warmup).toBeLessThanOrEqual(4);
    expect(t.mismatch).toBe(0);
    expect(t.match).toBe(start + N - warmup);
    const learned = r.noise!.routes["app/hostname"].learned.map((l) => l.path).sort();
    expect(learned).toEqual(["$.pod", "$.requestId", "headers.x-pod"]);
    expect(r.noise!.routes["app/hostname"].pairs).toBeGreaterThanOrEqual(3);

    // The noise copies went to the other v1 pod, marked like a copy.
    const marked = [...podA.seen, ...podB.seen].filter((s) => s.headers["x-mirror-shadow"] === "true");
    expect(marked.length).toBeGreaterThanOrEqual(3);
    expect(marked.every((s) => s.headers.host === "h-shadow")).toBe(true);

    await request(p.port, { path: "/differs", headers: { host: "h" } });
    await settle(p, "app/hostname", start + N + 1);
    r = await report(p);
    expect(r.lastMismatches[0].differences).toEqual([{ path: "$.greeting", kind: "changed", primary: "hello", shadow: "hi" }]);
    // POST never gets a second primary copy (it would repeat a side effect).
    const before = podA.seen.length + podB.seen.length;
    await request(p.port, { method: "POST", path: "/same", headers: { host: "h" }, body: "{}" });
    await settle(p, "app/hostname", start + N + 2);
    expect(podA.seen.length + podB.seen.length).toBe(before + 1);
  });
});

describe("the README example against the demo services", () => {
  test("movies v2's rating and year are reported; hostname's pod names are learned as noise", async () => {
    const quiet = () => undefined;
    const servers = await Promise.all([
      startMoviesServer({ port: 0, version: "v1", log: quiet }),
      startMoviesServer({ port: 0, version: "v2", log: quiet }),
      startHostnameServer({ port: 0, version: "v1", podName: "hostname-v1-a", log: quiet }),
      startHostnameServer({ port: 0, version: "v2", podName: "hostname-v2-c", log: quiet }),
      startHostnameServer({ port: 0, version: "v1", podName: "hostname-v1-b", log: quiet }),
    ]);
    let yaml = readFileSync(join(__dirname, "../../workloads/mirror-proxy/examples/routing.yaml"), "utf8");
    servers.forEach((s, i) => (yaml = yaml.replace(`http://127.0.0.1:${9001 + i}`, s.url)));
    const p = await startProxy(yaml);
    try {
      for (let i = 0; i < 20; i++) {
        await request(p.port, { path: "/" });
        await request(p.port, { path: "/version/", headers: { host: "hostname.example.com", cookie: "user=test" } });
      }
      await settle(p, "movies/primary", 20);
      await settle(p, "hostname/test-users", 20);
      const r = await report(p);
      expect(r.routes["movies/primary"].mismatch).toBe(r.routes["movies/primary"].compared);
      expect(r.routes["movies/primary"].topDifferences.map((d) => d.path)).toEqual(["$[*].rating", "$[*].year"]);
      expect(r.lastMismatches[0].differences).toContainEqual({ path: "$[3].year", kind: "changed", primary: 1999, shadow: 2000 });
      const h = r.routes["hostname/test-users"];
      // Warm-up: minSamples (5) pairs; the 5th request's own pair usually ends it (a comparison
      // still running when the next request starts may add one).
      expect(Object.keys(h.skipped)).toEqual(["noise_warmup"]);
      expect(h.skipped.noise_warmup).toBeGreaterThanOrEqual(4);
      expect(h.skipped.noise_warmup).toBeLessThanOrEqual(8);
      expect(h).toMatchObject({ mismatch: 0, match: 20 - h.skipped.noise_warmup });
      expect(r.noise!.routes["hostname/test-users"].learned.map((l) => l.path)).toEqual(["body"]);
      expect(p.compareReport()!.summaryLine()).toMatch(/^\d+ compared, \d+ differ \(\d+\.\d %\), top differences: \$\[\*\]\.rating \(\d+\), \$\[\*\]\.year \(\d+\); \d+ skipped \(noise_warmup \d+\); noise learned: body$/);
    } finally {
      await p.close();
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});

describe("reload", () => {
  test("same compare block: noise and report kept; changed block: fresh; no block: /compare is 404", async () => {
    const v1b = await startUpstream("v1", api("v1"));
    const cfg = (compare: string) => configText({ vs: `  hosts: ["*"]\n  http:\n${routeTo("all", "/", "v2")}\n`, upstreams: { "app/v1": v1b.url, "app/v2": v2.url }, proxy: compare });
    const p = await startProxy(cfg(COMPARE));
    try {
      await request(p.port, { path: "/field", headers: { host: "h" } });
      await settle(p, "app/all", 1);
      p.reload(parseMirrorProxyConfig(cfg(COMPARE)));
      expect((await report(p)).totals.mismatch).toBe(1);
      p.reload(parseMirrorProxyConfig(cfg(COMPARE.replace("lastMismatches: 10", "lastMismatches: 11"))));
      expect((await report(p)).totals.compared).toBe(0);
      p.reload(parseMirrorProxyConfig(cfg("")));
      const off = await request(p.adminPort, { path: "/compare" });
      expect(off.status).toBe(404);
      expect(off.body).toMatch(/comparison is off/);
      expect(p.compareReport()).toBeUndefined();
    } finally {
      await p.close();
      await v1b.close();
    }
  });
});

describe("config", () => {
  const problems = (compare: string, upstreams: Record<string, string> = { "app/v1": "http://127.0.0.1:1", "app/v2": "http://127.0.0.1:2" }) => {
    try {
      parseMirrorProxyConfig(configText({ vs: `  hosts: ["*"]\n  http:\n${routeTo("all", "/", "v2")}\n    - name: plain\n      route: [{ destination: { host: app, subset: v1 } }]\n`, upstreams, proxy: compare }));
      return [];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.problems.map(formatProblem);
    }
  };

  test("bad compare blocks name the field, in the same list as other problems", () => {
    expect(problems("  compare:\n    maxBodyBytes: -1\n    noise: { samplePercent: 200 }\n    ignorePaths: [x]\n    header: [etag]\n")).toEqual([
      "MirrorProxy: spec.compare.ignorePaths[0]: not a supported JSON path: must start with $ at position 0 (got x)",
      "MirrorProxy: spec.compare.maxBodyBytes: must be at least 0 (got -1)",
      "MirrorProxy: spec.compare.noise.samplePercent: must be between 0 and 100 (got 200)",
      "MirrorProxy: spec.compare.header: unknown field (got [\"etag\"])",
    ]);
    expect(problems("  compare:\n    routes: [plain, nope]\n")).toEqual([
      "MirrorProxy: spec.compare.routes[0]: this route does not mirror, so there is nothing to compare (got plain)",
      "MirrorProxy: spec.compare.routes[1]: no HTTPRoute has this name (use a route name, <VirtualService>/<name or index>, or *) (got nope)",
    ]);
    // `headers` is a compare field here, not Istio's header manipulation.
    expect(problems("  compare:\n    headers: [ETag]\n")).toEqual(["MirrorProxy: spec.compare.headers[0]: must be a lower-case header name (got ETag)"]);
    // Problems elsewhere in the MirrorProxy document do not hide the compare block's.
    expect(problems("  bogus: 1\n  compare: { maxInFlight: x }\n")).toEqual(["MirrorProxy: spec.bogus: unknown field (got 1)", "MirrorProxy: spec.compare.maxInFlight: must be a number (got x)"]);
    expect(problems("  compare: {}\n")).toEqual([]);
  });

  test("an upstream may be a list of URLs, each validated", () => {
    expect(problems("", { "app/v1": "[http://127.0.0.1:1, ftp://x, nope]", "app/v2": "http://127.0.0.1:2" })).toEqual([
      "MirrorProxy: spec.upstreams.app/v1[1]: only http:// and https:// upstreams are supported (got ftp://x)",
      "MirrorProxy: spec.upstreams.app/v1[2]: must be an absolute URL like http://10.0.0.1:8080 (got nope)",
    ]);
    expect(problems("", { "app/v1": "http://127.0.0.1:1", "app/v2": "[]" })).toEqual(["MirrorProxy: spec.upstreams.app/v2: must list at least one URL (got [])"]);
    expect(problems("", { "app/v1": "http://127.0.0.1:1", "app/v2": "7" })).toEqual(["MirrorProxy: spec.upstreams.app/v2: must be a URL or a list of URLs (got 7)"]);
    expect(problems("", { "app/v1": "[http://127.0.0.1:1, http://127.0.0.1:3]", "app/v2": "http://127.0.0.1:2" })).toEqual([]);
  });
});
