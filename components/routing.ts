// The routing of each app, built once by a pure function into Istio's own
// VirtualService and DestinationRule objects. Istio mode applies them as
// custom resources; proxy mode hands the very same objects to the mirror proxy.
import { App, READ_METHODS, StringMatch, v1Selected, Version } from "./apps";
import { appList, StackConfig } from "./config";

export const ISTIO_API_VERSION = "networking.istio.io/v1";

export interface Destination {
  host: string;
  subset?: Version;
  port: { number: number };
}

/** One Istio HTTPMatchRequest: its conditions all hold. */
export interface HttpMatch {
  uri?: StringMatch;
  method?: StringMatch;
  headers?: Record<string, StringMatch>;
}

export interface HttpRoute {
  name: string;
  match?: HttpMatch[];
  route: Array<{ destination: Destination; weight: number }>;
  mirror?: Destination;
  mirrorPercentage?: { value: number };
}

export interface VirtualService {
  apiVersion: typeof ISTIO_API_VERSION;
  kind: "VirtualService";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { hosts: string[]; gateways?: string[]; http: HttpRoute[] };
}

export interface DestinationRule {
  apiVersion: typeof ISTIO_API_VERSION;
  kind: "DestinationRule";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { host: string; subsets: Array<{ name: Version; labels: { version: Version } }> };
}

export interface RoutingInput {
  app: App;
  namespace: string;
  /** Gateways the VirtualService binds to (`<namespace>/<name>`); none in proxy mode. */
  gateways?: string[];
}

export interface AppRouting {
  virtualService: VirtualService;
  /** Subsets v1/v2 of the Service `<app>`; none when v1 runs on selected pods (each version has its own Service). */
  destinationRule?: DestinationRule;
}

/** The in-cluster name of the app's Service, as Istio wants destination hosts. */
export function serviceFqdn(appName: string, namespace: string): string {
  return `${appName}.${namespace}.svc.cluster.local`;
}

/** Escapes a literal for use inside an RE2 / ECMAScript regular expression. */
export function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * RE2 regex matching a `cookie` header that carries `name=value` as one of its
 * cookies (Istio matches cookies through the header, whole value).
 */
export function cookieHeaderRegex(cookie: { name: string; value: string }): string {
  return `^(.*?;\\s*)?(${escapeRegex(`${cookie.name}=${cookie.value}`)})(;.*)?$`;
}

/**
 * Where a version of the app is reached: the Service `<app>` and the version's
 * subset; when v1 runs on pods selected by labels (not ours), the per-version
 * Services `<app>-v1` / `<app>-v2` (a subset would need labels v2 lacks).
 */
export function versionDestination(app: App, version: Version, namespace: string): Destination {
  const port = { number: app.servicePort };
  if (v1Selected(app)) return { host: serviceFqdn(`${app.name}-${version}`, namespace), port };
  return { host: serviceFqdn(app.name, namespace), subset: version, port };
}

/** The key of a destination in the proxy's `upstreams`: `host/subset`, or `host`. */
export function upstreamKey(destination: Destination): string {
  return destination.subset ? `${destination.host}/${destination.subset}` : destination.host;
}

/** Methods a mirrored route copies: all (undefined) when writes are mirrored, else the read methods (of those matched). */
export function mirroredMethods(app: App): string[] | undefined {
  const { writes, match } = app.mirror;
  if (writes) return match?.methods;
  const reads: readonly string[] = READ_METHODS;
  return match?.methods ? match.methods.filter((method) => reads.includes(method)) : [...reads];
}

/**
 * The match blocks of the mirrored route (undefined: every request): the
 * app's conditions, once per copied method when methods are limited (one
 * exact method per block, which Gateway API can say too; blocks are OR'd).
 */
export function mirrorMatch(app: App): HttpMatch[] | undefined {
  const { match } = app.mirror;
  const headers: Record<string, StringMatch> = { ...(match?.headers ?? {}) };
  if (match?.cookie) headers.cookie = { regex: cookieHeaderRegex(match.cookie) };
  const block = (method?: string): HttpMatch => ({
    ...(match?.pathPrefix ? { uri: { prefix: match.pathPrefix } } : {}),
    ...(method ? { method: { exact: method } } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  });
  const methods = mirroredMethods(app);
  if (methods) return methods.map(block);
  return Object.keys(block()).length > 0 ? [block()] : undefined;
}

/** `<app>-mirror-<what>`: the cookie's name for a cookie-only match (hostname's `-user`), else match, all or reads. */
function mirrorRouteName(app: App): string {
  const { match, writes } = app.mirror;
  const cookieOnly = match?.cookie && Object.keys(match).length === 1;
  const what = cookieOnly ? match.cookie!.name : match ? "match" : writes ? "all" : "reads";
  return `${app.name}-mirror-${what}`;
}

/**
 * The app's routing, for every data plane: a route that sends the selected
 * requests to v1 and copies them to v2 (for writes only when the app opts in),
 * then, when not every request is selected, a route to v1 without a copy.
 */
export function buildAppRouting(input: RoutingInput): AppRouting {
  const { app, namespace } = input;
  const toV1 = [{ destination: versionDestination(app, "v1", namespace), weight: 100 }];
  const match = mirrorMatch(app);
  const mirrored: HttpRoute = {
    name: mirrorRouteName(app),
    ...(match ? { match } : {}),
    route: toV1,
    mirror: versionDestination(app, "v2", namespace),
    mirrorPercentage: { value: app.mirrorPercent },
  };
  const http: HttpRoute[] = match ? [mirrored, { name: `${app.name}-primary`, route: toV1 }] : [mirrored];
  const labels = { app: app.name, "app.kubernetes.io/managed-by": "traffic-mirroring" };

  return {
    virtualService: {
      apiVersion: ISTIO_API_VERSION,
      kind: "VirtualService",
      metadata: { name: app.name, namespace, labels },
      spec: {
        hosts: [...app.hosts],
        ...(input.gateways ? { gateways: [...input.gateways] } : {}),
        http,
      },
    },
    ...(v1Selected(app)
      ? {}
      : {
          destinationRule: {
            apiVersion: ISTIO_API_VERSION,
            kind: "DestinationRule" as const,
            metadata: { name: app.name, namespace, labels },
            spec: {
              host: serviceFqdn(app.name, namespace),
              subsets: [
                { name: "v1" as const, labels: { version: "v1" as const } },
                { name: "v2" as const, labels: { version: "v2" as const } },
              ],
            },
          },
        }),
  };
}

/** Every app's routing under the stack config; `gateways` in Istio mode only. */
export function buildStackRoutings(config: Pick<StackConfig, "namespace" | "apps">, gateways?: string[]): Array<{ app: App; routing: AppRouting }> {
  return appList(config).map((app) => ({
    app,
    routing: buildAppRouting({ app, namespace: config.namespace, ...(gateways ? { gateways } : {}) }),
  }));
}
