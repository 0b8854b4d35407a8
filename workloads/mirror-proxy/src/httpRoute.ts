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
import { backendUpstreamKey } from "./gatewayRouting.ts";
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
export type GatewayHeaderModifier = z.infer<typeof HeaderModifier>;

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

// Precedence and the routing model (pure, no zod: the serving process runs them) are
// gatewayRouting.ts's; re-exported for the modules and tests that know them from here.
export { backendUpstreamKey, compareRanked, compareView, fromGatewayApi, gatewayRouteId, orderGatewayRoutes, replacePrefixMatch, type GatewayVirtualHost, type RankedMatch } from "./gatewayRouting.ts";
