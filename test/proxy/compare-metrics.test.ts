/**
 * The comparison as Prometheus metrics (issue 11, part 1), scraped from a real proxy's
 * admin /metrics: every series of a compared route exists at 0 before traffic; mirrored,
 * compared, differing (net of noise), skipped by reason, shadow errors and the latency
 * delta count what happened; and /compare/stats (the mergeable form) says the same.
 */
import http from "node:http";
import type { CompareStats } from "../../workloads/mirror-proxy/src/compare/stats.ts";
import { SKIP_REASONS } from "../../workloads/mirror-proxy/src/compare/report.ts";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { closedPort, configText, DR, metric, metricsText, request, startProxy, startUpstream, waitFor, type Upstream } from "./helpers.ts";

function api(version: "v1" | "v2") {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    const differs = version === "v2" && path.startsWith("/diff");
    const status = version === "v2" && path.startsWith("/err") ? 500 : 200;
    const body = JSON.stringify({ id: 7, value: differs ? "new" : "old" });
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
}

let v1: Upstream;
let v2: Upstream;
let proxy: MirrorProxy;

beforeAll(async () => {
  v1 = await startUpstream("v1", api("v1"));
  v2 = await startUpstream("v2", api("v2"));
  const down = await closedPort();
  proxy = await startProxy(
    configText({
      vs: `  hosts: ["*"]
  http:
    - name: down
      match: [{ uri: { prefix: /down } }]
      route: [{ destination: { host: app, subset: v1 } }]
      mirror: { host: app, subset: down }
    - name: all
      route: [{ destination: { host: app, subset: v1 } }]
      mirror: { host: app, subset: v2 }
`,
      drs: DR("app", "app", ["v1", "v2", "down"]),
      upstreams: { "app/v1": v1.url, "app/v2": v2.url, "app/down": `http://127.0.0.1:${down}` },
      proxy: `  compare: { routes: ["*"] }\n`,
    }),
    { replica: "proxy-a" },
  );
});

afterAll(async () => {
  await proxy.close();
  await Promise.all([v1.close(), v2.close()]);
});

const m = (name: string, labels: Record<string, string>) => metric(proxy, `mirror_proxy_compare_${name}`, labels);
const settled = async (route: string) => (await m("compared_total", { route })) + (await m("skipped_total", { route })) === (await m("mirrored_total", { route }));

test("every series of a compared route exists at 0 before any traffic", async () => {
  const text = await metricsText(proxy);
  for (const route of ["app/all", "app/down"]) {
    for (const name of ["mirrored_total", "compared_total", "differing_total", "shadow_errors_total"]) {
      expect(text).toContain(`mirror_proxy_compare_${name}{route="${route}"} 0`);
    }
    for (const reason of SKIP_REASONS) expect(text).toContain(`mirror_proxy_compare_skipped_total{route="${route}",reason="${reason}"} 0`);
    expect(text).toContain(`mirror_proxy_compare_latency_delta_seconds_count{route="${route}"} 0`);
  }
  // The old one-counter form is gone: one metric per thing counted, as Prometheus' naming asks.
  expect(text).not.toMatch(/^mirror_proxy_compare_total/m);
});

test("mirrored, compared, differing, skipped, shadow errors and latency delta count what happened; /compare/stats agrees", async () => {
  const send = (path: string) => request(proxy.port, { path, headers: { host: "h" } });
  for (let i = 0; i < 10; i++) expect((await send(`/same/${i}`)).status).toBe(200);
  for (let i = 0; i < 5; i++) expect((await send(`/diff/${i}`)).status).toBe(200);
  for (let i = 0; i < 3; i++) expect((await send(`/err/${i}`)).status).toBe(200); // v1's 200 reaches the client
  for (let i = 0; i < 4; i++) expect((await send(`/down/${i}`)).status).toBe(200);
  await waitFor(async () => (await m("mirrored_total", { route: "app/all" })) === 18 && (await settled("app/all")) && (await m("mirrored_total", { route: "app/down" })) === 4 && (await settled("app/down")), 5000, "every copy compared or skipped");

  expect(await m("compared_total", { route: "app/all" })).toBe(18);
  expect(await m("differing_total", { route: "app/all" })).toBe(8); // 5 changed values + 3 changed statuses
  expect(await m("shadow_errors_total", { route: "app/all" })).toBe(3); // the 500s
  expect(await m("latency_delta_seconds_count", { route: "app/all" })).toBe(18);
  // A shadow that is down: every copy skipped (shadow_failed) and counted as a shadow error.
  expect(await m("compared_total", { route: "app/down" })).toBe(0);
  expect(await m("skipped_total", { route: "app/down", reason: "shadow_failed" })).toBe(4);
  expect(await m("shadow_errors_total", { route: "app/down" })).toBe(4);

  const reply = await request(proxy.adminPort, { path: "/compare/stats" });
  expect(reply.status).toBe(200);
  const stats = JSON.parse(reply.body) as CompareStats;
  expect(stats.replicas).toEqual(["proxy-a"]);
  for (const route of ["app/all", "app/down"]) {
    const r = stats.routes[route];
    expect(r.mirrored).toBe(await m("mirrored_total", { route }));
    expect(r.compared).toBe(await m("compared_total", { route }));
    expect(r.differing).toBe(await m("differing_total", { route }));
    expect(r.shadowErrors).toBe(await m("shadow_errors_total", { route }));
    for (const reason of SKIP_REASONS) expect(r.skipped[reason] ?? 0).toBe(await m("skipped_total", { route, reason }));
    expect(r.latencyDelta.count).toBe(await m("latency_delta_seconds_count", { route }));
    // Per-bucket counts in /compare/stats, cumulative in Prometheus: the same histogram.
    let cumulative = 0;
    for (const [i, le] of stats.latencyDeltaBuckets.entries()) {
      cumulative += r.latencyDelta.counts[i];
      expect(await m("latency_delta_seconds_bucket", { route, le: String(le) })).toBe(cumulative);
    }
  }
  const all = stats.routes["app/all"];
  expect(all.topDifferences.map((p) => [p.path, p.count])).toEqual([["$.value", 5], ["status", 3]]);
  expect(all.topDifferences[0].example).toMatchObject({ request: expect.stringMatching(/^GET \/diff\/\d$/), difference: { path: "$.value", kind: "changed", primary: "old", shadow: "new" } });
  expect(all.lastMismatch?.differences.length).toBeGreaterThan(0);
});
