/**
 * The set-up both conformance-style suites share: the manifest helpers, three echo backends
 * `infra-backend-v1..v3` (as in kubernetes-sigs/gateway-api's conformance infra), one proxy
 * fed the suite's HTTPRoutes, and the request helpers the tests use.
 */
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { request, startProxy, startUpstream, waitFor, type Upstream } from "../helpers.ts";

export const route = (name: string, host: string, rules: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: gateway-conformance-infra }
spec:
  parentRefs: [{ name: same-namespace }]
  hostnames: [${host}]
  rules:
${rules}`;

export const backend = (n: number, extra = "") => `{ name: infra-backend-v${n}, port: 8080${extra} }`;

export interface Backends {
  v1: Upstream;
  v2: Upstream;
  v3: Upstream;
}

/** Registers beforeAll/afterAll that start (and stop) the backends and a proxy serving `manifests`. */
export function useConformanceProxy(manifests: string[]) {
  const backends = {} as Backends;
  let proxy: MirrorProxy;

  beforeAll(async () => {
    backends.v1 = await startUpstream("infra-backend-v1");
    backends.v2 = await startUpstream("infra-backend-v2");
    backends.v3 = await startUpstream("infra-backend-v3");
    const proxyDoc = `apiVersion: traffic-mirroring/v1
kind: MirrorProxy
spec:
  maxShadowInFlight: 1000
  upstreams:
    "infra-backend-v1:8080": ${backends.v1.url}
    "infra-backend-v2:8080": ${backends.v2.url}
    "infra-backend-v3:8080": ${backends.v3.url}
`;
    proxy = await startProxy([...manifests, proxyDoc].join("\n---\n"));
  });

  afterAll(async () => {
    await proxy?.close();
    await Promise.all([backends.v1, backends.v2, backends.v3].map((u) => u?.close()));
  });

  const get = (host: string, path: string, headers: Record<string, string> = {}, method = "GET") =>
    request(proxy.port, { method, path, headers: { host, ...headers } });
  /** Which backend answered (the echo servers answer `<name> <method> <url>`). */
  const servedBy = async (host: string, path: string, headers: Record<string, string> = {}, method = "GET") => {
    const r = await get(host, path, headers, method);
    return r.status === 200 ? String(r.headers["x-upstream"]) : r.status;
  };
  const reset = () => [backends.v1, backends.v2, backends.v3].forEach((u) => (u.seen.length = 0));

  /** Resolves once `count()` has not changed for `quietMs` (copies still in flight have landed). */
  async function settled(count: () => number, quietMs = 200): Promise<void> {
    let last = -1;
    let since = Date.now();
    await waitFor(() => {
      const now = count();
      if (now !== last) {
        last = now;
        since = Date.now();
      }
      return Date.now() - since >= quietMs;
    }, 10_000, "copies to settle");
  }

  return { backends, get, servedBy, reset, settled };
}
