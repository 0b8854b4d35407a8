// Gateway API as a data plane: one Gateway, and per app an HTTPRoute whose
// rules are the app's routing (the VirtualService `buildAppRouting` makes
// for Istio and the proxy) translated rule by rule. `renderHttpRoute` is pure;
// the component applies its output. The copies go to `<app>-v2` through a
// RequestMirror filter, the live requests to `<app>-v1`.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./config";
import { GATEWAY_NAME } from "./istioMirror";
import { nodePortNamed } from "./ingress";
import { RoutingNeed } from "./gatewayApiSupport";
import { AppRouting, buildStackRoutings, Destination, HttpRoute } from "./routing";
import { VERSIONS } from "./apps";
import { appList, StackConfig } from "./config";
import { mirrorProxyDocument, PROXY_PORTS, UpstreamLocator } from "./proxyConfig";

export const GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1";
/** The Gateway's one listener. */
export const GATEWAY_LISTENER = { name: "http", port: 80, protocol: "HTTP" } as const;

export interface HttpRouteMatch {
  path?: { type: "Exact" | "PathPrefix" | "RegularExpression"; value: string };
  headers?: Array<{ type: "Exact" | "RegularExpression"; name: string; value: string }>;
  queryParams?: Array<{ type: "Exact" | "RegularExpression"; name: string; value: string }>;
  method?: string;
}

export interface BackendRef {
  name: string;
  port: number;
  weight?: number;
}

export interface RequestMirrorFilter {
  type: "RequestMirror";
  requestMirror: { backendRef: BackendRef; percent?: number; fraction?: { numerator: number; denominator: number } };
}

export interface HttpRouteRule {
  name?: string;
  matches?: HttpRouteMatch[];
  filters?: RequestMirrorFilter[];
  backendRefs: BackendRef[];
  timeouts?: { request: string };
}

export interface GatewayApiHttpRoute {
  apiVersion: typeof GATEWAY_API_VERSION;
  kind: "HTTPRoute";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { parentRefs: Array<{ name: string }>; hostnames?: string[]; rules: HttpRouteRule[] };
}

export interface GatewayApiGateway {
  apiVersion: typeof GATEWAY_API_VERSION;
  kind: "Gateway";
  metadata: { name: string; namespace: string };
  spec: {
    gatewayClassName: string;
    listeners: Array<{ name: string; port: number; protocol: string; allowedRoutes: { namespaces: { from: "Same" } } }>;
  };
}

/** Thrown when a VirtualService route uses something this translation does not carry: never dropped silently. */
export class GatewayApiRenderError extends Error {
  constructor(where: string, problem: string) {
    super(`cannot render ${where} as a Gateway API HTTPRoute: ${problem}; use mesh: istio or mesh: proxy`);
    this.name = "GatewayApiRenderError";
  }
}

/**
 * `hostname.mirror-demo.svc.cluster.local` subset v1 -> the per-version Service `hostname-v1`;
 * a destination without subset already names it (`billing-v1...` when v1 runs on selected pods).
 */
export function versionServiceRef(destination: Destination): BackendRef {
  const service = destination.host.split(".")[0];
  return { name: destination.subset ? `${service}-${destination.subset}` : service, port: destination.port.number };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * A mirror share as Gateway API wants it: nothing for 100 % (every request),
 * `percent` for a whole percent, else the exact `fraction` (0.5 -> 1/200).
 */
export function mirrorShare(percent: number): Pick<RequestMirrorFilter["requestMirror"], "percent" | "fraction"> {
  if (percent === 100) return {};
  if (Number.isInteger(percent)) return { percent };
  const decimals = Math.min(6, (String(percent).split(".")[1] ?? "").length);
  const scale = 10 ** decimals;
  const numerator = Math.round(percent * scale);
  const denominator = 100 * scale;
  const divisor = gcd(numerator, denominator);
  return { fraction: { numerator: numerator / divisor, denominator: denominator / divisor } };
}

type StringMatch = { exact?: string; prefix?: string; regex?: string };
type IstioMatch = {
  uri?: StringMatch;
  method?: StringMatch;
  headers?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
};

const MATCH_FIELDS = new Set(["uri", "method", "headers", "queryParams"]);
const ROUTE_FIELDS = new Set(["name", "match", "route", "mirror", "mirrorPercentage", "mirrors", "timeout"]);

/** RE2 for "starts with `prefix`" (Gateway API has no prefix match for headers or query params). */
function prefixRegex(prefix: string): string {
  return `${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*`;
}

/**
 * An Istio StringMatch as a Gateway API value match. A path prefix becomes
 * PathPrefix, which matches whole segments (`/api` takes `/api/x`, not `/apix`);
 * a header or query prefix becomes a RegularExpression.
 */
function valueMatch(where: string, m: StringMatch, isPath: boolean): { type: "Exact" | "RegularExpression" | "PathPrefix"; value: string } {
  if (m.exact !== undefined) return { type: "Exact", value: m.exact };
  if (m.regex !== undefined) return { type: "RegularExpression", value: m.regex };
  if (m.prefix !== undefined) return isPath ? { type: "PathPrefix", value: m.prefix } : { type: "RegularExpression", value: prefixRegex(m.prefix) };
  throw new GatewayApiRenderError(where, `needs exact, prefix or regex (got ${JSON.stringify(m)})`);
}

function translateMatch(where: string, match: IstioMatch): HttpRouteMatch {
  for (const key of Object.keys(match)) {
    if (!MATCH_FIELDS.has(key)) throw new GatewayApiRenderError(`${where}.${key}`, "no Gateway API equivalent in this translation");
  }
  const out: HttpRouteMatch = {};
  if (match.uri) out.path = valueMatch(`${where}.uri`, match.uri, true);
  if (match.headers) {
    out.headers = Object.entries(match.headers).map(([name, m]) => {
      const { type, value } = valueMatch(`${where}.headers.${name}`, m, false);
      return { type: type as "Exact" | "RegularExpression", name, value };
    });
  }
  if (match.queryParams) {
    out.queryParams = Object.entries(match.queryParams).map(([name, m]) => {
      const { type, value } = valueMatch(`${where}.queryParams.${name}`, m, false);
      return { type: type as "Exact" | "RegularExpression", name, value };
    });
  }
  if (match.method) {
    if (match.method.exact === undefined) throw new GatewayApiRenderError(`${where}.method`, "Gateway API matches one method exactly");
    out.method = match.method.exact;
  }
  return out;
}

/** One VirtualService route as one HTTPRoute rule. */
function translateRoute(vsName: string, route: HttpRoute, index: number): HttpRouteRule {
  const where = `VirtualService/${vsName} http[${index}]`;
  for (const key of Object.keys(route)) {
    if (!ROUTE_FIELDS.has(key)) throw new GatewayApiRenderError(`${where}.${key}`, "no Gateway API equivalent in this translation");
  }
  const extra = route as HttpRoute & {
    mirrors?: Array<{ destination: Destination; percentage?: { value: number } }>;
    timeout?: string;
    match?: IstioMatch[];
  };
  const mirrors = [
    ...(route.mirror ? [{ destination: route.mirror, percent: route.mirrorPercentage?.value ?? 100 }] : []),
    ...(extra.mirrors ?? []).map((m) => ({ destination: m.destination, percent: m.percentage?.value ?? 100 })),
  ];
  const filters = mirrors.map(
    (m): RequestMirrorFilter => ({
      type: "RequestMirror",
      requestMirror: { backendRef: versionServiceRef(m.destination), ...mirrorShare(m.percent) },
    }),
  );
  const backendRefs = route.route.map((r) => ({
    ...versionServiceRef(r.destination),
    ...(route.route.length > 1 ? { weight: r.weight } : {}),
  }));
  const matches = (extra.match ?? []).map((m, j) => translateMatch(`${where}.match[${j}]`, m));
  return {
    ...(route.name ? { name: route.name } : {}),
    ...(matches.length > 0 ? { matches } : {}),
    ...(filters.length > 0 ? { filters } : {}),
    backendRefs,
    ...(extra.timeout ? { timeouts: { request: extra.timeout } } : {}),
  };
}

/**
 * The app's HTTPRoute, attached to the stack's Gateway. Istio takes the first
 * matching route; Gateway API the most specific match (more headers, a method,
 * a longer path first), which gives the same choice here because every
 * fallback rule the routing function writes matches less than the rule before it.
 */
export function renderHttpRoute(routing: AppRouting, gatewayName = GATEWAY_NAME): GatewayApiHttpRoute {
  const vs = routing.virtualService;
  // `*` means any host: Gateway API says that by leaving hostnames out.
  const hostnames = vs.spec.hosts.filter((host) => host !== "*");
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: "HTTPRoute",
    metadata: { name: vs.metadata.name, namespace: vs.metadata.namespace, labels: { ...vs.metadata.labels } },
    spec: {
      parentRefs: [{ name: gatewayName }],
      ...(hostnames.length > 0 && hostnames.length === vs.spec.hosts.length ? { hostnames } : {}),
      rules: vs.spec.http.map((route, i) => translateRoute(vs.metadata.name, route, i)),
    },
  };
}

/** The stack's Gateway: one HTTP listener on port 80 for the routes of its namespace. */
export function renderGateway(namespace: string, gatewayClassName: string): GatewayApiGateway {
  return {
    apiVersion: GATEWAY_API_VERSION,
    kind: "Gateway",
    metadata: { name: GATEWAY_NAME, namespace },
    spec: {
      gatewayClassName,
      listeners: [{ ...GATEWAY_LISTENER, allowedRoutes: { namespaces: { from: "Same" } } }],
    },
  };
}

/** What the routes ask of the controller, for the compatibility check. */
export function routingNeeds(routes: GatewayApiHttpRoute[]): Set<RoutingNeed> {
  const needs = new Set<RoutingNeed>();
  for (const rule of routes.flatMap((route) => route.spec.rules)) {
    const mirrors = (rule.filters ?? []).filter((f) => f.type === "RequestMirror");
    if (mirrors.length > 0) needs.add("mirror");
    if (mirrors.length > 1) needs.add("multipleMirrors");
    for (const { requestMirror } of mirrors) {
      if (requestMirror.percent !== undefined) needs.add("percentage");
      if (requestMirror.fraction !== undefined) needs.add("fraction");
    }
    for (const match of rule.matches ?? []) {
      if (match.method !== undefined) needs.add("methodSplit");
      if ((match.headers ?? []).some((h) => h.type === "RegularExpression")) needs.add("headerRegex");
    }
  }
  return needs;
}

/**
 * The mirror proxy's routing file in Gateway API form: the stack's HTTPRoutes (as
 * mesh gateway-api applies them) and the MirrorProxy document, upstreams keyed
 * `<app>-<version>:<port>` as the backendRefs name them.
 */
export function renderGatewayApiProxyDocuments(input: { config: StackConfig; upstreams: UpstreamLocator; ports?: { listen: number; admin: number } }): object[] {
  const routes = buildStackRoutings(input.config).map(({ routing }) => renderHttpRoute(routing));
  const upstreams = Object.fromEntries(
    appList(input.config).flatMap((app) => VERSIONS.map((version) => [`${app.name}-${version}:${app.servicePort}`, input.upstreams(app, version)])),
  );
  return [...routes, mirrorProxyDocument(input.config.namespace, upstreams, input.ports ?? PROXY_PORTS)];
}

/** An address a user's machine can reach: an IPv4 or IPv6 literal (not an in-cluster host name). */
function isIpAddress(value: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(value) || /^[0-9a-fA-F:]+:[0-9a-fA-F:]*$/.test(value);
}

/**
 * The Service an implementation deploys for a Gateway, as GEP-1762 (and Istio)
 * name it: `<gateway>-<gatewayClassName>`.
 */
export function gatewayServiceName(gatewayName: string, gatewayClassName: string): string {
  return `${gatewayName}-${gatewayClassName}`;
}

/** Pure: the Gateway's reachable status address, else the node IP and its Service's node port (or an error naming what is missing). */
export function gatewayIngressUrl(input: { address?: string; servicePorts?: Array<{ name?: string; nodePort?: number }>; serviceId: string; nodeIp: string }): string {
  if (input.address) return `http://${input.address.includes(":") ? `[${input.address}]` : input.address}`;
  const hint =
    `the Gateway reports no IP address and its Service ${input.serviceId} (the GEP-1762 name) has no node port named "${GATEWAY_LISTENER.name}"; ` +
    `expose the Gateway, or use ${PROJECT}:mesh proxy`;
  return `http://${input.nodeIp}:${nodePortNamed(input.servicePorts, GATEWAY_LISTENER.name, `Service ${input.serviceId}`, hint)}`;
}

export interface GatewayApiMirrorArgs {
  /** Namespace of the Gateway and the HTTPRoutes (the apps' namespace). */
  namespace: pulumi.Input<string>;
  /** GatewayClass the Gateway asks for (stack config `gatewayClassName`). */
  gatewayClassName: string;
  /** Per-app routing from `buildAppRouting`. */
  routings: AppRouting[];
  /** Node IP, for a URL through the Gateway Service's node port. */
  nodeIp: string;
}

/**
 * Gateway API's data plane for the dark launch: the Gateway and per app the
 * HTTPRoute that sends live requests to `<app>-v1` and copies to `<app>-v2`.
 */
export class GatewayApiMirror extends pulumi.ComponentResource {
  readonly gatewayName: pulumi.Output<string>;
  /** `http://<address>` from the Gateway's status, else the node port of its Service. */
  readonly ingressUrl: pulumi.Output<string>;

  constructor(name: string, args: GatewayApiMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:gatewayApi:GatewayApiMirror", name, {}, opts);
    const gatewayDoc = renderGateway("", args.gatewayClassName);
    const gateway = new k8s.apiextensions.CustomResource(
      GATEWAY_NAME,
      // `status: undefined` makes `status` an output (the live object's addresses), sending nothing.
      { ...gatewayDoc, metadata: { ...gatewayDoc.metadata, namespace: args.namespace }, status: undefined },
      { parent: this },
    );

    for (const routing of args.routings) {
      const route = renderHttpRoute(routing);
      new k8s.apiextensions.CustomResource(
        `${route.metadata.name}-httproute`,
        { ...route, metadata: { ...route.metadata, namespace: args.namespace } },
        { parent: this, dependsOn: [gateway] },
      );
    }

    const serviceName = gatewayServiceName(GATEWAY_NAME, args.gatewayClassName);
    const status = (gateway as unknown as { status: pulumi.Output<{ addresses?: Array<{ value?: string }> } | undefined> }).status;
    const address = status.apply((gatewayStatus) => (gatewayStatus?.addresses ?? []).map((a) => a.value ?? "").find(isIpAddress));
    const serviceId = pulumi.interpolate`${args.namespace}/${serviceName}`;
    // The Service is read only when the Gateway reports no reachable address.
    const ports = pulumi.all([address, serviceId]).apply(([ip, id]) =>
      ip ? undefined : k8s.core.v1.Service.get(`${serviceName}-service`, id, { parent: this }).spec.ports,
    );
    this.ingressUrl = pulumi
      .all([address, ports, serviceId])
      .apply(([ip, servicePorts, id]) => gatewayIngressUrl({ address: ip, servicePorts, serviceId: id, nodeIp: args.nodeIp }));
    this.gatewayName = gateway.metadata.name;
    // (ingressUrl stays out: a failing lookup must surface once, through the stack export.)
    this.registerOutputs({ gatewayName: this.gatewayName });
  }
}
