/** Mirroring and its guarantees, over real sockets. */
import { randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { parseMirrorProxyConfig } from "../../workloads/mirror-proxy/src/config.ts";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { closedPort, configText, DR, many, metric, request, sha256, startProxy, startUpstream, waitFor, type Upstream, expectNotHeldBySlowShadow } from "./helpers.ts";

let primary: Upstream;
let fast: Upstream;
let fast2: Upstream;
let slow: Upstream;
let hang: Upstream;
let deadPort: number;
let proxy: MirrorProxy;
let text: string;

const CAP = 65536;
const MAX_IN_FLIGHT = 20;

const route = (prefix: string, mirror: string) => `    - match: [{ uri: { prefix: ${prefix} } }]
      route: [{ destination: { host: app, subset: v1 } }]
${mirror}`;

beforeAll(async () => {
  primary = await startUpstream("primary");
  fast = await startUpstream("fast");
  fast2 = await startUpstream("fast2");
  slow = await startUpstream("slow", { delayMs: 200 });
  hang = await startUpstream("hang", "hang");
  deadPort = await closedPort();
  text = configText({
    vs: `  hosts: ["*"]
  http:
${route("/copy", "      mirror: { host: app, subset: fast }\n")}
${route("/p30", "      mirror: { host: app, subset: fast }\n      mirrorPercentage: { value: 30 }\n")}
${route("/pint", "      mirror: { host: app, subset: fast }\n      mirrorPercent: 50\n")}
${route("/multi", "      mirrors:\n        - { destination: { host: app, subset: fast }, percentage: { value: 20 } }\n        - { destination: { host: app, subset: fast2 }, percentage: { value: 60.5 } }\n")}
${route("/slowshadow", "      mirror: { host: app, subset: slow }\n")}
${route("/hang", "      mirror: { host: app, subset: hang }\n")}
${route("/closed", "      mirror: { host: app, subset: dead }\n")}
${route("/plain", "")}
`,
    drs: DR("app", "app", ["v1", "fast", "fast2", "slow", "hang", "dead"]),
    upstreams: { "app/v1": primary.url, "app/fast": fast.url, "app/fast2": fast2.url, "app/slow": slow.url, "app/hang": hang.url, "app/dead": `http://127.0.0.1:${deadPort}` },
    proxy: `  maxShadowInFlight: 1000\n  maxMirrorBodyBytes: ${CAP}\n  shadowTimeoutMs: 400\n`,
  });
  proxy = await startProxy(text, { shadowDownBackoffMs: 300 });
});

afterAll(async () => {
  await proxy.close();
  await Promise.all([primary, fast, fast2, slow, hang].map((u) => u.close()));
});

const settled = () => waitFor(async () => (await metric(proxy, "mirror_proxy_shadow_in_flight")) === 0, 5000, "shadow copies to settle");

function reset(): void {
  for (const u of [primary, fast, fast2, slow]) u.seen.length = 0;
}

describe("the copy", () => {
  test("same method, path, query, headers and body; Host suffixed before the port; x-mirror-shadow; primary answer only", async () => {
    reset();
    const body = randomBytes(5000);
    const r = await request(proxy.port, { method: "POST", path: "/copy/a?b=c&d", headers: { host: "svc.example:8080", "x-custom": "1", "content-type": "application/octet-stream" }, body });
    expect(r.status).toBe(200);
    expect(r.body).toBe("primary POST /copy/a?b=c&d");
    await waitFor(() => fast.seen.length === 1);
    const [p, c] = [primary.seen[0], fast.seen[0]];
    expect(c.method).toBe("POST");
    expect(c.url).toBe("/copy/a?b=c&d");
    expect(c.sha256).toBe(sha256(body));
    expect(p.sha256).toBe(sha256(body));
    expect(c.headers.host).toBe("svc.example-shadow:8080");
    expect(p.headers.host).toBe("svc.example:8080");
    expect(c.headers["x-mirror-shadow"]).toBe("true");
    expect(p.headers["x-mirror-shadow"]).toBeUndefined();
    expect(c.headers["x-custom"]).toBe("1");
    expect(c.headers["content-type"]).toBe("application/octet-stream");
    expect(c.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(await metric(proxy, "mirror_proxy_mirror_copies_sent_total", { upstream: "app/fast" })).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await metric(proxy, "mirror_proxy_shadow_responses_total", { upstream: "app/fast", code_class: "2xx" })) >= 1);
  });

  test("a chunked body of unknown length is mirrored whole", async () => {
    reset();
    const body = randomBytes(20000);
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: proxy.port, method: "PUT", path: "/copy/chunked", headers: { host: "h" } }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.write(body.subarray(0, 7000));
      setImmediate(() => req.end(body.subarray(7000)));
    });
    await waitFor(() => fast.seen.length === 1);
    expect(primary.seen[0].sha256).toBe(sha256(body));
    expect(fast.seen[0].sha256).toBe(sha256(body));
    expect(fast.seen[0].headers["content-length"]).toBe("20000");
  });
});

describe("sampling, each mirror independently (5 sigma over a few thousand requests)", () => {
  const within5Sigma = (count: number, n: number, p: number) => {
    const sigma = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(count - n * p)).toBeLessThan(5 * sigma);
  };

  test("mirrorPercentage 30 and the deprecated mirrorPercent 50", async () => {
    reset();
    const n = 3000;
    await many(n, 32, () => request(proxy.port, { path: "/p30", headers: { host: "h" } }));
    await settled();
    within5Sigma(fast.seen.length, n, 0.3);
    reset();
    await many(n, 32, () => request(proxy.port, { path: "/pint", headers: { host: "h" } }));
    await settled();
    within5Sigma(fast.seen.length, n, 0.5);
  });

  test("mirrors[] with 20 % and 60.5 %, sampled independently", async () => {
    reset();
    const n = 4000;
    await many(n, 32, (i) => request(proxy.port, { path: `/multi/${i}`, headers: { host: "h" } }));
    await settled();
    within5Sigma(fast.seen.length, n, 0.2);
    within5Sigma(fast2.seen.length, n, 0.605);
    const a = new Set(fast.seen.map((s) => s.url));
    const both = fast2.seen.filter((s) => a.has(s.url)).length;
    within5Sigma(both, n, 0.2 * 0.605); // independence: P(both) = P(a) * P(b)
  });
});

describe("a bad shadow never hurts the primary", () => {
  test("a 200 ms shadow: every primary answers well before the shadow does", async () => {
    const replies = await many(300, 10, () => request(proxy.port, { path: "/slowshadow", headers: { host: "h" } }));
    expectNotHeldBySlowShadow(replies);
    await waitFor(async () => (await metric(proxy, "mirror_proxy_shadow_duration_seconds_count", { upstream: "app/slow" })) === 300 - (await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/slow" })), 5000, "slow copies");
    await settled();
  });

  test("a hanging shadow: copies bounded by maxShadowInFlight, dropped beyond, timed out, primary unaffected", async () => {
    const bounded = await startProxy(text.replace("maxShadowInFlight: 1000", `maxShadowInFlight: ${MAX_IN_FLIGHT}`));
    try {
      await hanging(bounded);
    } finally {
      await bounded.close();
    }
  });

  async function hanging(proxy: MirrorProxy): Promise<void> {
    const settled = () => waitFor(async () => (await metric(proxy, "mirror_proxy_shadow_in_flight")) === 0, 5000, "shadow copies to settle");
    let peak = 0;
    const replies = await many(400, 16, async (i) => {
      const r = await request(proxy.port, { path: `/hang/${i}`, headers: { host: "h" } });
      if (i % 20 === 0) peak = Math.max(peak, await metric(proxy, "mirror_proxy_shadow_in_flight"));
      return r;
    });
    expect(replies.every((r) => r.status === 200 && r.ms < 300)).toBe(true);
    expect(peak).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(hang.arrived).toBeLessThanOrEqual(400);
    expect(await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/hang", reason: "in_flight_limit" })).toBeGreaterThan(0);
    await waitFor(async () => (await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/hang", reason: "timeout" })) >= MAX_IN_FLIGHT, 3000, "timeouts");
    await settled();
    const sent = await metric(proxy, "mirror_proxy_mirror_copies_sent_total", { upstream: "app/hang" });
    const timeouts = await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/hang", reason: "timeout" });
    const limited = await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/hang", reason: "in_flight_limit" });
    expect(sent).toBe(timeouts); // no retries: each sent copy ends exactly once
    expect(sent + limited).toBe(400);
  }

  test("a closed shadow port: detected, skipped for the back-off, counted; recovers when it comes back", async () => {
    const replies = await many(500, 10, () => request(proxy.port, { path: "/closed", headers: { host: "h" } }));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const failed = await metric(proxy, "mirror_proxy_mirror_copies_failed_total", { upstream: "app/dead", reason: "connect" });
    const down = await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/dead", reason: "shadow_down" });
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(failed + down).toBe(500);
    expect(down).toBeGreaterThan(400); // the failed connect is not paid on every request

    // The shadow comes back on the same port: after the back-off one copy probes, then copies flow.
    const revived = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    await new Promise<void>((r) => revived.listen(deadPort, "127.0.0.1", r));
    try {
      await waitFor(async () => {
        await request(proxy.port, { path: "/closed", headers: { host: "h" } });
        return (await metric(proxy, "mirror_proxy_shadow_responses_total", { upstream: "app/dead", code_class: "2xx" })) >= 1;
      }, 5000, "the shadow to be used again");
    } finally {
      revived.closeAllConnections();
      await new Promise((r) => revived.close(r));
    }
  });
});

describe("bodies and the mirror cap", () => {
  test.each([
    ["below the cap", CAP - 1, true, true],
    ["at the cap", CAP, true, true],
    ["above the cap, Content-Length", CAP + 1, true, false],
    ["well above the cap, chunked", 5 * CAP, false, false],
  ])("%s", async (_name, size, sized, mirrored) => {
    reset();
    const before = await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/fast", reason: "body_too_large" });
    const body = randomBytes(size);
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: proxy.port, method: "POST", path: "/copy/body", headers: { host: "h", ...(sized ? { "content-length": String(size) } : {}) } }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      // several writes, so the tee really sees several chunks
      for (let off = 0; off < size; off += 16384) req.write(body.subarray(off, off + 16384));
      req.end();
    });
    expect(primary.seen[0].sha256).toBe(sha256(body));
    if (mirrored) {
      await waitFor(() => fast.seen.length === 1);
      expect(fast.seen[0].sha256).toBe(sha256(body));
    } else {
      await waitFor(async () => (await metric(proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "app/fast", reason: "body_too_large" })) === before + 1);
      await settled();
      expect(fast.seen).toHaveLength(0);
    }
  });

  test("a client aborting mid-body: the primary request is cut, no copy is sent, the proxy keeps serving", async () => {
    reset();
    const arrivedBefore = primary.arrived;
    const abortsBefore = await metric(proxy, "mirror_proxy_client_aborts_total");
    const s = net.connect(proxy.port, "127.0.0.1");
    await new Promise((r) => s.once("connect", r));
    s.write("POST /copy/abort HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(1000));
    await waitFor(() => primary.arrived === arrivedBefore + 1, 5000, "the primary to see the request");
    s.destroy();
    await waitFor(async () => (await metric(proxy, "mirror_proxy_client_aborts_total")) === abortsBefore + 1, 5000, "the abort to be counted");
    await waitFor(async () => (await metric(proxy, "mirror_proxy_requests_in_flight")) === 0);
    expect(primary.seen).toHaveLength(0); // its body never completed
    expect(fast.seen).toHaveLength(0);
    expect((await request(proxy.port, { path: "/plain", headers: { host: "h" } })).status).toBe(200);
  });
});

test("reload: swaps routing atomically (here: shadowHostSuffix \"\"), keeps serving, keeps the header", async () => {
  reset();
  proxy.reload(parseMirrorProxyConfig(text.replace("  maxShadowInFlight", '  shadowHostSuffix: ""\n  maxShadowInFlight')));
  await request(proxy.port, { path: "/copy/x", headers: { host: "svc.example" } });
  await waitFor(() => fast.seen.length === 1);
  expect(fast.seen[0].headers.host).toBe("svc.example");
  expect(fast.seen[0].headers["x-mirror-shadow"]).toBe("true");
  expect(await metric(proxy, "mirror_proxy_config_reloads_total", { result: "success" })).toBe(1);
});
