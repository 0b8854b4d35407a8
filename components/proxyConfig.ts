// Proxy mode's routing file: the very VirtualService and DestinationRule
// objects Istio mode applies (same pure function), plus the MirrorProxy
// document saying where each host/subset lives. Pure: the Pulumi component
// puts it in a ConfigMap, the local stack writes it next to 127.0.0.1 ports.
import { stringify } from "yaml";
import { App, VERSIONS, Version } from "./apps";
import { StackConfig } from "./config";
import { buildStackRoutings, serviceFqdn, upstreamKey, versionDestination } from "./routing";

export const PROXY_API_VERSION = "traffic-mirroring/v1";
/** The proxy's name: its Deployment, Service and ConfigMap, and its MirrorProxy document. */
export const PROXY_NAME = "mirror-proxy";
/** Ports of the proxy container: traffic, and admin (metrics, probes). */
export const PROXY_PORTS = { listen: 8080, admin: 9901 };
/** Shadow settings the stack renders (the proxy's documented defaults). */
export const PROXY_SHADOW_DEFAULTS = {
  shadowHostSuffix: "-shadow",
  maxShadowInFlight: 256,
  maxMirrorBodyBytes: 1048576,
  shadowTimeoutMs: 5000,
};

/** Base URL(s) of one version of an app; several are used round-robin. */
export type UpstreamLocator = (app: App, version: Version) => string | string[];

/**
 * Comparison settings the stack renders: v1's own pod-to-pod differences
 * (names, ids) are learned as noise from a 10 % sample of second v1 copies.
 */
export const COMPARE_NOISE = { samplePercent: 10, minSamples: 5 };

/** v1 replicas an app needs: two when compared, so noise can be learned between pods. */
export function primaryReplicas(compare: boolean): number {
  return compare ? 2 : 1;
}

/**
 * In the cluster: the headless per-version Services `<app>-v1`, `<app>-v2` at the pods'
 * port (a headless Service has no virtual IP to map its port); the proxy resolves each
 * name to all its pods (workloads/mirror-proxy/src/members.ts).
 */
export function inClusterUpstreams(namespace: string): UpstreamLocator {
  return (app, version) => `http://${serviceFqdn(`${app.name}-${version}`, namespace)}:${app.containerPort}`;
}

export interface ProxyConfigInput {
  /** The namespace and the apps to route (a whole stack config, or `{ namespace, apps }` of a program of your own). */
  config: Pick<StackConfig, "namespace" | "apps">;
  upstreams: UpstreamLocator;
  ports?: { listen: number; admin: number };
}

/** The documents of the proxy's routing file, in apply order. */
export function renderMirrorProxyDocuments(input: ProxyConfigInput): object[] {
  const { config } = input;
  const routings = buildStackRoutings(config);
  const routingDocs: object[] = routings.flatMap(({ routing }) =>
    routing.destinationRule ? [routing.destinationRule, routing.virtualService] : [routing.virtualService],
  );
  // `compare` names the mirrored routes of the apps that opted in.
  const compared = routings.filter(({ app }) => app.compare);
  const comparedRoutes = compared.flatMap(({ routing }) =>
    routing.virtualService.spec.http.filter((route) => route.mirror).map((route) => route.name),
  );
  const ignorePaths = [...new Set(compared.flatMap(({ app }) => app.expectedDifferences))];
  const compare = {
    routes: comparedRoutes,
    ...(ignorePaths.length > 0 ? { ignorePaths } : {}),
    noise: COMPARE_NOISE,
  };
  // Keyed exactly as the destinations name them: `<fqdn>/<subset>` (or the per-version Service's `<fqdn>`).
  const upstreams = Object.fromEntries(
    routings.flatMap(({ app }) =>
      VERSIONS.map((version) => [upstreamKey(versionDestination(app, version, config.namespace)), input.upstreams(app, version)]),
    ),
  );
  const copyHeaders = copyHeadersByRoute(routings);
  const proxyDoc = mirrorProxyDocument(config.namespace, upstreams, input.ports, comparedRoutes.length > 0 ? compare : undefined, copyHeaders);
  return [...routingDocs, proxyDoc];
}

/** The MirrorProxy document: ports, where each upstream key lives, shadow defaults, optional compare and copyHeaders blocks. */
export function mirrorProxyDocument(
  namespace: string,
  upstreams: Record<string, string | string[]>,
  ports = PROXY_PORTS,
  compare?: object,
  copyHeaders: Record<string, object> = {},
) {
  return {
    apiVersion: PROXY_API_VERSION,
    kind: "MirrorProxy",
    metadata: { name: PROXY_NAME, namespace },
    spec: {
      listen: ports.listen,
      admin: ports.admin,
      upstreams,
      ...PROXY_SHADOW_DEFAULTS,
      ...(compare ? { compare } : {}),
      ...(Object.keys(copyHeaders).length > 0 ? { copyHeaders } : {}),
    },
  };
}

/** `spec.copyHeaders`: each app's copy shaping, keyed by the name of its mirrored route. */
function copyHeadersByRoute(routings: ReturnType<typeof buildStackRoutings>): Record<string, { set?: Record<string, string>; remove?: string[] }> {
  const byRoute: Record<string, { set?: Record<string, string>; remove?: string[] }> = {};
  for (const { app, routing } of routings) {
    const shape = app.mirror.copyHeaders;
    if (!shape) continue;
    for (const route of routing.virtualService.spec.http.filter((candidate) => candidate.mirror)) {
      byRoute[route.name] = {
        ...(Object.keys(shape.set).length > 0 ? { set: { ...shape.set } } : {}),
        ...(shape.remove.length > 0 ? { remove: [...shape.remove] } : {}),
      };
    }
  }
  return byRoute;
}

/** The routing file as multi-document YAML. */
export function renderMirrorProxyYaml(input: ProxyConfigInput): string {
  const header = "# Rendered by the traffic-mirroring stack: Istio routing served by the mirror proxy.\n";
  return header + renderMirrorProxyDocuments(input).map((doc) => `---\n${stringify(doc)}`).join("");
}
