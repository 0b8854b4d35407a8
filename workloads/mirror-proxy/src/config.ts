/**
 * Config loading for the mirror proxy: multi-document YAML of Istio VirtualService and
 * DestinationRule documents plus one `traffic-mirroring/v1` MirrorProxy document.
 *
 * `parseMirrorProxyConfig(text)` is pure (no I/O, no globals touched), so unit tests and
 * the Pulumi program's tests can feed it rendered ConfigMap YAML. It either returns the
 * typed config or throws a `ConfigError` listing every problem as
 * `<Kind/name>: <field path>: <problem> (got <value>)`.
 *
 * The serving process never loads this module (nor yaml and zod: ~7 MB of heap): main.ts runs
 * it in a child process (configChecker.ts) and keeps only the plain result; what the proxy
 * needs at run time is proxyConfig.ts's.
 */
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { checkCompareRoutes, validateCompareSettings, type CompareSettings } from "./compare/settings.ts";
import { validateCopyHeaders, type CopyHeadersSettings } from "./copyHeaders.ts";
import { ACCEPTED_WITHOUT_EFFECT, DestinationRuleDoc, ISTIO_API_VERSIONS, Metadata, UNSUPPORTED_ISTIO_FIELDS, VirtualServiceDoc, type Destination, type StringMatch } from "./istio.ts";
import { destinationPolicy, findDestinationRule, grpcCode as grpcCodeOf, isPseudoHeader, routeId, sidecarOnly, type IstioDestinationRule, type IstioVirtualService } from "./model.ts";
import { checkRe2Regex, nonNegativeInt, parseDuration, positiveInt, str } from "./syntax.ts";
import { ConfigError, resolveUpstreamKey, shortName, type ConfigProblem } from "./proxyConfig.ts";

import { checkHttpRoute, compareView, GATEWAY_API_VERSIONS, parseHttpRouteDoc, UNSUPPORTED_GATEWAY_FIELDS, type GatewayHttpRoute } from "./httpRoute.ts";

export { routeId };
export { ConfigError, DEFAULT_LIMITS, formatProblem, limitsOf, resolveUpstreamKey, shortName, type ConfigProblem } from "./proxyConfig.ts";
export type { Destination, StringMatch };

// ---------------------------------------------------------------- schemas

const PROXY_API_VERSION = "traffic-mirroring/v1";

// ---------------------------------------------------------------- hardening (issue 13): limits, path normalization, admin access

/**
 * What a client or a shadow may hold, each limit counted when hit
 * (`mirror_proxy_limit_hits_total{limit}`). Absent keys take `DEFAULT_LIMITS` (Envoy-like).
 */
const LimitsSchema = z.strictObject({
  /** The whole request head must arrive within this (slowloris); else 408 and close. */
  headersTimeoutMs: positiveInt().optional(),
  /** A request body that sends nothing for this long: 408 (or a reset once the answer started), and close. */
  bodyIdleTimeoutMs: positiveInt().optional(),
  /** An idle keep-alive client connection is closed after this. */
  keepAliveTimeoutMs: positiveInt().optional(),
  /** Client connections at once; beyond, a new connection is closed at once. */
  maxConnections: positiveInt().optional(),
  /** Pipelined requests parsed ahead of the one being served, per connection, before reading stops. */
  maxPipelinedRequests: positiveInt().optional(),
  /** Connecting to the primary: past this, 503 (Istio's default connect timeout is 10 s). */
  primaryConnectTimeoutMs: positiveInt().optional(),
  /** Request line and headers; beyond, 431 (Envoy: 60 KiB). */
  maxRequestHeaderBytes: positiveInt().optional(),
  /** How much of a discarded shadow answer is read; beyond, its connection is closed. */
  maxShadowAnswerBytes: nonNegativeInt().optional(),
  /**
   * Answers cut at maxShadowAnswerBytes per second and shadow origin (a token bucket holding
   * a tenth of a second's worth); beyond, that origin's copies are skipped (`answer_too_large`)
   * until the budget refills: each cut costs a new connection, and a shadow answering huge
   * bodies to every copy would otherwise double the proxy's CPU per request. 0 = no budget.
   */
  maxShadowAnswerCutsPerSecond: nonNegativeInt().optional(),
  /** Request bodies held for copies, all requests together; beyond, a copy is skipped (`body_too_large`). */
  maxMirrorBufferBytes: nonNegativeInt().optional(),
});
export type Limits = Required<z.infer<typeof LimitsSchema>>;

/** Istio's meshConfig `pathNormalization.normalization` (path-normalize.ts); default BASE, as Istio's. */
export const PATH_NORMALIZATIONS = ["NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"] as const;
export type PathNormalization = (typeof PATH_NORMALIZATIONS)[number];

const port = () => z.number({ error: "must be a port number" }).int("must be an integer").min(0, "must be between 0 and 65535").max(65535, "must be between 0 and 65535");

const MirrorProxyDoc = z.strictObject({
  apiVersion: z.literal(PROXY_API_VERSION),
  kind: z.literal("MirrorProxy"),
  metadata: Metadata.partial().optional(),
  spec: z.strictObject({
    listen: port().optional(),
    admin: port().optional(),
    // One base URL, or a list of them (round-robin, e.g. two v1 replicas run locally).
    upstreams: z.record(z.string(), z.union([str(), z.array(str()).min(1, "must list at least one URL")], { error: "must be a URL or a list of URLs" })),
    shadowHostSuffix: str().default("-shadow"),
    maxShadowInFlight: nonNegativeInt().default(256),
    maxMirrorBodyBytes: nonNegativeInt().default(1048576),
    shadowTimeoutMs: positiveInt().default(5000),
    // Validated by compare/settings.ts (its problems join this list, with its field paths).
    compare: z.unknown().optional(),
    // Hardening (issue 13).
    limits: LimitsSchema.optional(),
    pathNormalization: z.enum(PATH_NORMALIZATIONS, { error: `must be one of ${PATH_NORMALIZATIONS.join(", ")}` }).optional(),
    adminTokenFile: str().min(1, "must not be empty").optional(),
    // Validated by copyHeaders.ts once the routes are known.
    copyHeaders: z.unknown().optional(),
  }),
});

// ---------------------------------------------------------------- typed result

/** A validated VirtualService (routes as Istio's HTTPRoute; model.ts compiles them). */
export type VirtualService = IstioVirtualService;
/** A validated DestinationRule: subset names and traffic policies (model.ts merges them per destination). */
export type DestinationRule = IstioDestinationRule;
export interface MirrorProxySettings {
  listen?: number;
  admin?: number;
  /** `host` or `host/subset` -> base URL (http only) or a list of them (round-robin), as written in the file. */
  upstreams: Record<string, string | string[]>;
  shadowHostSuffix: string;
  maxShadowInFlight: number;
  maxMirrorBodyBytes: number;
  shadowTimeoutMs: number;
  /** Compare shadow answers with the primary's (compare/settings.ts); absent = off. */
  compare?: CompareSettings;
  /** Resource limits; see `limitsOf` for the defaults. */
  limits?: Partial<Limits>;
  /** Default BASE (Istio's default). */
  pathNormalization?: PathNormalization;
  /** A file (a mounted Secret) holding a bearer token that opens the protected admin routes on the admin port too. */
  adminTokenFile?: string;
  /** Headers set/removed on the copies of a route only (copyHeaders.ts); absent = none. */
  copyHeaders?: CopyHeadersSettings;
}
export interface MirrorProxyConfig {
  /** In Istio's merge order for a host: oldest (creationTimestamp) first, then as written. */
  virtualServices: VirtualService[];
  /** Gateway API HTTPRoutes (httpRoute.ts), served beside the VirtualServices. */
  httpRoutes: GatewayHttpRoute[];
  destinationRules: DestinationRule[];
  proxy: MirrorProxySettings;
  /** One line each, for the log at load: documents and fields accepted but ignored or skipped, and why. */
  notes: string[];
}

// ---------------------------------------------------------------- parsing

/** Parses and validates config text. Throws ConfigError naming every problem. */
export function parseMirrorProxyConfig(text: string): MirrorProxyConfig {
  const problems: ConfigProblem[] = [];
  const virtualServices: { vs: VirtualService; created: number }[] = [];
  const destinationRules: DestinationRule[] = [];
  const httpRoutes: GatewayHttpRoute[] = [];
  const notes: string[] = [];
  let proxy: MirrorProxySettings | undefined;
  let proxyLabel = "MirrorProxy";
  let proxyDocs = 0;
  let rawCopyHeaders: unknown;

  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push({ document: `document[${i}]`, path: "", problem: `YAML: ${e.message.split("\n")[0]}` });
      return;
    }
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) return; // empty document (e.g. a trailing ---)
    if (typeof raw !== "object" || Array.isArray(raw)) {
      problems.push({ document: `document[${i}]`, path: "", problem: "must be a mapping", value: raw });
      return;
    }
    const obj = raw as Record<string, unknown>;
    const kind = obj.kind;
    const meta = obj.metadata as { name?: unknown } | undefined;
    const name = meta && typeof meta === "object" && typeof meta.name === "string" ? meta.name : undefined;
    const label = typeof kind === "string" ? (name ? `${kind}/${name}` : kind === "MirrorProxy" ? "MirrorProxy" : `${kind} (document[${i}])`) : `document[${i}]`;

    if (kind === "VirtualService" || kind === "DestinationRule") {
      if (!ISTIO_API_VERSIONS.includes(String(obj.apiVersion))) {
        problems.push({ document: label, path: "apiVersion", problem: `must be one of ${ISTIO_API_VERSIONS.join(", ")}`, value: obj.apiVersion });
        return;
      }
      // A field the proxy cannot honour at all refuses the document with one line, and nothing else.
      const refusal = refuseWhole(obj);
      if (refusal) return void problems.push({ document: label, ...refusal });
      if (kind === "VirtualService") {
        const r = VirtualServiceDoc.safeParse(raw);
        if (!r.success) return void problems.push(...zodProblems(label, r.error, raw, { istio: true }));
        const http = r.data.spec.http.map(({ mirror_percent, ...route }, j) => {
          if (mirror_percent === undefined) return route;
          if (route.mirrorPercent !== undefined) problems.push({ document: label, path: `spec.http[${j}].mirror_percent`, problem: "cannot be used together with mirrorPercent", value: mirror_percent });
          return { ...route, mirrorPercent: mirror_percent };
        });
        noteWithoutEffect(label, raw, "spec", notes);
        const created = Date.parse(String(r.data.metadata.creationTimestamp ?? ""));
        virtualServices.push({ vs: { name: r.data.metadata.name, namespace: r.data.metadata.namespace, hosts: r.data.spec.hosts, http }, created: Number.isNaN(created) ? Infinity : created });
      } else {
        const r = DestinationRuleDoc.safeParse(raw);
        if (!r.success) return void problems.push(...zodProblems(label, r.error, raw, { istio: true }));
        const spec = r.data.spec;
        noteWithoutEffect(label, raw, "spec", notes);
        const policies = [spec.trafficPolicy, ...(spec.subsets ?? []).map((s) => s.trafficPolicy)];
        const policyPaths = ["spec.trafficPolicy", ...(spec.subsets ?? []).map((_, k) => `spec.subsets[${k}].trafficPolicy`)];
        policies.forEach((tp, k) => checkTrafficPolicy(label, policyPaths[k], tp, problems, notes));
        destinationRules.push({
          name: r.data.metadata.name,
          namespace: r.data.metadata.namespace,
          host: spec.host,
          subsets: (spec.subsets ?? []).map((s) => s.name),
          trafficPolicy: spec.trafficPolicy,
          subsetPolicies: Object.fromEntries((spec.subsets ?? []).map((s) => [s.name, s.trafficPolicy])),
        });
      }
    } else if (kind === "MirrorProxy") {
      proxyDocs++;
      const r = MirrorProxyDoc.safeParse(raw);
      const rawSpec = obj.spec as { compare?: unknown } | undefined;
      if (!r.success) {
        problems.push(...zodProblems(label, r.error, raw, { istio: true }));
        // The compare block's own problems belong to the same list.
        if (rawSpec && typeof rawSpec === "object") problems.push(...validateCompareSettings(rawSpec.compare, label, "spec.compare").problems);
        return;
      }
      proxyLabel = label;
      const { compare: rawCompare, copyHeaders, ...spec } = r.data.spec;
      rawCopyHeaders = copyHeaders;
      const compare = validateCompareSettings(rawCompare, label, "spec.compare");
      problems.push(...compare.problems);
      proxy = compare.settings ? { ...spec, compare: compare.settings } : spec;
    } else if (kind === "HTTPRoute") {
      parseHttpRouteDocument(label, obj, httpRoutes, problems);
    } else if (typeof obj.apiVersion === "string" && IGNORED_API_GROUPS.some((g) => String(obj.apiVersion).startsWith(g))) {
      // Gateway, ServiceEntry, Sidecar, ...: they configure a mesh the proxy stands in for.
      notes.push(`${label}: ignored: kind ${String(kind)} does not route requests here (the proxy is the gateway; spec.upstreams says where services live)`);
    } else {
      problems.push({ document: label, path: "kind", problem: "unsupported kind: expected VirtualService, DestinationRule, HTTPRoute or MirrorProxy (or another Istio kind, ignored)", value: kind });
    }
  });

  if (proxyDocs === 0) problems.push({ document: "MirrorProxy", path: "", problem: `missing: the file needs one document with apiVersion ${PROXY_API_VERSION}, kind MirrorProxy` });
  if (proxyDocs > 1) problems.push({ document: "MirrorProxy", path: "", problem: `must appear once (got ${proxyDocs} documents)` });
  // An Istio gateway with DestinationRules but no VirtualService serves nothing: every request gets 404.
  if (virtualServices.length === 0 && httpRoutes.length === 0 && problems.length === 0) notes.push("no VirtualService: every request is answered 404 no route");

  // Istio merges VirtualServices of one host oldest first; without timestamps, in file order (a stable sort).
  const ordered = virtualServices.sort((a, b) => (a.created === b.created ? 0 : a.created < b.created ? -1 : 1)).map((x) => x.vs);

  if (proxy) checkUpstreamUrls(proxy, problems);
  for (const dr of destinationRules) {
    const seen = new Set<string>();
    dr.subsets.forEach((s, i) => {
      if (seen.has(s)) problems.push({ document: `DestinationRule/${dr.name}`, path: `spec.subsets[${i}].name`, problem: "duplicate subset", value: s });
      seen.add(s);
    });
  }
  checkHosts(ordered, problems);
  for (const vs of ordered) checkVirtualService(vs, destinationRules, proxy, problems, notes);
  for (const route of httpRoutes) {
    const found: { path: string; problem: string; value?: unknown }[] = [];
    checkHttpRoute(route, proxy?.upstreams, found);
    problems.push(...found.map((f) => ({ document: `HTTPRoute/${route.name}`, ...f })));
  }
  if (proxy?.compare) problems.push(...checkCompareRoutes(proxy.compare, [...ordered, ...compareView(httpRoutes)], proxyLabel));
  if (proxy && rawCopyHeaders !== undefined) {
    const shaping = validateCopyHeaders(rawCopyHeaders, ordered, proxyLabel);
    problems.push(...shaping.problems);
    if (shaping.settings) proxy.copyHeaders = shaping.settings;
  }

  if (problems.length > 0 || !proxy) throw new ConfigError(problems);
  return { virtualServices: ordered, destinationRules, httpRoutes, proxy, notes };
}

/** An HTTPRoute document (httpRoute.ts validates it): pushed to `into`, or its problems to `problems`. */
function parseHttpRouteDocument(label: string, obj: Record<string, unknown>, into: GatewayHttpRoute[], problems: ConfigProblem[]): void {
  if (!GATEWAY_API_VERSIONS.includes(String(obj.apiVersion))) {
    problems.push({ document: label, path: "apiVersion", problem: `must be one of ${GATEWAY_API_VERSIONS.join(", ")}`, value: obj.apiVersion });
    return;
  }
  const { route, error } = parseHttpRouteDoc(obj);
  if (error) problems.push(...zodProblems(label, error, obj, { gatewayApi: true }));
  else if (route) into.push(route);
}

function checkUpstreamUrls(proxy: MirrorProxySettings, problems: ConfigProblem[]): void {
  for (const [key, value] of Object.entries(proxy.upstreams)) {
    const path = `spec.upstreams.${key}`;
    if (!/^[A-Za-z0-9*.-]+(\/[A-Za-z0-9_.-]+|:\d{1,5})?$/.test(key)) {
      problems.push({ document: "MirrorProxy", path, problem: "key must be `host`, `host/subset` or (for HTTPRoute backends) `service:port`", value: key });
    }
    if (typeof value === "string") checkUpstreamUrl(path, value, problems);
    else value.forEach((url, i) => checkUpstreamUrl(`${path}[${i}]`, url, problems));
  }
}

function checkUpstreamUrl(path: string, url: string, problems: ConfigProblem[]): void {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    problems.push({ document: "MirrorProxy", path, problem: "must be an absolute URL like http://10.0.0.1:8080", value: url });
    return;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") problems.push({ document: "MirrorProxy", path, problem: "only http:// and https:// upstreams are supported", value: url });
  else if (u.search || u.hash || u.username) problems.push({ document: "MirrorProxy", path, problem: "must not carry a query, fragment or credentials", value: url });
}

/** API groups whose other kinds (Gateway, ServiceEntry, Sidecar, PeerAuthentication, ...) are accepted and ignored with a note. */
const IGNORED_API_GROUPS = ["networking.istio.io/", "security.istio.io/", "telemetry.istio.io/", "extensions.istio.io/"];

/**
 * A field that makes the whole document unusable here, as one problem: tcp/tls routes (the
 * proxy serves HTTP), delegation, workload selectors. Reported alone, so a tcp-only
 * VirtualService does not also get `spec.http: required`.
 */
function refuseWhole(obj: Record<string, unknown>): { path: string; problem: string; value?: unknown } | undefined {
  const spec = obj.spec;
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) return undefined;
  const sp = spec as Record<string, unknown>;
  const why = (k: string) => `not supported by mirror-proxy (Istio ${UNSUPPORTED_ISTIO_FIELDS[k]})`;
  for (const k of ["tcp", "tls", "workloadSelector"]) if (sp[k] !== undefined) return { path: `spec.${k}`, problem: why(k), value: sp[k] };
  if (Array.isArray(sp.http)) {
    for (let i = 0; i < sp.http.length; i++) {
      const r = sp.http[i] as Record<string, unknown> | null;
      if (r && typeof r === "object" && r.delegate !== undefined) return { path: `spec.http[${i}].delegate`, problem: why("delegate"), value: r.delegate };
    }
  }
  return undefined;
}

/** Notes for fields accepted without effect (ACCEPTED_WITHOUT_EFFECT), found anywhere under `raw`. */
function noteWithoutEffect(label: string, raw: unknown, at: string, notes: string[]): void {
  const walk = (v: unknown, path: string) => {
    if (!v || typeof v !== "object") return;
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
    for (const [k, x] of Object.entries(v)) {
      const p = `${path}.${k}`;
      if (Object.hasOwn(ACCEPTED_WITHOUT_EFFECT, k) && k !== "statPrefix") notes.push(`${label}: ${p}: accepted, no effect here (${ACCEPTED_WITHOUT_EFFECT[k]})`);
      else walk(x, p);
    }
  };
  walk((raw as { spec?: unknown }).spec, at);
}

/** Traffic-policy checks zod cannot express; ISTIO_MUTUAL noted (no mesh: plain HTTP). */
function checkTrafficPolicy(doc: string, path: string, tp: DestinationRule["trafficPolicy"], problems: ConfigProblem[], notes: string[]): void {
  if (!tp) return;
  const all = [{ p: path, v: tp as Omit<typeof tp, "portLevelSettings"> }, ...(tp.portLevelSettings ?? []).map((pl, i) => ({ p: `${path}.portLevelSettings[${i}]`, v: pl }))];
  const add = (p: string, problem: string, value?: unknown) => problems.push({ document: doc, path: p, problem, value });
  for (const { p, v } of all) {
    for (const [k, d] of [
      ["connectionPool.tcp.connectTimeout", v.connectionPool?.tcp?.connectTimeout],
      ["connectionPool.tcp.idleTimeout", v.connectionPool?.tcp?.idleTimeout],
      ["connectionPool.http.idleTimeout", v.connectionPool?.http?.idleTimeout],
      ["outlierDetection.interval", v.outlierDetection?.interval],
      ["outlierDetection.baseEjectionTime", v.outlierDetection?.baseEjectionTime],
      ["loadBalancer.consistentHash.httpCookie.ttl", v.loadBalancer?.consistentHash?.httpCookie?.ttl],
    ] as const) {
      if (d !== undefined && parseDuration(d) === undefined) add(`${p}.${k}`, "must be a duration like 1.5s, 300ms or 1m", d);
    }
    const lb = v.loadBalancer;
    if (lb?.simple && lb.consistentHash) add(`${p}.loadBalancer`, "set only one of simple, consistentHash", lb);
    const ch = lb?.consistentHash;
    if (ch && [ch.httpHeaderName, ch.httpCookie, ch.useSourceIp, ch.httpQueryParameterName].filter((x) => x !== undefined && x !== false).length !== 1) {
      add(`${p}.loadBalancer.consistentHash`, "set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName", ch);
    }
    if (v.tls?.mode === "MUTUAL") add(`${p}.tls.mode`, "not supported by mirror-proxy (client certificates); use SIMPLE", "MUTUAL");
    if (v.tls?.mode === "ISTIO_MUTUAL") notes.push(`${doc}: ${p}.tls.mode ISTIO_MUTUAL: no mesh here, the proxy speaks plain HTTP to these pods`);
    if (v.tls?.mode === "SIMPLE" && v.tls.caCertificates !== undefined && !v.tls.caCertificates.startsWith("/")) add(`${p}.tls.caCertificates`, "must be an absolute file path", v.tls.caCertificates);
  }
}

function checkHosts(virtualServices: VirtualService[], problems: ConfigProblem[]): void {
  for (const vs of virtualServices) {
    vs.hosts.forEach((h, i) => {
      // Several VirtualServices may name one host: their routes are merged (routing.ts).
      if (!/^(\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)$/.test(h)) {
        problems.push({ document: `VirtualService/${vs.name}`, path: `spec.hosts[${i}]`, problem: "must be a DNS name, `*` or `*.suffix`", value: h });
      }
    });
  }
}

function checkVirtualService(vs: VirtualService, rules: DestinationRule[], proxy: MirrorProxySettings | undefined, problems: ConfigProblem[], notes: string[]): void {
  const doc = `VirtualService/${vs.name}`;
  const add = (path: string, problem: string, value?: unknown) => problems.push({ document: doc, path, problem, value });

  const checkDest = (path: string, d: Destination) => {
    if (proxy && !resolveUpstreamKey(proxy.upstreams, d)) {
      const want = d.subset ? `${d.host}/${d.subset}` : d.host;
      const alt = d.subset ? `${shortName(d.host)}/${d.subset}` : shortName(d.host);
      add(path, `no upstream for "${want}"${alt !== want ? ` or "${alt}"` : ""} in MirrorProxy spec.upstreams`, d);
    }
    if (d.subset) {
      // Istio accepts the VirtualService and answers 503 until a DestinationRule defines the subset;
      // here spec.upstreams says where the subset lives, so it is served, with a note.
      const dr = findDestinationRule(rules, d.host);
      const where = `${doc}: ${path}.subset ${d.subset}`;
      if (!dr) notes.push(`${where}: no DestinationRule for host "${d.host}" in this file defines it; served by spec.upstreams`);
      else if (!dr.subsets.includes(d.subset)) notes.push(`${where}: not defined in DestinationRule/${dr.name} (has ${dr.subsets.join(", ") || "none"}); served by spec.upstreams`);
    }
  };

  const checkRegex = (path: string, re: string) => {
    const err = checkRe2Regex(re);
    if (err) add(path, err, re);
  };
  const checkMatch = (path: string, m: StringMatch | undefined, presenceAllowed: boolean) => {
    if (!m) return;
    const set = (["exact", "prefix", "regex"] as const).filter((k) => m[k] !== undefined);
    if (set.length > 1) add(path, "set only one of exact, prefix, regex", m);
    else if (set.length === 0 && !presenceAllowed) add(path, "must set one of exact, prefix, regex", m);
    // Istio reads the regex `*` as "any value" (present).
    if (m.regex !== undefined && m.regex !== "*") checkRegex(`${path}.regex`, m.regex);
  };
  const checkDuration = (path: string, d: string | undefined) => {
    if (d !== undefined && parseDuration(d) === undefined) add(path, "must be a duration like 1.5s, 300ms or 1m", d);
  };
  const checkHeaderNames = (path: string, ops: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } | undefined) => {
    if (!ops) return;
    for (const n of [...Object.keys(ops.set ?? {}), ...Object.keys(ops.add ?? {}), ...(ops.remove ?? [])]) {
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(n)) add(`${path}`, "not a valid header name", n);
      else if (n.toLowerCase() === "host" || isPseudoHeader(n)) add(path, "cannot change the host or a pseudo-header here; use rewrite.authority", n);
    }
  };

  vs.http.forEach((r, i) => {
    const p = `spec.http[${i}]`;
    (r.match ?? []).forEach((m, j) => {
      const mp = `${p}.match[${j}]`;
      checkMatch(`${mp}.uri`, m.uri, false);
      checkMatch(`${mp}.scheme`, m.scheme, false);
      checkMatch(`${mp}.method`, m.method, false);
      checkMatch(`${mp}.authority`, m.authority, false);
      for (const field of ["headers", "withoutHeaders"] as const) {
        for (const [name, sm] of Object.entries(m[field] ?? {})) {
          // Envoy lower-cases header names; of the pseudo-headers, :method, :authority, :path and :scheme exist on HTTP/1.1.
          if (name.startsWith(":") && !isPseudoHeader(name.toLowerCase())) add(`${mp}.${field}.${name}`, "unknown pseudo-header: use :method, :authority, :path or :scheme", name);
          if (field === "withoutHeaders" && isPseudoHeader(name.toLowerCase())) add(`${mp}.${field}.${name}`, "pseudo-headers are not supported in withoutHeaders", name);
          checkMatch(`${mp}.${field}.${name}`, sm, true);
        }
      }
      for (const [name, sm] of Object.entries(m.queryParams ?? {})) checkMatch(`${mp}.queryParams.${name}`, sm, true);
    });

    const actions = (["route", "redirect", "directResponse"] as const).filter((k) => r[k] !== undefined);
    if (actions.length === 0) add(p, "needs one of route, redirect, directResponse");
    else if (actions.length > 1) add(`${p}.${actions[1]}`, `cannot be used together with ${actions[0]} (as in Istio)`, r[actions[1]]);

    // A route whose every match block selects sidecars is skipped at a gateway (model.ts): its destinations are never used here.
    const skipped = r.match !== undefined && r.match.length > 0 && r.match.every((m) => sidecarOnly(m) !== undefined);
    const route = r.route ?? [];
    route.forEach((d, j) => {
      if (!skipped) checkDest(`${p}.route[${j}].destination`, d.destination);
      checkHeaderNames(`${p}.route[${j}].headers.request`, d.headers?.request);
      checkHeaderNames(`${p}.route[${j}].headers.response`, d.headers?.response);
    });
    if (route.length > 1) {
      // Istio divides each weight by their sum.
      if (route.every((d) => !d.weight)) add(`${p}.route`, "several destinations need weights, not all 0", route.map((d) => d.weight ?? 0));
    } else if (route[0]?.weight === 0) {
      add(`${p}.route[0].weight`, "the only destination must have a weight above 0 (or none)", 0);
    }
    checkHeaderNames(`${p}.headers.request`, r.headers?.request);
    checkHeaderNames(`${p}.headers.response`, r.headers?.response);

    checkDuration(`${p}.timeout`, r.timeout);
    checkDuration(`${p}.retries.perTryTimeout`, r.retries?.perTryTimeout);
    if (r.retries?.retryOn !== undefined) {
      for (const c of r.retries.retryOn.split(",").map((x) => x.trim())) {
        if (c !== "" && !RETRY_ON.has(c) && !/^\d{3}$/.test(c)) add(`${p}.retries.retryOn`, `unknown condition "${c}": use ${[...RETRY_ON].join(", ")} or a status code`, r.retries.retryOn);
      }
    }
    if (r.retries && !r.route) add(`${p}.retries`, "needs route", r.retries);
    if (r.rewrite && !r.route) add(`${p}.rewrite`, "needs route (a redirect carries its own uri/authority)", r.rewrite);
    if (r.rewrite?.uri !== undefined && r.rewrite.uriRegexRewrite) add(`${p}.rewrite.uriRegexRewrite`, "cannot be used together with rewrite.uri", r.rewrite.uriRegexRewrite);
    if (r.rewrite?.uriRegexRewrite) checkRegex(`${p}.rewrite.uriRegexRewrite.match`, r.rewrite.uriRegexRewrite.match);
    if (r.redirect && r.redirect.port !== undefined && r.redirect.derivePort) add(`${p}.redirect.derivePort`, "cannot be used together with port", r.redirect.derivePort);
    if (r.directResponse?.body && r.directResponse.body.string !== undefined && r.directResponse.body.bytes !== undefined) add(`${p}.directResponse.body`, "set only one of string, bytes", r.directResponse.body);
    const f = r.fault;
    if (f) {
      if (!f.delay && !f.abort) add(`${p}.fault`, "needs delay or abort", f);
      if (f.delay && f.delay.fixedDelay === undefined) add(`${p}.fault.delay.fixedDelay`, "required (exponentialDelay is not supported)");
      checkDuration(`${p}.fault.delay.fixedDelay`, f.delay?.fixedDelay);
      if (f.delay?.percentage && f.delay.percent !== undefined) add(`${p}.fault.delay.percent`, "cannot be used together with percentage", f.delay.percent);
      if (f.abort && f.abort.httpStatus === undefined && f.abort.grpcStatus === undefined) add(`${p}.fault.abort`, "needs httpStatus or grpcStatus", f.abort);
      if (f.abort?.httpStatus !== undefined && f.abort.grpcStatus !== undefined) add(`${p}.fault.abort.grpcStatus`, "cannot be used together with httpStatus", f.abort.grpcStatus);
      if (f.abort?.grpcStatus !== undefined && grpcCodeOf(f.abort.grpcStatus) === undefined) add(`${p}.fault.abort.grpcStatus`, "must be a gRPC status name like UNAVAILABLE", f.abort.grpcStatus);
    }
    const c = r.corsPolicy;
    if (c) {
      checkDuration(`${p}.corsPolicy.maxAge`, c.maxAge);
      (c.allowOrigins ?? []).forEach((o, j) => checkMatch(`${p}.corsPolicy.allowOrigins[${j}]`, o, false));
      if (c.allowOrigins && c.allowOrigin) add(`${p}.corsPolicy.allowOrigin`, "cannot be used together with allowOrigins", c.allowOrigin);
    }

    if (r.mirror && r.mirrors) add(`${p}.mirrors`, "cannot be used together with mirror (as in Istio)", r.mirrors.length);
    if (r.mirrorPercentage && r.mirrorPercent !== undefined) add(`${p}.mirrorPercent`, "cannot be used together with mirrorPercentage", r.mirrorPercent);
    if (!r.mirror && r.mirrorPercentage) add(`${p}.mirrorPercentage`, "needs mirror (mirrors[] carry their own percentage)", r.mirrorPercentage);
    if (!r.mirror && r.mirrorPercent !== undefined) add(`${p}.mirrorPercent`, "needs mirror", r.mirrorPercent);
    if ((r.mirror || r.mirrors) && !r.route) add(`${p}.${r.mirror ? "mirror" : "mirrors"}`, "needs route", r.mirror ?? r.mirrors);
    // Copies go through the lean plain-HTTP client (shadow.ts).
    for (const [mp, d] of [...(r.mirror ? [[`${p}.mirror`, r.mirror] as const] : []), ...(r.mirrors ?? []).map((m, j) => [`${p}.mirrors[${j}].destination`, m.destination] as const)]) {
      const key = proxy ? resolveUpstreamKey(proxy.upstreams, d) : undefined;
      const urls = key === undefined || !proxy ? [] : ([] as string[]).concat(proxy.upstreams[key]);
      if (destinationPolicy(rules, d)?.tls?.mode === "SIMPLE" || urls.some((x) => x.startsWith("https:"))) add(mp, "mirroring to a TLS destination is not supported (copies are sent over plain HTTP)", d);
    }
    if (r.mirror && !skipped) checkDest(`${p}.mirror`, r.mirror);
    if (!skipped) (r.mirrors ?? []).forEach((m, j) => checkDest(`${p}.mirrors[${j}].destination`, m.destination));
  });
}

/** Envoy's retry_on conditions Istio passes through (x-envoy-retry-on). */
const RETRY_ON = new Set(["5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"]);

// ---------------------------------------------------------------- zod issue formatting

type Path = readonly PropertyKey[];

/** `at` + zod's path: `spec.http[0].match` (numbers as `[n]`, keys dotted). */
function formatPath(path: Path, at = ""): string {
  let out = at;
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function valueAt(raw: unknown, path: Path): unknown {
  let cur: unknown = raw;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg as string];
  }
  return cur;
}

export interface ZodProblemOptions {
  /** Path prefix of `raw` in its document, e.g. `spec.compare` ("" = the document itself). */
  at?: string;
  /** Name unknown Istio fields the proxy knows but does not implement (Istio documents only). */
  istio?: boolean;
  /** The same for Gateway API fields (HTTPRoute documents). */
  gatewayApi?: boolean;
}

/**
 * zod issues as ConfigProblems: `<document>: <at + path>: <problem> (got <value>)`, one per
 * unknown key. Shared by every schema of the config (compare/settings.ts too).
 */
export function zodProblems(document: string, error: z.ZodError, raw: unknown, options: ZodProblemOptions = {}): ConfigProblem[] {
  const at = options.at ?? "";
  const out: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        const why = options.istio ? UNSUPPORTED_ISTIO_FIELDS[key] : options.gatewayApi ? UNSUPPORTED_GATEWAY_FIELDS[key] : undefined;
        const problem = why ? `not supported by mirror-proxy (${options.istio ? "Istio" : "Gateway API"} ${why})` : "unknown field";
        out.push({ document, path: formatPath(path, at), problem, value: valueAt(raw, path) });
      }
      continue;
    }
    const value = valueAt(raw, issue.path);
    let problem = issue.message;
    if (issue.code === "invalid_type") problem = value === undefined ? "required" : `must be ${article(issue.expected)}`;
    else if (issue.code === "invalid_value") problem = `must be ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}`;
    out.push({ document, path: formatPath(issue.path, at), problem, value });
  }
  return out;
}

function article(expected: string): string {
  const nice: Record<string, string> = { object: "a mapping", array: "a list", record: "a mapping", string: "a string", number: "a number", boolean: "a boolean", int: "an integer" };
  return nice[expected] ?? expected;
}
