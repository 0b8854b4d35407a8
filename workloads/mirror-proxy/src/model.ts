/**
 * The proxy's routing model: plain data, independent of the input format. Istio
 * VirtualService/DestinationRule (fromIstio below) and Gateway API HTTPRoute compile into it;
 * routing.ts compiles it into the closures the hot path runs. Semantics are Envoy's route
 * table: virtual hosts by name, routes in order (first match wins), each with matches (OR'd),
 * one action (forward / redirect / direct response) and the filters Istio configures per
 * route (fault, CORS, header operations). Backends are clusters (`host`, `subset`, `port`)
 * with a traffic policy (load balancing, connection pool, outlier detection, TLS).
 */
import type { Destination, HTTPMatchRequest, HTTPRoute, IstioHeaders, PortPolicy, StringMatch, TrafficPolicy } from "./istio.ts";
import { parseDuration } from "./duration.ts";
import { shortName } from "./proxyConfig.ts";

// ---------------------------------------------------------------- matching

/**
 * How one value is tested. `present`: the value exists (any content, even empty).
 * `pathPrefix`: Gateway API's element-wise PathPrefix (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`).
 */
export type ValueMatch =
  | { kind: "exact" | "prefix" | "pathPrefix"; value: string; ignoreCase?: boolean }
  | { kind: "regex"; value: string; ignoreCase?: boolean }
  | { kind: "present" };

/** A request header condition; names are lower-case. */
export interface HeaderCondition {
  name: string;
  match: ValueMatch;
  /** Holds when the header does NOT match (Istio withoutHeaders). */
  invert?: boolean;
  /** An absent header is tested as "" (Envoy's treat_missing_header_as_empty). */
  missingAsEmpty?: boolean;
}

/** All conditions AND'd. `path` is the URL path without the query; `pathWithQuery` is Envoy's `:path`. */
export interface RouteMatch {
  path?: ValueMatch;
  pathWithQuery?: ValueMatch;
  method?: ValueMatch;
  authority?: ValueMatch;
  scheme?: ValueMatch;
  /** The port the request was addressed to (Host header's port, else 80). */
  port?: number;
  headers: HeaderCondition[];
  queryParams: { name: string; match: ValueMatch }[];
}

// ---------------------------------------------------------------- actions

export interface HeaderOps {
  /** Replace (or add) these headers. */
  set: [string, string][];
  /** Append a value (the header may repeat). */
  add: [string, string][];
  /** Remove these lower-case names. */
  remove: string[];
}
export interface HeaderPolicy {
  request?: HeaderOps;
  response?: HeaderOps;
}

/** An upstream cluster: the destination plus its merged traffic policy. */
export interface Backend {
  host: string;
  subset?: string;
  port?: number;
  policy?: BackendPolicy;
}

export interface BackendPolicy {
  loadBalancer?: { kind: "round_robin" | "least_request" | "random" | "passthrough" } | { kind: "hash"; header?: string; cookie?: { name: string; path?: string; ttlSec?: number }; sourceIp?: boolean; queryParam?: string };
  connectionPool?: { maxConnections?: number; maxPending?: number; maxRequests?: number; maxRequestsPerConnection?: number; idleTimeoutMs?: number; connectTimeoutMs?: number };
  outlier?: { consecutive5xx?: number; consecutiveGateway?: number; intervalMs: number; baseEjectionMs: number; maxEjectionPercent: number };
  /** `plain`: DISABLE, or ISTIO_MUTUAL (no mesh here: plain HTTP, noted at load). */
  tls?: { mode: "plain" } | { mode: "simple"; sni?: string; caFile?: string; insecureSkipVerify?: boolean };
}

export interface WeightedBackend {
  backend: Backend;
  weight: number;
  headers?: HeaderPolicy;
}

export interface Mirror {
  backend: Backend;
  /** 0..100 */
  percent: number;
}

/**
 * Path rewrite. `prefix`: replaces the matched prefix (the whole path when the matched block
 * tested the path exactly or by regex; `/` when it did not test the path), Istio's
 * `rewrite.uri` and Gateway API's ReplacePrefixMatch. `full`: the whole path. `regex`: RE2
 * substitution (`\1` groups). The query string is kept.
 */
export type PathRewrite =
  | { kind: "prefix" | "full"; value: string }
  | { kind: "regex"; pattern: string; substitution: string }
  // Gateway API's ReplacePrefixMatch: `prefix` (the PathPrefix matched, element-wise) replaced by `value` (httpRoute.ts replacePrefixMatch).
  | { kind: "replacePrefix"; prefix: string; value: string };

export interface Retries {
  attempts: number;
  perTryTimeoutMs: number;
  /** Envoy retry_on conditions, plus status codes. */
  on: string[];
  statuses: number[];
}

export interface Forward {
  kind: "forward";
  backends: WeightedBackend[];
  mirrors: Mirror[];
  rewrite?: { path?: PathRewrite; authority?: string };
  /** 0 = none (Istio's default). */
  timeoutMs: number;
  retries?: Retries;
}
export interface Redirect {
  kind: "redirect";
  path?: string;
  /** A rewrite of the request's path instead of a fixed `path` (Gateway API ReplacePrefixMatch). */
  pathRewrite?: PathRewrite;
  authority?: string;
  port?: number;
  derivePort?: "FROM_PROTOCOL_DEFAULT" | "FROM_REQUEST_PORT";
  scheme?: string;
  status: number;
}
export interface DirectResponse {
  kind: "direct";
  status: number;
  body?: Buffer;
}

export interface Fault {
  delay?: { ms: number; percent: number };
  abort?: { status: number; grpcStatus?: number; percent: number };
}

export interface Cors {
  allowOrigins: ValueMatch[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSec?: number;
  allowCredentials?: boolean;
  /** A preflight from an origin not allowed: forwarded upstream (Envoy's default) or answered without CORS headers. */
  unmatchedPreflights: "forward" | "ignore";
}

export interface Route {
  /** Metrics label and compare selector: `<source>/<name or index>`. */
  id: string;
  /** OR'd; empty = matches everything. */
  matches: RouteMatch[];
  action: Forward | Redirect | DirectResponse;
  fault?: Fault;
  cors?: Cors;
  headers?: HeaderPolicy;
}

export interface VirtualHost {
  /** The configuration object(s) it came from, for messages. */
  source: string;
  namespace?: string;
  /** Names as written: exact, `*.suffix` or `*`. */
  hosts: string[];
  routes: Route[];
}

export interface RoutingModel {
  virtualHosts: VirtualHost[];
  /** One line each, logged at load: what was accepted but skipped or has no effect here. */
  notes: string[];
}

// ---------------------------------------------------------------- from Istio

export interface IstioVirtualService {
  name: string;
  namespace?: string;
  hosts: string[];
  http: HTTPRoute[];
}
export interface IstioDestinationRule {
  name: string;
  namespace?: string;
  host: string;
  subsets: string[];
  trafficPolicy?: TrafficPolicy;
  subsetPolicies: Record<string, TrafficPolicy | undefined>;
}

/** Istio's gRPC status names (fault.abort.grpcStatus) to codes. */
const GRPC_CODES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};
export function grpcCode(name: string): number | undefined {
  return /^\d+$/.test(name) ? Number(name) : GRPC_CODES[name];
}

export function valueMatch(m: StringMatch, ignoreCase = false): ValueMatch {
  if (m.exact !== undefined) return { kind: "exact", value: m.exact, ...(ignoreCase ? { ignoreCase } : {}) };
  if (m.prefix !== undefined) return { kind: "prefix", value: m.prefix, ...(ignoreCase ? { ignoreCase } : {}) };
  // Istio reads the regex `*` (not RE2) as "any value", i.e. present.
  if (m.regex !== undefined) return m.regex === "*" ? { kind: "present" } : { kind: "regex", value: m.regex };
  return { kind: "present" };
}

const PSEUDO = new Set([":method", ":authority", ":path", ":scheme"]);
export function isPseudoHeader(name: string): boolean {
  return PSEUDO.has(name);
}

/** A match block skipped at a gateway: it selects sidecars (source labels/namespace) or only the mesh. */
export function sidecarOnly(m: HTTPMatchRequest): string | undefined {
  if (m.sourceLabels) return "sourceLabels";
  if (m.sourceNamespace !== undefined) return "sourceNamespace";
  if (m.gateways && m.gateways.length > 0 && m.gateways.every((g) => g === "mesh")) return "gateways: [mesh]";
  return undefined;
}

function routeMatch(m: HTTPMatchRequest): RouteMatch {
  const out: RouteMatch = { headers: [], queryParams: [] };
  // Istio: ignoreUriCase applies to exact and prefix URI matches only.
  if (m.uri) out.path = valueMatch(m.uri, m.ignoreUriCase === true && m.uri.regex === undefined);
  if (m.method) out.method = valueMatch(m.method);
  if (m.authority) out.authority = valueMatch(m.authority);
  if (m.scheme) out.scheme = valueMatch(m.scheme);
  if (m.port !== undefined) out.port = m.port;
  for (const [raw, sm] of Object.entries(m.headers ?? {})) {
    const name = raw.toLowerCase(); // Envoy lower-cases header names
    const vm = valueMatch(sm);
    if (name === ":method") out.method = vm;
    else if (name === ":authority") out.authority = vm;
    else if (name === ":scheme") out.scheme = vm;
    else if (name === ":path") out.pathWithQuery = vm;
    else out.headers.push({ name, match: vm });
  }
  for (const [raw, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const vm = valueMatch(sm);
    // Istio sets treat_missing_header_as_empty for a regex: `.*` then also "matches" an absent header.
    out.headers.push({ name: raw.toLowerCase(), match: vm, invert: true, ...(vm.kind === "regex" ? { missingAsEmpty: true } : {}) });
  }
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) out.queryParams.push({ name, match: valueMatch(sm) });
  return out;
}

function headerOps(h: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } | undefined): HeaderOps | undefined {
  if (!h) return undefined;
  return { set: Object.entries(h.set ?? {}), add: Object.entries(h.add ?? {}), remove: (h.remove ?? []).map((n) => n.toLowerCase()) };
}
function headerPolicy(h: IstioHeaders | undefined): HeaderPolicy | undefined {
  if (!h || (!h.request && !h.response)) return undefined;
  return { request: headerOps(h.request), response: headerOps(h.response) };
}

const ms = (d: string | undefined, fallback: number) => (d === undefined ? fallback : (parseDuration(d) ?? fallback));

/** The backend policy of a merged Istio traffic policy; undefined when nothing would change. */
export function backendPolicy(p: PortPolicy | undefined): BackendPolicy | undefined {
  if (!p) return undefined;
  const out: BackendPolicy = {};
  const lb = p.loadBalancer;
  if (lb?.consistentHash) {
    const h = lb.consistentHash;
    out.loadBalancer = { kind: "hash", header: h.httpHeaderName?.toLowerCase(), sourceIp: h.useSourceIp, queryParam: h.httpQueryParameterName, cookie: h.httpCookie && { name: h.httpCookie.name, path: h.httpCookie.path, ttlSec: h.httpCookie.ttl ? ms(h.httpCookie.ttl, 0) / 1000 : undefined } };
  } else if (lb?.simple === "LEAST_REQUEST" || lb?.simple === "LEAST_CONN") out.loadBalancer = { kind: "least_request" };
  else if (lb?.simple === "RANDOM") out.loadBalancer = { kind: "random" };
  else if (lb?.simple === "PASSTHROUGH") out.loadBalancer = { kind: "passthrough" };
  const cp = p.connectionPool;
  if (cp && (cp.tcp?.maxConnections !== undefined || cp.tcp?.connectTimeout || cp.http?.http1MaxPendingRequests !== undefined || cp.http?.http2MaxRequests !== undefined || cp.http?.maxRequestsPerConnection || cp.http?.idleTimeout || cp.tcp?.idleTimeout)) {
    out.connectionPool = {
      maxConnections: cp.tcp?.maxConnections || undefined,
      maxPending: cp.http?.http1MaxPendingRequests,
      maxRequests: cp.http?.http2MaxRequests || undefined,
      maxRequestsPerConnection: cp.http?.maxRequestsPerConnection || undefined,
      idleTimeoutMs: cp.http?.idleTimeout ? ms(cp.http.idleTimeout, 0) : cp.tcp?.idleTimeout ? ms(cp.tcp.idleTimeout, 0) : undefined,
      connectTimeoutMs: cp.tcp?.connectTimeout ? ms(cp.tcp.connectTimeout, 0) : undefined,
    };
  }
  const od = p.outlierDetection;
  if (od) {
    // Istio: consecutive5xxErrors defaults to 5 (0 disables); the deprecated consecutiveErrors means gateway errors.
    const c5 = od.consecutive5xxErrors ?? (od.consecutiveErrors === undefined ? 5 : 0);
    const cg = od.consecutiveGatewayErrors ?? od.consecutiveErrors ?? 0;
    if (c5 > 0 || cg > 0) {
      out.outlier = { consecutive5xx: c5 || undefined, consecutiveGateway: cg || undefined, intervalMs: ms(od.interval, 10000), baseEjectionMs: ms(od.baseEjectionTime, 30000), maxEjectionPercent: od.maxEjectionPercent ?? 10 };
    }
  }
  const tls = p.tls;
  if (tls && tls.mode === "SIMPLE") out.tls = { mode: "simple", sni: tls.sni, caFile: tls.caCertificates, insecureSkipVerify: tls.insecureSkipVerify };
  return Object.keys(out).length > 0 ? out : undefined;
}

export function findDestinationRule<R extends { host: string }>(rules: readonly R[], host: string): R | undefined {
  return rules.find((r) => r.host === host) ?? rules.find((r) => shortName(r.host) === shortName(host));
}

/**
 * Istio's merge (MergeSubsetTrafficPolicy): the port-level settings for `port` replace the
 * four fields of their policy wholesale (omitted ones fall back to defaults); then each field
 * the subset sets (all four when the subset has port-level settings for `port`) replaces the
 * destination-level one.
 */
export function mergeTrafficPolicy(top: TrafficPolicy | undefined, subset: TrafficPolicy | undefined, port: number | undefined): PortPolicy | undefined {
  const atPort = (p: TrafficPolicy | undefined): { policy: PortPolicy | undefined; portLevel: boolean } => {
    if (!p) return { policy: undefined, portLevel: false };
    const pl = port === undefined ? undefined : p.portLevelSettings?.find((s) => s.port.number === port);
    if (pl) return { policy: { loadBalancer: pl.loadBalancer, connectionPool: pl.connectionPool, outlierDetection: pl.outlierDetection, tls: pl.tls }, portLevel: true };
    return { policy: { loadBalancer: p.loadBalancer, connectionPool: p.connectionPool, outlierDetection: p.outlierDetection, tls: p.tls }, portLevel: false };
  };
  const base = atPort(top).policy;
  const sub = atPort(subset);
  if (!sub.policy) return base;
  if (!base) return sub.policy;
  const merged: PortPolicy = { ...base };
  for (const k of ["loadBalancer", "connectionPool", "outlierDetection", "tls"] as const) {
    if (sub.policy[k] !== undefined || sub.portLevel) (merged as Record<string, unknown>)[k] = sub.policy[k];
  }
  return merged;
}

/** Which rule and merged policy a destination gets (Istio: top level, then subset, each at the destination's port). */
export function destinationPolicy(rules: readonly IstioDestinationRule[], d: Destination): PortPolicy | undefined {
  const dr = findDestinationRule(rules, d.host);
  if (!dr) return undefined;
  return mergeTrafficPolicy(dr.trafficPolicy, d.subset ? dr.subsetPolicies[d.subset] : undefined, d.port?.number);
}

function backendOf(rules: readonly IstioDestinationRule[], d: Destination): Backend {
  const policy = backendPolicy(destinationPolicy(rules, d));
  return { host: d.host, ...(d.subset ? { subset: d.subset } : {}), ...(d.port ? { port: d.port.number } : {}), ...(policy ? { policy } : {}) };
}

function retries(r: HTTPRoute["retries"]): Retries | undefined {
  if (!r || !r.attempts) return undefined; // attempts 0 disables retries
  const on: string[] = [];
  const statuses: number[] = [];
  for (const t of (r.retryOn ?? "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes").split(",")) {
    const c = t.trim();
    if (/^\d{3}$/.test(c)) statuses.push(Number(c));
    else if (c) on.push(c);
  }
  if (on.includes("retriable-status-codes") && statuses.length === 0) statuses.push(503); // Istio's default retriable code
  return { attempts: r.attempts, perTryTimeoutMs: ms(r.perTryTimeout, 0), on, statuses };
}

function cors(c: HTTPRoute["corsPolicy"]): Cors | undefined {
  if (!c) return undefined;
  const origins = c.allowOrigins ? c.allowOrigins.map((o) => valueMatch(o)) : (c.allowOrigin ?? []).map((o): ValueMatch => (o === "*" ? { kind: "present" } : { kind: "exact", value: o }));
  return {
    allowOrigins: origins,
    allowMethods: c.allowMethods ?? [],
    allowHeaders: c.allowHeaders ?? [],
    exposeHeaders: c.exposeHeaders ?? [],
    maxAgeSec: c.maxAge ? Math.floor(ms(c.maxAge, 0) / 1000) : undefined,
    allowCredentials: c.allowCredentials,
    unmatchedPreflights: c.unmatchedPreflights === "IGNORE" ? "ignore" : "forward",
  };
}

function action(r: HTTPRoute, rules: readonly IstioDestinationRule[]): Route["action"] {
  if (r.redirect) {
    const d = r.redirect;
    return { kind: "redirect", path: d.uri, authority: d.authority, port: d.port, derivePort: d.derivePort, scheme: d.scheme, status: d.redirectCode ?? 301 };
  }
  if (r.directResponse) {
    const b = r.directResponse.body;
    return { kind: "direct", status: r.directResponse.status, body: b?.string !== undefined ? Buffer.from(b.string) : b?.bytes !== undefined ? Buffer.from(b.bytes, "base64") : undefined };
  }
  const dests = r.route ?? [];
  const mirrors: Mirror[] = [];
  if (r.mirror) mirrors.push({ backend: backendOf(rules, r.mirror), percent: r.mirrorPercentage?.value ?? r.mirrorPercent ?? 100 });
  for (const m of r.mirrors ?? []) mirrors.push({ backend: backendOf(rules, m.destination), percent: m.percentage?.value ?? 100 });
  const rw = r.rewrite;
  const path: PathRewrite | undefined = rw?.uriRegexRewrite ? { kind: "regex", pattern: rw.uriRegexRewrite.match, substitution: rw.uriRegexRewrite.rewrite } : rw?.uri !== undefined ? { kind: "prefix", value: rw.uri } : undefined;
  return {
    kind: "forward",
    // One destination takes everything; several share by weight / sum of weights.
    backends: dests.map((d) => ({ backend: backendOf(rules, d.destination), weight: dests.length === 1 ? 1 : (d.weight ?? 0), headers: headerPolicy(d.headers) })),
    mirrors: mirrors.filter((m) => m.percent > 0),
    rewrite: path || rw?.authority ? { path, authority: rw?.authority } : undefined,
    timeoutMs: r.timeout ? (parseDuration(r.timeout) ?? 0) : 0,
    retries: retries(r.retries),
  };
}

function fault(f: HTTPRoute["fault"]): Fault | undefined {
  if (!f || (!f.delay && !f.abort)) return undefined;
  const out: Fault = {};
  if (f.delay) out.delay = { ms: ms(f.delay.fixedDelay, 0), percent: f.delay.percentage?.value ?? f.delay.percent ?? 100 };
  if (f.abort) {
    const g = f.abort.grpcStatus === undefined ? undefined : grpcCode(f.abort.grpcStatus);
    out.abort = { status: f.abort.httpStatus ?? 200, ...(g !== undefined ? { grpcStatus: g } : {}), percent: f.abort.percentage?.value ?? 100 };
  }
  return out;
}

/** `<VirtualService>/<route name or index>` */
export function routeId(vsName: string, route: { name?: string | undefined }, index: number): string {
  return `${vsName}/${route.name ?? index}`;
}

/**
 * Istio VirtualServices (already validated) and DestinationRules into the model. Match
 * blocks that select sidecars are dropped (a route left without blocks is skipped), each
 * noted once. Several VirtualServices for one host are merged as Istio does on a gateway:
 * their routes concatenated, oldest VirtualService first (`order`: by creationTimestamp,
 * then as given).
 */
export function fromIstio(virtualServices: readonly IstioVirtualService[], rules: readonly IstioDestinationRule[], notes: string[] = []): RoutingModel {
  const virtualHosts: VirtualHost[] = [];
  for (const vs of virtualServices) {
    const routes: Route[] = [];
    vs.http.forEach((r, i) => {
      const id = routeId(vs.name, r, i);
      let matches = (r.match ?? []).map((m) => ({ m, skip: sidecarOnly(m) }));
      const skipped = matches.filter((x) => x.skip);
      if (skipped.length > 0) {
        matches = matches.filter((x) => !x.skip);
        const why = [...new Set(skipped.map((x) => x.skip))].join(", ");
        notes.push(
          matches.length === 0
            ? `VirtualService/${vs.name}: route ${id} skipped: its matches select sidecars (${why}); the proxy is a gateway`
            : `VirtualService/${vs.name}: route ${id}: ${skipped.length} match block(s) skipped: they select sidecars (${why})`,
        );
        if (matches.length === 0) return;
      }
      routes.push({ id, matches: matches.map((x) => routeMatch(x.m)), action: action(r, rules), fault: fault(r.fault), cors: cors(r.corsPolicy), headers: headerPolicy(r.headers) });
    });
    virtualHosts.push({ source: `VirtualService/${vs.name}`, namespace: vs.namespace, hosts: vs.hosts, routes });
  }
  return { virtualHosts, notes };
}
