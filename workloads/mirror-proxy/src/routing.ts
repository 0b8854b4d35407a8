/**
 * Istio HTTP routing semantics: the routing model (model.ts) compiled once per config load
 * into plain closures, so the per-request work is a Map lookup plus a few string
 * comparisons, and a feature a route does not use costs nothing. Pure: no I/O.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { MirrorProxyConfig, MirrorProxySettings } from "./config.ts";
import { resolveUpstreamKey } from "./proxyConfig.ts";
import { fromIstio, type Backend, type Cors, type HeaderOps, type HeaderPolicy, type Route, type RouteMatch, type RoutingModel, type ValueMatch } from "./model.ts";
import { Cluster, newUpstream, type PolicyEvents, type Upstream } from "./policy.ts";
import { compileRe2, re2Rewriter } from "./regex.ts";

export { Cluster, newUpstream, type Upstream };
/** An upstreams entry with its policy (policy.ts); the name the proxy used before clusters had policies. */
export type UpstreamGroup = Cluster;
import { fromGatewayApi, replacePrefixMatch } from "./gatewayRouting.ts";

/** What routing looks at in a request. `host` is lower-case with the port stripped. */
export interface RequestInfo {
  host: string;
  authority: string;
  method: string;
  path: string;
  /** Raw query string without the leading `?` ("" when none). */
  query: string;
  scheme: string;
  headers: IncomingHttpHeaders;
}

/** The group's next member, round-robin (mirrors; the primary goes through Cluster.choose). */
export function nextMember(g: Cluster): Upstream {
  return g.next();
}

/** A member other than `than` when the group has several (the next one after it), else the only one. */
export function otherMember(g: Cluster, than: Upstream): Upstream {
  return g.other(than);
}

export interface MirrorTarget {
  upstream: Cluster;
  /** 0..100; a copy is sent when Math.random() * 100 < percent. */
  percent: number;
}

/** Header operations compiled: `set` replaces, `add` appends, `remove` drops (lower-case names). */
export interface CompiledOps {
  set: [string, string][];
  add: [string, string][];
  /** Lower-case names that `set` replaces or `remove` drops. */
  drop: Set<string>;
}

/** A weighted destination: its cluster and the header operations of the destination and the route, in Envoy's order. */
export interface Target {
  cluster: Cluster;
  request: CompiledOps | undefined;
  response: CompiledOps | undefined;
}

export interface CompiledCors {
  origin: (origin: string) => boolean;
  allowMethods: string;
  allowHeaders: string;
  exposeHeaders: string;
  maxAge: string;
  allowCredentials: boolean;
  forwardUnmatched: boolean;
}

export interface CompiledRoute {
  /** Metrics label: `<VirtualService name>/<route name or index>`. One per Istio route, shared by its match blocks. */
  id: string;
  matches(req: RequestInfo, q: QueryCache): boolean;
  /** `forward` to `pick(...)`, or answer a `redirect` / `direct` response here. */
  kind: "forward" | "redirect" | "direct";
  /** The destination for a weight draw `rand` in [0, 1). */
  pick(rand: number): Target;
  /** Primary timeout in ms; 0 = none (Istio's default). */
  timeoutMs: number;
  mirrors: MirrorTarget[];
  /** New path (without the query) for the primary and its copies; undefined = unchanged. */
  rewritePath: ((path: string) => string) | undefined;
  rewriteAuthority: string | undefined;
  retries: { attempts: number; perTryTimeoutMs: number; onConnect: boolean; onReset: boolean; retriable: (status: number) => boolean } | undefined;
  fault: { delayMs: number; delayPercent: number; abortStatus: number; abortPercent: number; grpcStatus: number | undefined; hasAbort: boolean; hasDelay: boolean } | undefined;
  cors: CompiledCors | undefined;
  redirect: { location: (scheme: string, authority: string, path: string, query: string) => string; status: number } | undefined;
  direct: { status: number; body: Buffer | undefined } | undefined;
  /** Route-level response header operations (for redirect / direct responses; `pick` carries them for forwards). */
  response: CompiledOps | undefined;
  /** True when a match or the load balancer reads request headers (so `req.headers` is built). */
  readsHeaders: boolean;
}

export interface CompiledVirtualService {
  name: string;
  routes: CompiledRoute[];
}

export interface Routing {
  settings: MirrorProxySettings;
  /** Every cluster: the policy-free one of each spec.upstreams key under that key, those with a DestinationRule policy under `key\0policy`. */
  upstreams: Map<string, Cluster>;
  exactHosts: Map<string, CompiledVirtualService>;
  /** `*.suffix` hosts, longest suffix first (most specific wins); suffix includes the dot. */
  wildcardHosts: { suffix: string; vs: CompiledVirtualService }[];
  anyHost?: CompiledVirtualService;
  /** Load-time notes (accepted but skipped or without effect), one line each. */
  notes: string[];
}

/** Lazily parsed query string, shared by all matchers of one request. */
export interface QueryCache {
  params?: URLSearchParams;
}

type ValueTest = (v: string | undefined) => boolean;

function valueTest(m: ValueMatch): ValueTest {
  if (m.kind === "present") return (v) => v !== undefined;
  const ignoreCase = m.ignoreCase === true;
  if (m.kind === "exact") {
    const want = ignoreCase ? m.value.toLowerCase() : m.value;
    return ignoreCase ? (v) => v !== undefined && v.toLowerCase() === want : (v) => v === want;
  }
  if (m.kind === "prefix") {
    const want = ignoreCase ? m.value.toLowerCase() : m.value;
    return ignoreCase ? (v) => v !== undefined && v.toLowerCase().startsWith(want) : (v) => v !== undefined && v.startsWith(want);
  }
  if (m.kind === "pathPrefix") {
    const want = m.value.replace(/\/+$/, "");
    if (want === "") return (v) => v !== undefined;
    const dir = `${want}/`;
    return (v) => v !== undefined && (v === want || v.startsWith(dir));
  }
  const re = compileRe2(m.value, ignoreCase);
  return (v) => v !== undefined && re.test(v);
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/** The port a request was addressed to: its authority's, else 80 (this listener speaks http). */
export function authorityPort(authority: string): number {
  const colon = authority.lastIndexOf(":");
  if (colon < 0 || authority.endsWith("]")) return 80;
  const n = Number(authority.slice(colon + 1));
  return Number.isInteger(n) && n > 0 ? n : 80;
}

type Condition = (req: RequestInfo, q: QueryCache) => boolean;

function compileMatch(m: RouteMatch): Condition {
  const conds: Condition[] = [];
  if (m.path) {
    const t = valueTest(m.path);
    conds.push((r) => t(r.path));
  }
  if (m.pathWithQuery) {
    const t = valueTest(m.pathWithQuery);
    conds.push((r) => t(r.query === "" ? r.path : `${r.path}?${r.query}`));
  }
  if (m.scheme) {
    const t = valueTest(m.scheme);
    conds.push((r) => t(r.scheme));
  }
  if (m.method) {
    const t = valueTest(m.method);
    conds.push((r) => t(r.method));
  }
  if (m.authority) {
    const t = valueTest(m.authority);
    conds.push((r) => t(r.authority));
  }
  if (m.port !== undefined) {
    const port = m.port;
    conds.push((r) => authorityPort(r.authority) === port);
  }
  for (const h of m.headers) {
    const t = valueTest(h.match);
    const name = h.name;
    if (!h.invert) conds.push((r) => t(headerValue(r.headers, name)));
    else if (h.missingAsEmpty) conds.push((r) => !t(headerValue(r.headers, name) ?? ""));
    // "No header `name` matching": an absent header satisfies it.
    else conds.push((r) => !t(headerValue(r.headers, name)));
  }
  for (const { name, match } of m.queryParams) {
    const t = valueTest(match);
    conds.push((r, q) => {
      if (r.query === "") return t(undefined);
      q.params ??= new URLSearchParams(r.query);
      const v = q.params.get(name);
      return t(v === null ? undefined : v);
    });
  }
  if (conds.length === 0) return () => true;
  if (conds.length === 1) return conds[0];
  return (r, q) => {
    for (const c of conds) if (!c(r, q)) return false;
    return true;
  };
}

function parseUpstream(key: string, url: string, tls: boolean): Upstream {
  const u = new URL(url);
  const https = u.protocol === "https:";
  return newUpstream({
    key,
    hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
    port: u.port ? Number(u.port) : https ? 443 : 80,
    basePath: u.pathname.replace(/\/+$/, ""),
    tls: tls || https,
  });
}

/** Envoy's order: the destination's operations first, then the route's (so the route's `set` wins). */
function compileOps(...list: (HeaderOps | undefined)[]): CompiledOps | undefined {
  const ops = list.filter((o): o is HeaderOps => o !== undefined && o.set.length + o.add.length + o.remove.length > 0);
  if (ops.length === 0) return undefined;
  const out: CompiledOps = { set: [], add: [], drop: new Set() };
  for (const o of ops) {
    for (const n of o.remove) {
      out.drop.add(n);
      out.set = out.set.filter(([k]) => k.toLowerCase() !== n);
      out.add = out.add.filter(([k]) => k.toLowerCase() !== n);
    }
    for (const [k, v] of o.set) {
      const lower = k.toLowerCase();
      out.drop.add(lower);
      out.set = out.set.filter(([x]) => x.toLowerCase() !== lower);
      out.add = out.add.filter(([x]) => x.toLowerCase() !== lower);
      out.set.push([k, v]);
    }
    for (const kv of o.add) out.add.push(kv);
  }
  return out;
}

function compileCors(c: Cors): CompiledCors {
  const tests = c.allowOrigins.map(valueTest);
  return {
    origin: (o) => tests.some((t) => t(o)),
    allowMethods: c.allowMethods.join(","),
    allowHeaders: c.allowHeaders.join(","),
    exposeHeaders: c.exposeHeaders.join(","),
    maxAge: c.maxAgeSec === undefined ? "" : String(c.maxAgeSec),
    allowCredentials: c.allowCredentials === true,
    forwardUnmatched: c.unmatchedPreflights === "forward",
  };
}

/** Istio's rewrite.uri: replaces the prefix the block matched (all of an exact/regex-matched path, `/` when the path was not tested). */
function pathRewriter(route: Route, m: RouteMatch | undefined): ((path: string) => string) | undefined {
  if (route.action.kind !== "forward") return undefined;
  const rw = route.action.rewrite?.path;
  if (!rw) return undefined;
  if (rw.kind === "full") return () => rw.value;
  if (rw.kind === "replacePrefix") return (p) => replacePrefixMatch(p, rw.prefix, rw.value);
  if (rw.kind === "regex") return re2Rewriter(rw.pattern, rw.substitution);
  const pm = m?.path;
  if (pm?.kind === "prefix" || pm?.kind === "pathPrefix") {
    const len = pm.value.length;
    return (p) => rw.value + p.slice(len);
  }
  if (pm && pm.kind !== "present") return () => rw.value;
  return (p) => rw.value + p.slice(1);
}

function redirectOf(route: Route): CompiledRoute["redirect"] {
  const a = route.action;
  if (a.kind !== "redirect") return undefined;
  return {
    status: a.status,
    location: (scheme, authority, path, query) => {
      const sch = a.scheme ?? scheme;
      let host = a.authority ?? authority;
      // Envoy: an explicit port replaces the authority's; FROM_PROTOCOL_DEFAULT drops it; a default port is left out.
      const colon = host.lastIndexOf(":");
      const hasPort = colon > 0 && !host.endsWith("]");
      const bare = hasPort ? host.slice(0, colon) : host;
      if (a.port !== undefined) host = a.port === (sch === "https" ? 443 : 80) ? bare : `${bare}:${a.port}`;
      else if (a.derivePort === "FROM_PROTOCOL_DEFAULT") host = bare;
      else if (a.scheme !== undefined && hasPort && a.scheme !== scheme) host = bare;
      const p = a.path ?? (a.pathRewrite?.kind === "replacePrefix" ? replacePrefixMatch(path, a.pathRewrite.prefix, a.pathRewrite.value) : path);
      return `${sch}://${host}${p}${query === "" || a.path?.includes("?") ? "" : `?${query}`}`;
    },
  };
}

function retriesOf(route: Route): CompiledRoute["retries"] {
  if (route.action.kind !== "forward" || !route.action.retries) return undefined;
  const r = route.action.retries;
  const on = new Set(r.on);
  const statuses = new Set(r.statuses);
  const any5xx = on.has("5xx");
  const gateway = any5xx || on.has("gateway-error");
  const conflict = on.has("retriable-4xx");
  return {
    attempts: r.attempts,
    perTryTimeoutMs: r.perTryTimeoutMs,
    onConnect: any5xx || gateway || on.has("connect-failure") || on.has("reset-before-request"),
    onReset: any5xx || on.has("reset") || on.has("reset-before-request") || on.has("refused-stream"),
    retriable: (s) => (any5xx && s >= 500) || (gateway && (s === 502 || s === 503 || s === 504)) || (conflict && s === 409) || statuses.has(s),
  };
}

interface CompileContext {
  settings: MirrorProxySettings;
  cluster(b: Backend): Cluster;
}

function compileRoute(route: Route, ctx: CompileContext): CompiledRoute[] {
  const a = route.action;
  let pick: CompiledRoute["pick"] = () => {
    throw new Error(`route ${route.id} does not forward`);
  };
  let mirrors: MirrorTarget[] = [];
  let readsHeaders = false;
  const routeResponse = compileOps(route.headers?.response);
  if (a.kind === "forward") {
    const targets = a.backends.map((w) => {
      const cluster = ctx.cluster(w.backend);
      const lb = w.backend.policy?.loadBalancer;
      if (lb?.kind === "hash" && (lb.header !== undefined || lb.cookie !== undefined)) readsHeaders = true;
      return { weight: w.weight, target: { cluster, request: compileOps(w.headers?.request, route.headers?.request), response: compileOps(w.headers?.response, route.headers?.response) } satisfies Target };
    });
    if (targets.length === 1) {
      const only = targets[0].target;
      pick = () => only;
    } else {
      // Istio divides each weight by the sum of the weights.
      const total = targets.reduce((s, d) => s + d.weight, 0);
      let acc = 0;
      const cumulative = targets.map((d) => (acc += d.weight / total));
      pick = (rand) => {
        // rand >= 0, so the first bound above it belongs to a destination of weight > 0.
        for (let i = 0; i < cumulative.length; i++) if (rand < cumulative[i]) return targets[i].target;
        return targets[targets.length - 1].target;
      };
    }
    mirrors = a.mirrors.map((m) => ({ upstream: ctx.cluster(m.backend), percent: m.percent }));
  }
  const f = route.fault;
  const shared = {
    id: route.id,
    kind: a.kind,
    pick,
    timeoutMs: a.kind === "forward" ? a.timeoutMs : 0,
    mirrors,
    rewriteAuthority: a.kind === "forward" ? a.rewrite?.authority : undefined,
    retries: retriesOf(route),
    fault: f && { delayMs: f.delay?.ms ?? 0, delayPercent: f.delay?.percent ?? 0, abortStatus: f.abort?.status ?? 0, abortPercent: f.abort?.percent ?? 0, grpcStatus: f.abort?.grpcStatus, hasAbort: f.abort !== undefined, hasDelay: f.delay !== undefined },
    cors: route.cors && compileCors(route.cors),
    redirect: redirectOf(route),
    direct: a.kind === "direct" ? { status: a.status, body: a.body } : undefined,
    response: routeResponse,
  };
  // One compiled route per match block (as Envoy's route table): a prefix rewrite depends on the block that matched.
  const blocks: (RouteMatch | undefined)[] = route.matches.length === 0 ? [undefined] : route.matches;
  const rewriteVaries = a.kind === "forward" && a.rewrite?.path?.kind === "prefix";
  if (!rewriteVaries) {
    const ors = route.matches.map(compileMatch);
    const matches: CompiledRoute["matches"] = ors.length === 0 ? () => true : ors.length === 1 ? ors[0] : (r, q) => ors.some((c) => c(r, q));
    return [{ ...shared, matches, rewritePath: pathRewriter(route, route.matches[0]), readsHeaders: readsHeaders || route.matches.some((m) => m.headers.length > 0) }];
  }
  return blocks.map((m) => ({ ...shared, matches: m ? compileMatch(m) : () => true, rewritePath: pathRewriter(route, m), readsHeaders: readsHeaders || (m?.headers.length ?? 0) > 0 }));
}

/** Compiles the routing model against spec.upstreams (validated: every backend has an upstream). */
export function compileModel(model: RoutingModel, settings: MirrorProxySettings, events?: PolicyEvents): Routing {
  const upstreams = new Map<string, Cluster>();
  // One cluster per upstream key and policy: members (and their health, load) are per cluster, as in Envoy.
  const clusters = new Map<string, Cluster>();
  const cluster = (b: Backend): Cluster => {
    const key = resolveUpstreamKey(settings.upstreams, { host: b.host, subset: b.subset });
    if (key === undefined) throw new Error(`no upstream for ${b.host}${b.subset ? `/${b.subset}` : ""}`); // validation prevents this
    const id = b.policy ? `${key}\0${JSON.stringify(b.policy)}` : key;
    let c = clusters.get(id);
    if (!c) {
      const urls = settings.upstreams[key];
      const tls = b.policy?.tls?.mode === "simple";
      c = new Cluster(key, (typeof urls === "string" ? [urls] : urls).map((url) => parseUpstream(key, url, tls)), b.policy, events);
      clusters.set(id, c);
      // Every cluster is listed (members.ts expands each one's DNS names); the plain one under its key.
      upstreams.set(id, c);
    }
    return c;
  };
  for (const key of Object.keys(settings.upstreams)) cluster({ host: key.includes("/") ? key.slice(0, key.indexOf("/")) : key, ...(key.includes("/") ? { subset: key.slice(key.indexOf("/") + 1) } : {}) });

  const routing: Routing = { settings, upstreams, exactHosts: new Map(), wildcardHosts: [], notes: model.notes };
  const ctx: CompileContext = { settings, cluster };
  // Several virtual hosts naming one host: one merged route list, in model order (Istio: oldest VirtualService first).
  const merged = new Map<string, CompiledVirtualService>();
  const serve = (h: string, name: string, routes: CompiledRoute[]) => {
    let vs = merged.get(h);
    if (!vs) {
      vs = { name, routes: [] };
      merged.set(h, vs);
      if (h === "*") routing.anyHost = vs;
      else if (h.startsWith("*.")) routing.wildcardHosts.push({ suffix: h.slice(1), vs });
      else routing.exactHosts.set(h, vs);
    }
    if (vs.routes.length > 0 && vs.name !== name && !vs.name.split("+").includes(name)) vs.name = `${vs.name}+${name}`;
    vs.routes.push(...routes);
  };
  for (const vh of model.virtualHosts) {
    const name = vh.source.replace(/^VirtualService\//, "");
    const routes = vh.routes.flatMap((r) => compileRoute(r, ctx));
    const names = new Set<string>();
    for (const raw of vh.hosts) {
      const h = raw.toLowerCase();
      names.add(h);
      // A short name means the service in the VirtualService's namespace, as in Istio.
      if (!h.includes("*") && !h.includes(".") && vh.namespace) for (const fq of [`${h}.${vh.namespace}`, `${h}.${vh.namespace}.svc`, `${h}.${vh.namespace}.svc.cluster.local`]) names.add(fq);
    }
    for (const h of names) serve(h, name, routes);
  }
  routing.wildcardHosts.sort((a, b) => b.suffix.length - a.suffix.length);
  return routing;
}

/** Compiles a validated config. */
export function compileRouting(config: MirrorProxyConfig, events?: PolicyEvents): Routing {
  const notes = [...config.notes];
  const model = fromIstio(config.virtualServices, config.destinationRules, notes);
  // HTTPRoutes after the VirtualServices: on a host both name, the VirtualService's routes are tried first.
  model.virtualHosts.push(...fromGatewayApi(config.httpRoutes ?? [], config.proxy.upstreams));
  return compileModel(model, config.proxy, events);
}

/** `Host` header -> lower-case host without port or trailing dot. */
export function normalizeHost(hostHeader: string | undefined): string {
  if (!hostHeader) return "";
  let h = hostHeader;
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    h = end < 0 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.lastIndexOf(":");
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h.toLowerCase();
}

export function findVirtualService(routing: Routing, host: string): CompiledVirtualService | undefined {
  const exact = routing.exactHosts.get(host);
  if (exact) return exact;
  for (const w of routing.wildcardHosts) if (host.endsWith(w.suffix) && host.length > w.suffix.length) return w.vs;
  return routing.anyHost;
}

/** Istio: the first route in `http[]` whose match list accepts the request wins. */
export function selectRoute(routing: Routing, req: RequestInfo): CompiledRoute | undefined {
  const vs = findVirtualService(routing, req.host);
  if (!vs) return undefined;
  const q: QueryCache = {};
  for (const r of vs.routes) if (r.matches(req, q)) return r;
  return undefined;
}
