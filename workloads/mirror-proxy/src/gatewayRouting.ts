/**
 * Gateway API HTTPRoutes once validated (httpRoute.ts): Gateway API's precedence, and the
 * rules turned into the proxy's routing model. Pure and without zod, so the serving process
 * loads it without the schemas (validation runs in its own process, configChecker.ts).
 */
import { parseDuration } from "./duration.ts";
import type { GatewayFilter, GatewayHeaderModifier, GatewayHttpRoute, GatewayRouteMatch, GatewayRule } from "./httpRoute.ts";
import type { HeaderOps, HeaderPolicy, PathRewrite, Route, RouteMatch, ValueMatch, VirtualHost } from "./model.ts";

/** `service:port`, then `service`: the upstreams key a backendRef resolves to. */
export function backendUpstreamKey(upstreams: Record<string, unknown>, ref: { name: string; port?: number }): string | undefined {
  if (ref.port !== undefined && Object.hasOwn(upstreams, `${ref.name}:${ref.port}`)) return `${ref.name}:${ref.port}`;
  return Object.hasOwn(upstreams, ref.name) ? ref.name : undefined;
}

// ---------------------------------------------------------------- precedence

/** One match of one rule, where Gateway API's precedence places it. */
export interface RankedMatch {
  route: GatewayHttpRoute;
  ruleIndex: number;
  rule: GatewayRule;
  /** undefined: the rule has no matches (Gateway API: PathPrefix `/`). */
  match: GatewayRouteMatch | undefined;
  matchIndex: number;
}

function pathRank(m: GatewayRouteMatch | undefined): [number, number] {
  const path = m?.path ?? { type: "PathPrefix", value: "/" };
  // Exact first; then (our choice where the spec leaves regex implementation-specific, as
  // Envoy Gateway does) regular expressions; then prefixes; longer values first in each.
  const kind = path.type === "Exact" ? 0 : path.type === "RegularExpression" ? 1 : 2;
  const value = path.type === "PathPrefix" ? path.value.replace(/\/+$/, "") || "/" : path.value;
  return [kind, -value.length];
}

function routeOrder(a: GatewayHttpRoute, b: GatewayHttpRoute): number {
  const ca = a.created ?? Number.POSITIVE_INFINITY;
  const cb = b.created ?? Number.POSITIVE_INFINITY;
  if (ca !== cb) return ca < cb ? -1 : 1;
  const ka = `${a.namespace ?? ""}/${a.name}`;
  const kb = `${b.namespace ?? ""}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Gateway API precedence (HTTPRouteRule): Exact path, then the longest prefix, then a method
 * match, then the most header matches, then the most query-param matches; ties go to the
 * oldest route, then `<namespace>/<name>` alphabetically, then rule order, then match order.
 */
export function compareRanked(a: RankedMatch, b: RankedMatch): number {
  const [ka, la] = pathRank(a.match);
  const [kb, lb] = pathRank(b.match);
  if (ka !== kb) return ka - kb;
  if (la !== lb) return la - lb;
  const ma = a.match?.method !== undefined ? 0 : 1;
  const mb = b.match?.method !== undefined ? 0 : 1;
  if (ma !== mb) return ma - mb;
  const ha = a.match?.headers?.length ?? 0;
  const hb = b.match?.headers?.length ?? 0;
  if (ha !== hb) return hb - ha;
  const qa = a.match?.queryParams?.length ?? 0;
  const qb = b.match?.queryParams?.length ?? 0;
  if (qa !== qb) return qb - qa;
  return routeOrder(a.route, b.route) || a.ruleIndex - b.ruleIndex || a.matchIndex - b.matchIndex;
}

function ranked(route: GatewayHttpRoute): RankedMatch[] {
  return route.rules.flatMap((rule, ruleIndex): RankedMatch[] => {
    const matches = rule.matches ?? [];
    if (matches.length === 0) return [{ route, ruleIndex, rule, match: undefined, matchIndex: 0 }];
    return matches.map((match, matchIndex) => ({ route, ruleIndex, rule, match, matchIndex }));
  });
}

/** How specifically a route's hostname matches a request host: exact beats a longer wildcard beats a shorter one beats none. */
function hostSpecificity(route: GatewayHttpRoute, host: string): number | undefined {
  if (route.hostnames.length === 0) return 0;
  let best: number | undefined;
  for (const h of route.hostnames) {
    if (h === host) return Number.MAX_SAFE_INTEGER;
    if (h.startsWith("*.") && (host.startsWith("*.") ? host.endsWith(h.slice(1)) : host.endsWith(h.slice(1)) && host.length > h.length - 1)) {
      best = Math.max(best ?? 0, h.length);
    }
  }
  return best;
}

export interface GatewayVirtualHost {
  /** exact name, `*.suffix`, or `*` (routes with no hostnames). */
  host: string;
  /** In the order the proxy tries them: routes with the more specific hostname first, then precedence. */
  matches: RankedMatch[];
  /** The HTTPRoutes that contribute. */
  routes: string[];
}

/**
 * Per request-host key, every match that can serve it, in Gateway API's order: the routes
 * whose hostname matches most specifically first (exact, then longer wildcards, then routes
 * without hostnames), precedence within. A request host is looked up exact, then by the
 * longest wildcard, then `*`, so each key lists everything that could apply to its hosts.
 */
export function orderGatewayRoutes(routes: readonly GatewayHttpRoute[]): GatewayVirtualHost[] {
  const keys = new Set<string>();
  for (const r of routes) {
    if (r.hostnames.length === 0) keys.add("*");
    for (const h of r.hostnames) keys.add(h);
  }
  const out: GatewayVirtualHost[] = [];
  for (const host of [...keys].sort()) {
    const applicable = routes
      .map((route) => ({ route, spec: host === "*" ? (route.hostnames.length === 0 ? 0 : undefined) : hostSpecificity(route, host) }))
      .filter((x): x is { route: GatewayHttpRoute; spec: number } => x.spec !== undefined);
    const bySpec = new Map<number, RankedMatch[]>();
    for (const { route, spec } of applicable) bySpec.set(spec, [...(bySpec.get(spec) ?? []), ...ranked(route)]);
    const matches = [...bySpec.entries()].sort((a, b) => b[0] - a[0]).flatMap(([, list]) => list.sort(compareRanked));
    out.push({ host, matches, routes: [...new Set(applicable.map((a) => a.route.name))] });
  }
  return out;
}

/**
 * The routes as the compare check sees VirtualServices: per rule its name and whether it
 * mirrors, so `spec.compare.routes` may name `<HTTPRoute>/<rule name or index>` or a rule name.
 */
export function compareView(routes: readonly GatewayHttpRoute[]) {
  return routes.map((r) => ({
    name: r.name,
    hosts: [] as string[],
    http: r.rules.map((rule) => {
      const mirrors = (rule.filters ?? []).filter((f) => f.type === "RequestMirror").map((f) => ({ destination: { host: f.requestMirror!.backendRef.name } }));
      return { ...(rule.name ? { name: rule.name } : {}), route: [] as { destination: { host: string } }[], ...(mirrors.length > 0 ? { mirrors } : {}) };
    }),
  }));
}

// ---------------------------------------------------------------- into the routing model

/**
 * Gateway API's ReplacePrefixMatch: the matched prefix (element-wise, a trailing `/` in it
 * or in the replacement ignored) replaced, the rest kept; never an empty path.
 * `/prefix/one/two` with prefix `/prefix/one` and `/one` -> `/one/two`; `/strip/x` with `/` -> `/x`.
 */
export function replacePrefixMatch(path: string, prefix: string, replacement: string): string {
  const p = prefix.replace(/\/+$/, "");
  const rest = path.slice(p.length); // "" or "/..." for a path the prefix matched
  const r = replacement.replace(/\/+$/, "");
  const out = r + rest;
  return out === "" ? "/" : out.startsWith("/") ? out : `/${out}`;
}

/** PathPrefix is element-wise (the model's `pathPrefix`): `/a` matches `/a`, `/a/`, `/a/b`, not `/ab`. */
function pathValueMatch(path: GatewayRouteMatch["path"]): ValueMatch | undefined {
  if (!path) return undefined;
  if (path.type === "Exact") return { kind: "exact", value: path.value };
  if (path.type === "RegularExpression") return { kind: "regex", value: path.value };
  if (path.value.replace(/\/+$/, "") === "") return undefined; // `/`: every path
  return { kind: "pathPrefix", value: path.value };
}

function modelMatch(m: GatewayRouteMatch | undefined): RouteMatch {
  const out: RouteMatch = { headers: [], queryParams: [] };
  if (!m) return out;
  const path = pathValueMatch(m.path);
  if (path) out.path = path;
  if (m.method) out.method = { kind: "exact", value: m.method };
  const vm = (h: { type: "Exact" | "RegularExpression"; value: string }): ValueMatch => (h.type === "Exact" ? { kind: "exact", value: h.value } : { kind: "regex", value: h.value });
  for (const h of m.headers ?? []) out.headers.push({ name: h.name.toLowerCase(), match: vm(h) });
  for (const q of m.queryParams ?? []) out.queryParams.push({ name: q.name, match: vm(q) });
  return out;
}

function headerOpsOf(m: GatewayHeaderModifier | undefined): HeaderOps | undefined {
  if (!m) return undefined;
  return { set: (m.set ?? []).map((h) => [h.name, h.value]), add: (m.add ?? []).map((h) => [h.name, h.value]), remove: (m.remove ?? []).map((n) => n.toLowerCase()) };
}

function headerPolicyOf(filters: GatewayFilter[] | undefined): HeaderPolicy | undefined {
  const request = headerOpsOf(filters?.find((f) => f.type === "RequestHeaderModifier")?.requestHeaderModifier);
  const response = headerOpsOf(filters?.find((f) => f.type === "ResponseHeaderModifier")?.responseHeaderModifier);
  return request || response ? { ...(request ? { request } : {}), ...(response ? { response } : {}) } : undefined;
}

function percentOf(m: NonNullable<GatewayFilter["requestMirror"]>): number {
  if (m.fraction) return (m.fraction.numerator / m.fraction.denominator) * 100;
  return m.percent ?? 100;
}

function actionOf(rule: GatewayRule, match: GatewayRouteMatch | undefined, upstreams: Record<string, unknown>): Route["action"] {
  const filters = rule.filters ?? [];
  const key = (ref: { name: string; port?: number }) => backendUpstreamKey(upstreams, ref) ?? ref.name; // validated: found
  const redirect = filters.find((f) => f.type === "RequestRedirect")?.requestRedirect;
  if (redirect) {
    const prefix = match?.path?.type === "PathPrefix" ? match.path.value : "/";
    const path = redirect.path;
    return {
      kind: "redirect",
      ...(path?.type === "ReplaceFullPath" ? { path: path.replaceFullPath } : {}),
      ...(path?.type === "ReplacePrefixMatch" ? { pathRewrite: { kind: "replacePrefix", prefix, value: path.replacePrefixMatch! } } : {}),
      ...(redirect.hostname ? { authority: redirect.hostname } : {}),
      ...(redirect.port !== undefined ? { port: redirect.port } : {}),
      // Gateway API: without a port, a changed scheme takes its well-known port (left out of Location).
      ...(redirect.port === undefined && redirect.scheme ? { derivePort: "FROM_PROTOCOL_DEFAULT" as const } : {}),
      ...(redirect.scheme ? { scheme: redirect.scheme } : {}),
      status: redirect.statusCode,
    };
  }
  const refs = rule.backendRefs ?? [];
  // Gateway API: every weight 0 -> 500 for the rule's requests.
  if (refs.every((b) => b.weight === 0)) return { kind: "direct", status: 500 };
  const rewrite = filters.find((f) => f.type === "URLRewrite")?.urlRewrite;
  const rewritePath: PathRewrite | undefined =
    rewrite?.path?.type === "ReplaceFullPath"
      ? { kind: "full", value: rewrite.path.replaceFullPath! }
      : rewrite?.path?.type === "ReplacePrefixMatch"
        ? { kind: "replacePrefix", prefix: match?.path?.value ?? "/", value: rewrite.path.replacePrefixMatch! }
        : undefined;
  const timeoutMs = rule.timeouts?.request ? (parseDuration(rule.timeouts.request) ?? 0) : 0;
  return {
    kind: "forward",
    backends: refs.map((b) => ({ backend: { host: key(b) }, weight: refs.length === 1 ? 1 : b.weight, ...(b.filters ? { headers: headerPolicyOf(b.filters) } : {}) })),
    mirrors: filters
      .filter((f) => f.type === "RequestMirror")
      .map((f) => ({ backend: { host: key(f.requestMirror!.backendRef) }, percent: percentOf(f.requestMirror!) }))
      .filter((m) => m.percent > 0),
    ...(rewritePath || rewrite?.hostname ? { rewrite: { ...(rewritePath ? { path: rewritePath } : {}), ...(rewrite?.hostname ? { authority: rewrite.hostname } : {}) } } : {}),
    timeoutMs,
  };
}

/** `<HTTPRoute>/<rule name or index>`: the metrics label and a `spec.compare.routes` entry. */
export function gatewayRouteId(route: GatewayHttpRoute, rule: GatewayRule, index: number): string {
  return `${route.name}/${rule.name ?? index}`;
}

/**
 * Validated HTTPRoutes into the routing model: one virtual host per hostname key, its routes
 * one per match in Gateway API's order (the model takes the first that matches).
 */
export function fromGatewayApi(routes: readonly GatewayHttpRoute[], upstreams: Record<string, unknown>): VirtualHost[] {
  return orderGatewayRoutes(routes).map((vh) => ({
    source: `HTTPRoute/${vh.routes.join("+")}`,
    hosts: [vh.host],
    routes: vh.matches.map(
      (m): Route => ({
        id: gatewayRouteId(m.route, m.rule, m.ruleIndex),
        matches: [modelMatch(m.match)],
        action: actionOf(m.rule, m.match, upstreams),
        ...(headerPolicyOf(m.rule.filters) ? { headers: headerPolicyOf(m.rule.filters) } : {}),
      }),
    ),
  }));
}
