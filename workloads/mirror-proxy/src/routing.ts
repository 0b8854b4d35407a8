/**
 * Istio HTTP routing semantics, compiled once per config load into plain closures so the
 * per-request work is a Map lookup plus a few string comparisons. Pure: no I/O.
 */
import type { IncomingHttpHeaders } from "node:http";
import { resolveUpstreamKey, routeId, type Destination, type HTTPMatchRequest, type HTTPRoute, type MirrorProxyConfig, type MirrorProxySettings, type StringMatch } from "./config.ts";
import { compileRe2, parseDuration } from "./syntax.ts";
import { backendUpstreamKey, compileGatewayMatch, gatewayRouteId, mirrorPercent, orderGatewayRoutes, ruleTimeoutMs, type GatewayHttpRoute } from "./httpRoute.ts";

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

/** One base URL of an upstream: the key from spec.upstreams (the metrics label) and the parsed URL. */
export interface Upstream {
  key: string;
  hostname: string;
  port: number;
  /** Path prefix of the base URL without a trailing slash ("" for none). */
  basePath: string;
}

/** An upstreams entry: one base URL or several, taken in turn (round-robin). */
export interface UpstreamGroup {
  key: string;
  members: Upstream[];
  /** Index of the member `nextMember` hands out next. */
  cursor: number;
}

/** The group's next member, round-robin. */
export function nextMember(g: UpstreamGroup): Upstream {
  const m = g.members;
  if (m.length === 1) return m[0];
  const u = m[g.cursor];
  g.cursor = g.cursor + 1 === m.length ? 0 : g.cursor + 1;
  return u;
}

/** A member other than `than` when the group has several (the next one after it), else the only one. */
export function otherMember(g: UpstreamGroup, than: Upstream): Upstream {
  const m = g.members;
  if (m.length === 1) return m[0];
  const i = m.indexOf(than);
  return m[(i + 1) % m.length];
}

export interface MirrorTarget {
  upstream: UpstreamGroup;
  /** 0..100; a copy is sent when Math.random() * 100 < percent. */
  percent: number;
}

export interface CompiledRoute {
  /** Metrics label: `<VirtualService name>/<route name or index>`. */
  id: string;
  matches(req: RequestInfo, q: QueryCache): boolean;
  /** The destination for a weight draw `rand` in [0, 1); `nextMember` picks its URL. */
  pick(rand: number): UpstreamGroup;
  /** Primary timeout in ms; 0 = none (Istio's default). */
  timeoutMs: number;
  mirrors: MirrorTarget[];
}

export interface CompiledVirtualService {
  name: string;
  routes: CompiledRoute[];
}

export interface Routing {
  settings: MirrorProxySettings;
  upstreams: Map<string, UpstreamGroup>;
  exactHosts: Map<string, CompiledVirtualService>;
  /** `*.suffix` hosts, longest suffix first (most specific wins); suffix includes the dot. */
  wildcardHosts: { suffix: string; vs: CompiledVirtualService }[];
  anyHost?: CompiledVirtualService;
}

/** Lazily parsed query string, shared by all matchers of one request. */
export interface QueryCache {
  params?: URLSearchParams;
}

type ValueTest = (v: string | undefined) => boolean;

function stringTest(m: StringMatch, ignoreCase: boolean): ValueTest {
  if (m.exact !== undefined) {
    const want = ignoreCase ? m.exact.toLowerCase() : m.exact;
    return ignoreCase ? (v) => v !== undefined && v.toLowerCase() === want : (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = ignoreCase ? m.prefix.toLowerCase() : m.prefix;
    return ignoreCase ? (v) => v !== undefined && v.toLowerCase().startsWith(want) : (v) => v !== undefined && v.startsWith(want);
  }
  if (m.regex !== undefined) {
    const re = compileRe2(m.regex);
    return (v) => v !== undefined && re.test(v);
  }
  return (v) => v !== undefined; // `{}`: presence
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

type Condition = (req: RequestInfo, q: QueryCache) => boolean;

function compileMatch(m: HTTPMatchRequest): Condition {
  const conds: Condition[] = [];
  if (m.uri) {
    // Istio: ignoreUriCase applies to exact and prefix URI matches only.
    const t = stringTest(m.uri, m.ignoreUriCase === true && m.uri.regex === undefined);
    conds.push((r) => t(r.path));
  }
  if (m.scheme) {
    const t = stringTest(m.scheme, false);
    conds.push((r) => t(r.scheme));
  }
  if (m.method) {
    const t = stringTest(m.method, false);
    conds.push((r) => t(r.method));
  }
  if (m.authority) {
    const t = stringTest(m.authority, false);
    conds.push((r) => t(r.authority));
  }
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const t = stringTest(sm, false);
    conds.push((r) => t(headerValue(r.headers, name)));
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    // "No header `name` matching sm": an absent header satisfies it.
    const t = stringTest(sm, false);
    conds.push((r) => !t(headerValue(r.headers, name)));
  }
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
    const t = stringTest(sm, false);
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

function parseUpstream(key: string, url: string): Upstream {
  const u = new URL(url);
  return {
    key,
    hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
    port: u.port ? Number(u.port) : 80,
    basePath: u.pathname.replace(/\/+$/, ""),
  };
}

function compileRoute(vsName: string, route: HTTPRoute, index: number, lookup: (d: Destination) => UpstreamGroup): CompiledRoute {
  const ors = (route.match ?? []).map(compileMatch);
  const matches: CompiledRoute["matches"] =
    ors.length === 0 ? () => true : ors.length === 1 ? ors[0] : (r, q) => ors.some((c) => c(r, q));

  const dests = route.route.map((d) => ({ upstream: lookup(d.destination), weight: route.route.length === 1 ? 100 : (d.weight ?? 0) }));
  let pick: CompiledRoute["pick"];
  if (dests.length === 1) {
    const only = dests[0].upstream;
    pick = () => only;
  } else {
    const total = dests.reduce((s, d) => s + d.weight, 0);
    let acc = 0;
    const cumulative = dests.map((d) => (acc += d.weight / total));
    pick = (rand) => {
      // rand >= 0, so the first bound above it belongs to a destination of weight > 0.
      for (let i = 0; i < cumulative.length; i++) if (rand < cumulative[i]) return dests[i].upstream;
      return dests[dests.length - 1].upstream;
    };
  }

  const mirrors: MirrorTarget[] = [];
  if (route.mirror) {
    mirrors.push({ upstream: lookup(route.mirror), percent: route.mirrorPercentage?.value ?? route.mirrorPercent ?? 100 });
  }
  for (const m of route.mirrors ?? []) mirrors.push({ upstream: lookup(m.destination), percent: m.percentage?.value ?? 100 });

  return {
    id: routeId(vsName, route, index),
    matches,
    pick,
    timeoutMs: route.timeout ? (parseDuration(route.timeout) ?? 0) : 0,
    mirrors: mirrors.filter((m) => m.percent > 0),
  };
}

/** Compiles a validated config. */
export function compileRouting(config: MirrorProxyConfig): Routing {
  const settings = config.proxy;
  const upstreams = new Map<string, UpstreamGroup>();
  for (const [key, urls] of Object.entries(settings.upstreams)) {
    upstreams.set(key, { key, members: (typeof urls === "string" ? [urls] : urls).map((url) => parseUpstream(key, url)), cursor: 0 });
  }
  const lookup = (d: Destination): UpstreamGroup => {
    const key = resolveUpstreamKey(settings.upstreams, d);
    const u = key === undefined ? undefined : upstreams.get(key);
    if (!u) throw new Error(`no upstream for ${d.host}${d.subset ? `/${d.subset}` : ""}`); // validation prevents this
    return u;
  };

  const routing: Routing = { settings, upstreams, exactHosts: new Map(), wildcardHosts: [] };
  for (const vs of config.virtualServices) {
    const compiled: CompiledVirtualService = { name: vs.name, routes: vs.http.map((r, i) => compileRoute(vs.name, r, i, lookup)) };
    for (const raw of vs.hosts) {
      const h = raw.toLowerCase();
      if (h === "*") routing.anyHost = compiled;
      else if (h.startsWith("*.")) routing.wildcardHosts.push({ suffix: h.slice(1), vs: compiled });
      else {
        routing.exactHosts.set(h, compiled);
        // A short name means the service in the VirtualService's namespace, as in Istio.
        if (!h.includes(".") && vs.namespace) {
          for (const fq of [`${h}.${vs.namespace}`, `${h}.${vs.namespace}.svc`, `${h}.${vs.namespace}.svc.cluster.local`]) {
            if (!routing.exactHosts.has(fq)) routing.exactHosts.set(fq, compiled);
          }
        }
      }
    }
  }
  addGatewayRoutes(routing, config.httpRoutes ?? [], upstreams);
  routing.wildcardHosts.sort((a, b) => b.suffix.length - a.suffix.length);
  return routing;
}

/**
 * HTTPRoutes (httpRoute.ts) served beside the VirtualServices: per hostname key one route
 * list in Gateway API's precedence order, so first-match selection gives Gateway API's choice.
 * A host a VirtualService already serves keeps the VirtualService.
 */
function addGatewayRoutes(routing: Routing, routes: readonly GatewayHttpRoute[], upstreams: Map<string, UpstreamGroup>): void {
  const group = (ref: { name: string; port?: number }): UpstreamGroup => {
    const key = backendUpstreamKey(routing.settings.upstreams, ref);
    const u = key === undefined ? undefined : upstreams.get(key);
    if (!u) throw new Error(`no upstream for ${ref.name}`); // validation prevents this
    return u;
  };
  for (const vh of orderGatewayRoutes(routes)) {
    const compiled: CompiledVirtualService = {
      name: vh.routes.join("+"),
      routes: vh.matches.map(({ route, rule, ruleIndex, match }): CompiledRoute => {
        const refs = (rule.backendRefs ?? []).map((b) => ({ upstream: group(b), weight: b.weight }));
        const total = refs.reduce((s, r) => s + r.weight, 0);
        let acc = 0;
        const cumulative = refs.map((r) => (acc += r.weight / total));
        return {
          id: gatewayRouteId(route, rule, ruleIndex),
          matches: compileGatewayMatch(match),
          pick: refs.length === 1 ? () => refs[0].upstream : (rand) => refs[cumulative.findIndex((c) => rand < c)]?.upstream ?? refs[refs.length - 1].upstream,
          timeoutMs: ruleTimeoutMs(rule),
          mirrors: (rule.filters ?? [])
            .filter((f) => f.type === "RequestMirror")
            .map((f) => ({ upstream: group(f.requestMirror!.backendRef), percent: mirrorPercent(f.requestMirror!) }))
            .filter((m) => m.percent > 0),
        };
      }),
    };
    if (vh.host === "*") routing.anyHost ??= compiled;
    else if (vh.host.startsWith("*.")) {
      if (!routing.wildcardHosts.some((w) => w.suffix === vh.host.slice(1))) routing.wildcardHosts.push({ suffix: vh.host.slice(1), vs: compiled });
    } else if (!routing.exactHosts.has(vh.host)) routing.exactHosts.set(vh.host, compiled);
  }
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
