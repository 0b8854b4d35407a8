/**
 * The proxy fed the HTTPRoutes the stack renders for mesh gateway-api passes the same local
 * checks as when fed the VirtualServices of proxy mode: the cookie selects the copies, a
 * percentage lands within binomial bounds, and slow or dead shadows never hold or fail v1.
 * Real sockets: the demo apps' versions are echo servers on 127.0.0.1.
 */
import { stringify } from "yaml";
import { App, Version } from "../../../components/apps";
import { parseStackConfig } from "../../../components/config";
import { renderGatewayApiProxyDocuments } from "../../../components/gatewayApi";
import { renderMirrorProxyDocuments, UpstreamLocator } from "../../../components/proxyConfig";
import { binomialAcceptance } from "../../../local/lib/stats.ts";
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { closedPort, expectNotHeldBySlowShadow, many, request, startProxy, startUpstream, waitFor, type Upstream } from "../helpers.ts";

type Render = (input: { config: ReturnType<typeof parseStackConfig>; upstreams: UpstreamLocator; ports?: { listen: number; admin: number } }) => object[];
const FORMATS: Array<[string, Render]> = [
  ["VirtualServices (mesh proxy)", renderMirrorProxyDocuments],
  ["HTTPRoutes (mesh gateway-api)", renderGatewayApiProxyDocuments],
];

const yamlOf = (docs: object[]) => docs.map((d) => `---\n${stringify(d)}`).join("");

describe.each(FORMATS)("the proxy fed the rendered %s", (_format, render) => {
  const ups = new Map<string, Upstream>();
  let proxy: MirrorProxy | undefined;

  beforeAll(async () => {
    for (const name of ["hostname-v1", "hostname-v2", "movies-v1", "movies-v2", "slow-v2"]) {
      ups.set(name, await startUpstream(name, name === "slow-v2" ? { delayMs: 200 } : "ok"));
    }
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    for (const u of ups.values()) u.seen.length = 0;
  });
  afterAll(async () => {
    await Promise.all([...ups.values()].map((u) => u.close()));
  });

  async function start(raw: Record<string, string>, v2Of: (app: App) => string = (app) => ups.get(`${app.name}-v2`)!.url): Promise<MirrorProxy> {
    const locate: UpstreamLocator = (app: App, version: Version) => (version === "v1" ? ups.get(`${app.name}-v1`)!.url : v2Of(app));
    const docs = render({ config: parseStackConfig(raw), upstreams: locate, ports: { listen: 0, admin: 0 } });
    proxy = await startProxy(yamlOf(docs));
    return proxy;
  }
  const hostnameGet = (p: MirrorProxy, cookie?: string) =>
    request(p.port, { path: "/version/", headers: { host: "hostname.example.com", ...(cookie ? { cookie } : {}) } });

  /** Resolves once `count()` has not changed for 200 ms. */
  async function settled(count: () => number): Promise<number> {
    let last = -1;
    let since = Date.now();
    await waitFor(() => {
      const now = count();
      if (now !== last) [last, since] = [now, Date.now()];
      return Date.now() - since >= 200;
    }, 10_000, "copies to settle");
    return last;
  }

  test("hostname: only the request with the cookie user=test reaches v2, with the shadow Host", async () => {
    const p = await start({});
    const plain = await hostnameGet(p);
    const opted = await hostnameGet(p, "theme=dark; user=test");
    const other = await hostnameGet(p, "user=testing");
    expect([plain, opted, other].map((r) => [r.status, r.headers["x-upstream"]])).toEqual([
      [200, "hostname-v1"],
      [200, "hostname-v1"],
      [200, "hostname-v1"],
    ]);
    await settled(() => ups.get("hostname-v2")!.seen.length);
    expect(ups.get("hostname-v2")!.seen.map((s) => [s.url, s.headers.host, s.headers.cookie])).toEqual([
      ["/version/", "hostname.example.com-shadow", "theme=dark; user=test"],
    ]);
  });

  test("movies at mirrorPercent 30: the copies within exact binomial bounds (400 requests)", async () => {
    const p = await start({ mirrorPercent: "30" });
    const n = 400;
    const replies = await many(n, 10, () => request(p.port, { path: "/", headers: { host: "anything.example" } }));
    expect(replies.every((r) => r.status === 200 && r.headers["x-upstream"] === "movies-v1")).toBe(true);
    const copies = await settled(() => ups.get("movies-v2")!.seen.length);
    const { low, high } = binomialAcceptance(n, 30, 1e-6);
    expect(copies).toBeGreaterThanOrEqual(low);
    expect(copies).toBeLessThanOrEqual(high);
  });

  test("mirrorPercent 0.5 (a fraction in HTTPRoute form): within binomial bounds", async () => {
    const p = await start({ mirrorPercent: "0.5" });
    const n = 600;
    await many(n, 10, () => request(p.port, { path: "/", headers: { host: "x" } }));
    const copies = await settled(() => ups.get("movies-v2")!.seen.length);
    const { low, high } = binomialAcceptance(n, 0.5, 1e-6);
    expect(copies).toBeGreaterThanOrEqual(low);
    expect(copies).toBeLessThanOrEqual(high);
  });

  test("a slow shadow (200 ms) never holds the primary", async () => {
    const p = await start({}, () => ups.get("slow-v2")!.url);
    const replies = await many(40, 4, () => request(p.port, { path: "/", headers: { host: "x" } }));
    expectNotHeldBySlowShadow(replies);
    await waitFor(() => ups.get("slow-v2")!.seen.length === 40, 5000, "the slow copies");
  });

  test("a dead shadow (connection refused) never fails the primary", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const p = await start({}, () => dead);
    const replies = await many(40, 4, () => request(p.port, { path: "/", headers: { host: "x" } }));
    expect(replies.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(ups.get("movies-v1")!.seen).toHaveLength(40);
  });
});
