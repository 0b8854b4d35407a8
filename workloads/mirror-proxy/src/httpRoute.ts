/**
 * Gateway API `HTTPRoute` documents in the proxy's config file (gateway.networking.k8s.io v1
 * and v1beta1), validated and ordered by Gateway API's precedence. Pure: parse -> validated
 * routes -> per-host rule lists in match order, which model compilation turns into the
 * proxy's routing model (first match wins there, so the order below *is* the precedence).
 *
 * Supported: matches (path Exact / PathPrefix / RegularExpression, headers Exact /
 * RegularExpression, queryParams Exact / RegularExpression, method), backendRefs with weights
 * (resolved through MirrorProxy spec.upstreams by `service:port` or `service`), filters
 * RequestMirror (one or several, percent or fraction), RequestHeaderModifier,
 * ResponseHeaderModifier, RequestRedirect, URLRewrite, and timeouts.request. Anything else
 * is refused with one problem naming the field.
 */
import { z } from "zod";
import type { HeaderOps, HeaderPolicy, PathRewrite, Route, RouteMatch, ValueMatch, VirtualHost } from "./model.ts";
import { checkRe2Regex, parseDuration, str } from "./syntax.ts";

export const GATEWAY_API_VERSIONS = ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"];

/** Fields Gateway API defines that the proxy does not implement: refused with this reason. */
export const UNSUPPORTED_GATEWAY_FIELDS: Record<string, string> = {
  retry: "retries",
  sessionPersistence: "session persistence",
  backendRequest: "per-backend-request timeouts",
  useDefaultGateways: "default gateways",
  cors: "CORS",
  extensionRef: "extension filters",
  externalAuth: "external authorization",
  group: "backends other than Services",
  kind: "backends other than Services",
};

const name = () => str().min(1, "must not be empty");
const matchType = <T extends string>(types: readonly [T, ...T[]], fallback: T) =>
  z.enum(types, { error: `must be one of ${types.join(", ")}` }).default(fallback);

const HeaderMatch = z.strictObject({ type: matchType(["Exact", "RegularExpression"], "Exact"), name: name(), value: str() });
const PathMatch = z.strictObject({ type: matchType(["Exact", "PathPrefix", "RegularExpression"], "PathPrefix"), value: str().default("/") });
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"] as const;

const RouteMatch = z.strictObject({
  path: PathMatch.optional(),
  headers: z.array(HeaderMatch).max(16, "at most 16").optional(),
  queryParams: z.array(HeaderMatch).max(16, "at most 16").optional(),
  method: z.enum(METHODS, { error: `must be one of ${METHODS.join(", ")}` }).optional(),
});

const HeaderModifier = z.strictObject({
  set: z.array(z.strictObject({ name: name(), value: str() })).max(16, "at most 16").optional(),
  add: z.array(z.strictObject({ name: name(), value: str() })).max(16, "at most 16").optional(),
  remove: z.array(name()).max(16, "at most 16").optional(),
});

const ServiceRef = {
  name: name(),
  namespace: str().optional(),
  port: z.number({ error: "must be a port number" }).int().min(1, "must be 1-65535").max(65535, "must be 1-65535").optional(),
  // Only core Services: "" / Service are accepted, anything else refused by name below.
  group: z.literal("").optional(),
  kind: z.literal("Service").optional(),
};

const PathModifier = z.strictObject({
  type: z.enum(["ReplaceFullPath", "ReplacePrefixMatch"], { error: "must be ReplaceFullPath or ReplacePrefixMatch" }),
  replaceFullPath: str().optional(),
  replacePrefixMatch: str().optional(),
});

const Filter = z.strictObject({
  // CORS, ExtensionRef and ExternalAuth are Gateway API's: accepted here so that the one problem names them (checkHttpRoute).
  type: z.enum(["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "RequestRedirect", "URLRewrite", "CORS", "ExtensionRef", "ExternalAuth"], {
    error: "must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite",
  }),
  requestHeaderModifier: HeaderModifier.optional(),
  responseHeaderModifier: HeaderModifier.optional(),
  requestMirror: z
    .strictObject({
      backendRef: z.strictObject(ServiceRef),
      percent: z.number({ error: "must be a number" }).int("must be an integer").min(0, "must be between 0 and 100").max(100, "must be between 0 and 100").optional(),
      fraction: z.strictObject({ numerator: z.number().int().min(0, "must be at least 0"), denominator: z.number().int().min(1, "must be at least 1").default(100) }).optional(),
    })
    .optional(),
  requestRedirect: z
    .strictObject({
      scheme: z.enum(["http", "https"], { error: "must be http or https" }).optional(),
      hostname: str().optional(),
      path: PathModifier.optional(),
      port: z.number().int().min(1, "must be 1-65535").max(65535, "must be 1-65535").optional(),
      statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)], { error: "must be 301, 302, 303, 307 or 308" }).default(302),
    })
    .optional(),
  urlRewrite: z.strictObject({ hostname: str().optional(), path: PathModifier.optional() }).optional(),
});
export type GatewayFilter = z.infer<typeof Filter>;

const BackendRef = z.strictObject({
  ...ServiceRef,
  weight: z.number({ error: "must be a number" }).int("must be an integer").min(0, "must be at least 0").max(1000000, "must be at most 1000000").default(1),
  filters: z.array(Filter).optional(),
});

const Rule = z.strictObject({
  name: str().optional(),
  matches: z.array(RouteMatch).max(64, "at most 64").optional(),
  filters: z.array(Filter).max(16, "at most 16").optional(),
  backendRefs: z.array(BackendRef).max(16, "at most 16").optional(),
  timeouts: z.strictObject({ request: str().optional() }).optional(),
});

const HttpRouteDoc = z.strictObject({
  apiVersion: str(),
  kind: z.literal("HTTPRoute"),
  metadata: z.looseObject({ name: name(), namespace: str().optional(), creationTimestamp: z.union([str(), z.date()]).optional() }),
  spec: z.strictObject({
    // Accepted and ignored: the proxy *is* the Gateway, serving every HTTPRoute it is given.
    parentRefs: z.array(z.looseObject({ name: name() })).optional(),
    hostnames: z.array(str()).max(16, "at most 16").optional(),
    rules: z.array(Rule).max(16, "at most 16").default([{}]),
  }),
  status: z.unknown().optional(),
});

export type GatewayRouteMatch = z.infer<typeof RouteMatch>;
export type GatewayBackendRef = z.infer<typeof BackendRef>;
export type GatewayRule = z.infer<typeof Rule>;

/** A validated HTTPRoute. `order` breaks precedence ties: creation time, then `<namespace>/<name>`. */
export interface GatewayHttpRoute {
  name: string;
  namespace?: string;
  hostnames: string[];
  rules: GatewayRule[];
  /** Epoch ms of metadata.creationTimestamp; undefined when absent (sorts after dated routes). */
  created?: number;
}

export interface RouteProblem {
  path: string;
  problem: string;
  value?: unknown;
}

/** zod's result for one HTTPRoute document: the route, or the raw zod error for the caller's formatter. */
export function parseHttpRouteDoc(raw: unknown): { route?: GatewayHttpRoute; error?: z.ZodError } {
  const r = HttpRouteDoc.safeParse(raw);
  if (!r.success) return { error: r.error };
  const ts = r.data.metadata.creationTimestamp;
  const created = ts === undefined ? undefined : new Date(ts).getTime();
  return {
    route: {
      name: r.data.metadata.name,
      namespace: r.data.metadata.namespace,
      hostnames: r.data.spec.hostnames ?? [],
      rules: r.data.spec.rules,
      ...(created !== undefined && Number.isFinite(created) ? { created } : {}),
    },
  };
}

const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `service:port`, then `service`: the upstreams key a backendRef resolves to. */
export function backendUpstreamKey(upstreams: Record<string, unknown>, ref: { name: string; port?: number }): string | undefined {
  if (ref.port !== undefined && Object.hasOwn(upstreams, `${ref.name}:${ref.port}`)) return `${ref.name}:${ref.port}`;
  return Object.hasOwn(upstreams, ref.name) ? ref.name : undefined;
}

/**
 * Checks zod cannot express: Gateway API's own rules (one redirect or rewrite, prefix
 * rewrites only under PathPrefix matches, unique header names), RE2 regexes, durations, and
 * that every backend has an upstream. Problems are pushed with their field paths.
 */
export function checkHttpRoute(route: GatewayHttpRoute, upstreams: Record<string, unknown> | undefined, problems: RouteProblem[]): void {
  const add = (path: string, problem: string, value?: unknown) => problems.push({ path, problem, value });
  route.hostnames.forEach((h, i) => {
    if (!HOSTNAME.test(h)) add(`spec.hostnames[${i}]`, "must be a lower-case DNS name or `*.suffix` (Gateway API has no bare `*`: leave hostnames out)", h);
  });
  const backend = (path: string, ref: { name: string; port?: number; namespace?: string }) => {
    if (ref.namespace !== undefined && ref.namespace !== route.namespace) add(`${path}.namespace`, "cross-namespace backends are not supported (no ReferenceGrant here)", ref.namespace);
    if (upstreams && backendUpstreamKey(upstreams, ref) === undefined) {
      const want = ref.port !== undefined ? `"${ref.name}:${ref.port}" or "${ref.name}"` : `"${ref.name}"`;
      add(path, `no upstream for ${want} in MirrorProxy spec.upstreams`, ref);
    }
  };
  const headerNames = (path: string, m: { set?: { name: string }[]; add?: { name: string }[]; remove?: string[] } | undefined) => {
    for (const list of ["set", "add"] as const) {
      const seen = new Set<string>();
      (m?.[list] ?? []).forEach((h, i) => {
        const key = h.name.toLowerCase();
        if (seen.has(key)) add(`${path}.${list}[${i}].name`, "duplicate header name (names are case-insensitive)", h.name);
        seen.add(key);
      });
    }
  };
  const filters = (path: string, list: GatewayFilter[] | undefined, rule: GatewayRule | undefined) => {
    const counts = new Map<string, number>();
    (list ?? []).forEach((f, i) => {
      const p = `${path}[${i}]`;
      counts.set(f.type, (counts.get(f.type) ?? 0) + 1);
      if (f.type === "CORS" || f.type === "ExtensionRef" || f.type === "ExternalAuth") {
        add(`${p}.type`, `not supported by mirror-proxy (Gateway API ${f.type} filter)`, f.type);
        return;
      }
      if (f.type !== "RequestMirror" && counts.get(f.type)! > 1) add(`${p}.type`, `${f.type} may appear once per list`, f.type);
      const field = { RequestHeaderModifier: "requestHeaderModifier", ResponseHeaderModifier: "responseHeaderModifier", RequestMirror: "requestMirror", RequestRedirect: "requestRedirect", URLRewrite: "urlRewrite" }[f.type];
      for (const other of ["requestHeaderModifier", "responseHeaderModifier", "requestMirror", "requestRedirect", "urlRewrite"] as const) {
        if (other === field && f[other] === undefined) add(`${p}.${other}`, `required for type ${f.type}`);
        if (other !== field && f[other] !== undefined) add(`${p}.${other}`, `must not be set for type ${f.type}`);
      }
      if (f.requestHeaderModifier) headerNames(`${p}.requestHeaderModifier`, f.requestHeaderModifier);
      if (f.responseHeaderModifier) headerNames(`${p}.responseHeaderModifier`, f.responseHeaderModifier);
      if (f.requestMirror) {
        const m = f.requestMirror;
        if (m.percent !== undefined && m.fraction !== undefined) add(`${p}.requestMirror`, "set only one of percent, fraction");
        if (m.fraction && m.fraction.numerator > m.fraction.denominator) add(`${p}.requestMirror.fraction`, "numerator must not exceed denominator", m.fraction);
        backend(`${p}.requestMirror.backendRef`, m.backendRef);
      }
      const pathMod = f.requestRedirect?.path ?? f.urlRewrite?.path;
      if (pathMod) {
        const where = `${p}.${f.requestRedirect ? "requestRedirect" : "urlRewrite"}.path`;
        const value = pathMod.type === "ReplaceFullPath" ? pathMod.replaceFullPath : pathMod.replacePrefixMatch;
        const wrong = pathMod.type === "ReplaceFullPath" ? "replacePrefixMatch" : "replaceFullPath";
        if (value === undefined) add(where, `${pathMod.type} needs ${pathMod.type === "ReplaceFullPath" ? "replaceFullPath" : "replacePrefixMatch"}`);
        else if (!value.startsWith("/")) add(where, "must start with /", value);
        if (pathMod[wrong] !== undefined) add(`${where}.${wrong}`, `must not be set with type ${pathMod.type}`);
        if (pathMod.type === "ReplacePrefixMatch" && rule) {
          const matches = rule.matches ?? [];
          if (matches.length !== 1 || (matches[0].path?.type ?? "PathPrefix") !== "PathPrefix") {
            add(where, "ReplacePrefixMatch needs exactly one match, of type PathPrefix (Gateway API)", matches.length);
          }
        }
      }
      if (f.requestRedirect?.hostname !== undefined && !HOSTNAME.test(f.requestRedirect.hostname)) add(`${p}.requestRedirect.hostname`, "must be a DNS name", f.requestRedirect.hostname);
      if (f.urlRewrite?.hostname !== undefined && !HOSTNAME.test(f.urlRewrite.hostname)) add(`${p}.urlRewrite.hostname`, "must be a DNS name", f.urlRewrite.hostname);
    });
    if ((counts.get("RequestRedirect") ?? 0) > 0 && (counts.get("URLRewrite") ?? 0) > 0) add(path, "RequestRedirect and URLRewrite cannot be used together (Gateway API)");
  };

  route.rules.forEach((rule, i) => {
    const p = `spec.rules[${i}]`;
    (rule.matches ?? []).forEach((m, j) => {
      const mp = `${p}.matches[${j}]`;
      if (m.path) {
        if (m.path.type === "RegularExpression") {
          const err = checkRe2Regex(m.path.value);
          if (err) add(`${mp}.path.value`, err, m.path.value);
        } else if (!m.path.value.startsWith("/")) add(`${mp}.path.value`, "must start with /", m.path.value);
      }
      for (const list of ["headers", "queryParams"] as const) {
        const seen = new Set<string>();
        (m[list] ?? []).forEach((h, k) => {
          if (h.type === "RegularExpression") {
            const err = checkRe2Regex(h.value);
            if (err) add(`${mp}.${list}[${k}].value`, err, h.value);
          }
          const key = list === "headers" ? h.name.toLowerCase() : h.name;
          if (seen.has(key)) add(`${mp}.${list}[${k}].name`, "duplicate name: Gateway API uses only the first", h.name);
          seen.add(key);
        });
      }
    });
    filters(`${p}.filters`, rule.filters, rule);
    const redirects = (rule.filters ?? []).some((f) => f.type === "RequestRedirect");
    if (redirects && (rule.backendRefs ?? []).length > 0) add(`${p}.backendRefs`, "a rule with RequestRedirect answers the redirect itself: it must not list backendRefs");
    if (!redirects && (rule.backendRefs ?? []).length === 0) add(`${p}.backendRefs`, "must list at least one backend (or use a RequestRedirect filter)");
    (rule.backendRefs ?? []).forEach((b, j) => {
      backend(`${p}.backendRefs[${j}]`, b);
      filters(`${p}.backendRefs[${j}].filters`, b.filters, undefined);
      (b.filters ?? []).forEach((f, k) => {
        if (f.type !== "RequestHeaderModifier" && f.type !== "ResponseHeaderModifier") add(`${p}.backendRefs[${j}].filters[${k}].type`, "per-backend filters: only RequestHeaderModifier and ResponseHeaderModifier are supported", f.type);
      });
    });
    if (rule.timeouts?.request !== undefined && parseDuration(rule.timeouts.request) === undefined) add(`${p}.timeouts.request`, "must be a duration like 1s, 500ms or 1m", rule.timeouts.request);
  });
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

function headerOpsOf(m: z.infer<typeof HeaderModifier> | undefined): HeaderOps | undefined {
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
