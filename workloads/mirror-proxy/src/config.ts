/**
 * Config loading for the mirror proxy: multi-document YAML of Istio VirtualService and
 * DestinationRule documents plus one `traffic-mirroring/v1` MirrorProxy document.
 *
 * `parseMirrorProxyConfig(text)` is pure (no I/O, no globals touched), so unit tests and
 * the Pulumi program's tests can feed it rendered ConfigMap YAML. It either returns the
 * typed config or throws a `ConfigError` listing every problem as
 * `<Kind/name>: <field path>: <problem> (got <value>)`.
 */
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { checkCompareRoutes, validateCompareSettings, type CompareSettings } from "./compare/settings.ts";
import { validateCopyHeaders, type CopyHeadersSettings } from "./copyHeaders.ts";
import { checkRe2Regex, intPercent, nonNegativeInt, parseDuration, positiveInt, str } from "./syntax.ts";
import { checkHttpRoute, compareView, GATEWAY_API_VERSIONS, parseHttpRouteDoc, UNSUPPORTED_GATEWAY_FIELDS, type GatewayHttpRoute } from "./httpRoute.ts";

// ---------------------------------------------------------------- schemas

const ISTIO_API_VERSIONS = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];
const PROXY_API_VERSION = "traffic-mirroring/v1";

/** Istio fields the proxy knows but does not implement: rejected with this reason, never ignored. */
const UNSUPPORTED_ISTIO_FIELDS: Record<string, string> = {
  fault: "fault injection",
  retries: "retries",
  redirect: "redirects",
  directResponse: "direct responses",
  delegate: "delegation",
  rewrite: "rewrites",
  corsPolicy: "CORS policies",
  headers: "header manipulation",
  tcp: "TCP routes",
  tls: "TLS routes",
  port: "listener port matching (the proxy has one listener)",
  sourceLabels: "source workload matching",
  sourceNamespace: "source namespace matching",
  gateways: "per-match gateway selection",
  statPrefix: "stat prefixes",
  trafficPolicy: "traffic policies (load balancing, connection pools, TLS, outlier detection)",
  workloadSelector: "workload selectors",
  mirrorPolicy: "mirror policies",
  internalActiveRedirect: "internal redirects",
};

/** Istio StringMatch: exactly one of exact | prefix | regex, or `{}` where presence is meant. */
const StringMatch = z.strictObject({
  exact: str().optional(),
  prefix: str().optional(),
  regex: str().optional(),
});
export type StringMatch = z.infer<typeof StringMatch>;

const Destination = z.strictObject({
  host: str().min(1, "must not be empty"),
  subset: str().min(1, "must not be empty").optional(),
  // Accepted: the upstream URL in MirrorProxy spec.upstreams decides the address and port.
  port: z.strictObject({ number: z.number().int().min(1).max(65535) }).optional(),
});
export type Destination = z.infer<typeof Destination>;

const Percent = z.strictObject({
  value: z.number({ error: "must be a number" }).min(0, "must be between 0 and 100").max(100, "must be between 0 and 100"),
});

const HTTPMatchRequest = z.strictObject({
  name: str().optional(),
  uri: StringMatch.optional(),
  scheme: StringMatch.optional(),
  method: StringMatch.optional(),
  authority: StringMatch.optional(),
  headers: z.record(z.string(), StringMatch).optional(),
  queryParams: z.record(z.string(), StringMatch).optional(),
  withoutHeaders: z.record(z.string(), StringMatch).optional(),
  ignoreUriCase: z.boolean({ error: "must be a boolean" }).optional(),
});
export type HTTPMatchRequest = z.infer<typeof HTTPMatchRequest>;

const HTTPRouteDestination = z.strictObject({
  destination: Destination,
  weight: intPercent().optional(),
});

const HTTPMirrorPolicy = z.strictObject({
  destination: Destination,
  percentage: Percent.optional(),
});

const HTTPRoute = z.strictObject({
  name: str().optional(),
  match: z.array(HTTPMatchRequest).optional(),
  route: z.array(HTTPRouteDestination).min(1, "must list at least one destination"),
  timeout: str().optional(),
  mirror: Destination.optional(),
  mirrorPercentage: Percent.optional(),
  // Deprecated integer form; `mirror_percent` is the proto field name, which Istio also accepts.
  mirrorPercent: intPercent().optional(),
  mirror_percent: intPercent().optional(),
  mirrors: z.array(HTTPMirrorPolicy).optional(),
});
/** A validated route; the proto spelling `mirror_percent` is folded into `mirrorPercent`. */
export type HTTPRoute = Omit<z.infer<typeof HTTPRoute>, "mirror_percent">;

// kubectl-style metadata: only name/namespace matter; the rest (labels, uid, ...) is bookkeeping.
const Metadata = z.looseObject({ name: str().min(1, "must not be empty"), namespace: str().optional() });

const VirtualServiceDoc = z.strictObject({
  apiVersion: str(),
  kind: z.literal("VirtualService"),
  metadata: Metadata,
  spec: z.strictObject({
    hosts: z.array(str().min(1, "must not be empty")).min(1, "must list at least one host"),
    // Accepted and ignored: the proxy *is* the gateway (Istio mode binds the same
    // VirtualService to `<ns>/mirror-gateway`), and it serves every VirtualService it is given.
    gateways: z.array(str()).optional(),
    exportTo: z.array(str()).optional(),
    http: z.array(HTTPRoute).min(1, "must list at least one route"),
  }),
  status: z.unknown().optional(),
});

const DestinationRuleDoc = z.strictObject({
  apiVersion: str(),
  kind: z.literal("DestinationRule"),
  metadata: Metadata,
  spec: z.strictObject({
    host: str().min(1, "must not be empty"),
    // Subset labels select pods in Istio; here the upstream URL selects them, so labels are informational.
    subsets: z.array(z.strictObject({ name: str().min(1, "must not be empty"), labels: z.record(z.string(), z.string()).optional() })).optional(),
    exportTo: z.array(str()).optional(),
  }),
  status: z.unknown().optional(),
});

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
  /** Request bodies held for copies, all requests together; beyond, a copy is skipped (`body_too_large`). */
  maxMirrorBufferBytes: nonNegativeInt().optional(),
});
export type Limits = Required<z.infer<typeof LimitsSchema>>;

export const DEFAULT_LIMITS: Limits = {
  headersTimeoutMs: 10000,
  bodyIdleTimeoutMs: 30000,
  keepAliveTimeoutMs: 65000,
  maxConnections: 4096,
  maxPipelinedRequests: 32,
  primaryConnectTimeoutMs: 10000,
  maxRequestHeaderBytes: 61440,
  maxShadowAnswerBytes: 65536,
  maxMirrorBufferBytes: 32 * 1024 * 1024,
};

/** `spec.limits` with the defaults filled in. */
export function limitsOf(settings: MirrorProxySettings): Limits {
  return { ...DEFAULT_LIMITS, ...settings.limits };
}

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

export interface VirtualService {
  name: string;
  namespace?: string;
  hosts: string[];
  http: HTTPRoute[];
}
export interface DestinationRule {
  name: string;
  namespace?: string;
  host: string;
  subsets: string[];
}
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
  virtualServices: VirtualService[];
  /** Gateway API HTTPRoutes (httpRoute.ts), served beside the VirtualServices. */
  httpRoutes: GatewayHttpRoute[];
  destinationRules: DestinationRule[];
  proxy: MirrorProxySettings;
}

export interface ConfigProblem {
  document: string;
  path: string;
  problem: string;
  value?: unknown;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(`invalid mirror-proxy config:\n${problems.map(formatProblem).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  const at = p.path ? `${p.document}: ${p.path}` : p.document;
  return p.value === undefined ? `${at}: ${p.problem}` : `${at}: ${p.problem} (got ${showValue(p.value)})`;
}

function showValue(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

// ---------------------------------------------------------------- upstream / subset lookup

/** A route's id, the `route` metrics label and a `spec.compare.routes` entry: `<VirtualService>/<name or index>`. */
export function routeId(vsName: string, route: { name?: string | undefined }, index: number): string {
  return `${vsName}/${route.name ?? index}`;
}

/** First DNS label: `movies.mirror-demo.svc.cluster.local` -> `movies`. */
export function shortName(host: string): string {
  const dot = host.indexOf(".");
  return dot < 0 ? host : host.slice(0, dot);
}

/**
 * The upstreams key a destination resolves to: exact host first, then its short name
 * (first label), so `movies` and `movies.mirror-demo.svc.cluster.local` both find `movies/v1`.
 */
export function resolveUpstreamKey(upstreams: Record<string, unknown>, dest: Destination): string | undefined {
  const suffix = dest.subset ? `/${dest.subset}` : "";
  const exact = dest.host + suffix;
  if (Object.hasOwn(upstreams, exact)) return exact;
  const short = shortName(dest.host) + suffix;
  if (Object.hasOwn(upstreams, short)) return short;
  return undefined;
}

function findDestinationRule(rules: DestinationRule[], host: string): DestinationRule | undefined {
  return rules.find((r) => r.host === host) ?? rules.find((r) => shortName(r.host) === shortName(host));
}

// ---------------------------------------------------------------- parsing

/** Parses and validates config text. Throws ConfigError naming every problem. */
export function parseMirrorProxyConfig(text: string): MirrorProxyConfig {
  const problems: ConfigProblem[] = [];
  const virtualServices: VirtualService[] = [];
  const destinationRules: DestinationRule[] = [];
  const httpRoutes: GatewayHttpRoute[] = [];
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
      if (kind === "VirtualService") {
        const r = VirtualServiceDoc.safeParse(raw);
        if (!r.success) return void problems.push(...zodProblems(label, r.error, raw, { istio: true }));
        const http = r.data.spec.http.map(({ mirror_percent, ...route }, j) => {
          if (mirror_percent === undefined) return route;
          if (route.mirrorPercent !== undefined) problems.push({ document: label, path: `spec.http[${j}].mirror_percent`, problem: "cannot be used together with mirrorPercent", value: mirror_percent });
          return { ...route, mirrorPercent: mirror_percent };
        });
        virtualServices.push({ name: r.data.metadata.name, namespace: r.data.metadata.namespace, hosts: r.data.spec.hosts, http });
      } else {
        const r = DestinationRuleDoc.safeParse(raw);
        if (!r.success) return void problems.push(...zodProblems(label, r.error, raw, { istio: true }));
        const dr = { name: r.data.metadata.name, namespace: r.data.metadata.namespace, host: r.data.spec.host, subsets: (r.data.spec.subsets ?? []).map((s) => s.name) };
        destinationRules.push(dr);
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
    } else {
      problems.push({ document: label, path: "kind", problem: "unsupported kind: expected VirtualService, DestinationRule, HTTPRoute or MirrorProxy", value: kind });
    }
  });

  if (proxyDocs === 0) problems.push({ document: "MirrorProxy", path: "", problem: `missing: the file needs one document with apiVersion ${PROXY_API_VERSION}, kind MirrorProxy` });
  if (proxyDocs > 1) problems.push({ document: "MirrorProxy", path: "", problem: `must appear once (got ${proxyDocs} documents)` });
  if (virtualServices.length === 0 && httpRoutes.length === 0 && problems.length === 0) problems.push({ document: "VirtualService", path: "", problem: "missing: the file needs at least one VirtualService or HTTPRoute" });

  if (proxy) checkUpstreamUrls(proxy, problems);
  for (const dr of destinationRules) {
    const seen = new Set<string>();
    dr.subsets.forEach((s, i) => {
      if (seen.has(s)) problems.push({ document: `DestinationRule/${dr.name}`, path: `spec.subsets[${i}].name`, problem: "duplicate subset", value: s });
      seen.add(s);
    });
  }
  checkHosts(virtualServices, problems);
  for (const vs of virtualServices) checkVirtualService(vs, destinationRules, proxy, problems);
  for (const route of httpRoutes) {
    const found: { path: string; problem: string; value?: unknown }[] = [];
    checkHttpRoute(route, proxy?.upstreams, found);
    problems.push(...found.map((f) => ({ document: `HTTPRoute/${route.name}`, ...f })));
  }
  if (proxy?.compare) problems.push(...checkCompareRoutes(proxy.compare, [...virtualServices, ...compareView(httpRoutes)], proxyLabel));
  if (proxy && rawCopyHeaders !== undefined) {
    const shaping = validateCopyHeaders(rawCopyHeaders, virtualServices, proxyLabel);
    problems.push(...shaping.problems);
    if (shaping.settings) proxy.copyHeaders = shaping.settings;
  }

  if (problems.length > 0 || !proxy) throw new ConfigError(problems);
  return { virtualServices, destinationRules, httpRoutes, proxy };
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
  if (u.protocol !== "http:") problems.push({ document: "MirrorProxy", path, problem: "only http:// upstreams are supported", value: url });
  else if (u.search || u.hash || u.username) problems.push({ document: "MirrorProxy", path, problem: "must not carry a query, fragment or credentials", value: url });
}

function checkHosts(virtualServices: VirtualService[], problems: ConfigProblem[]): void {
  const owner = new Map<string, string>();
  for (const vs of virtualServices) {
    vs.hosts.forEach((h, i) => {
      const doc = `VirtualService/${vs.name}`;
      if (!/^(\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)$/.test(h)) {
        problems.push({ document: doc, path: `spec.hosts[${i}]`, problem: "must be a DNS name, `*` or `*.suffix`", value: h });
        return;
      }
      const key = h.toLowerCase();
      const prev = owner.get(key);
      if (prev) problems.push({ document: doc, path: `spec.hosts[${i}]`, problem: `host already served by ${prev}`, value: h });
      else owner.set(key, doc);
    });
  }
}

function checkVirtualService(vs: VirtualService, rules: DestinationRule[], proxy: MirrorProxySettings | undefined, problems: ConfigProblem[]): void {
  const doc = `VirtualService/${vs.name}`;
  const add = (path: string, problem: string, value?: unknown) => problems.push({ document: doc, path, problem, value });

  const checkDest = (path: string, d: Destination) => {
    if (proxy && !resolveUpstreamKey(proxy.upstreams, d)) {
      const want = d.subset ? `${d.host}/${d.subset}` : d.host;
      const alt = d.subset ? `${shortName(d.host)}/${d.subset}` : shortName(d.host);
      add(path, `no upstream for "${want}"${alt !== want ? ` or "${alt}"` : ""} in MirrorProxy spec.upstreams`, d);
    }
    if (d.subset) {
      const dr = findDestinationRule(rules, d.host);
      if (!dr) add(`${path}.subset`, `no DestinationRule for host "${d.host}" defines subsets`, d.subset);
      else if (!dr.subsets.includes(d.subset)) add(`${path}.subset`, `subset not defined in DestinationRule/${dr.name} (has ${dr.subsets.join(", ") || "none"})`, d.subset);
    }
  };

  const checkMatch = (path: string, m: StringMatch | undefined, presenceAllowed: boolean, prefixAllowed = true) => {
    if (!m) return;
    const set = (["exact", "prefix", "regex"] as const).filter((k) => m[k] !== undefined);
    if (set.length > 1) add(path, "set only one of exact, prefix, regex", m);
    else if (set.length === 0 && !presenceAllowed) add(path, "must set one of exact, prefix, regex", m);
    if (m.prefix !== undefined && !prefixAllowed) add(`${path}.prefix`, "prefix is not supported here (as in Istio); use exact or regex", m.prefix);
    if (m.regex !== undefined) {
      const err = checkRe2Regex(m.regex);
      if (err) add(`${path}.regex`, err, m.regex);
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
          if (name !== name.toLowerCase()) add(`${mp}.${field}.${name}`, "header names must be lower-case", name);
          checkMatch(`${mp}.${field}.${name}`, sm, true);
        }
      }
      for (const [name, sm] of Object.entries(m.queryParams ?? {})) checkMatch(`${mp}.queryParams.${name}`, sm, true, false);
    });

    r.route.forEach((d, j) => checkDest(`${p}.route[${j}].destination`, d.destination));
    if (r.route.length > 1) {
      const total = r.route.reduce((s, d) => s + (d.weight ?? 0), 0);
      if (total !== 100) add(`${p}.route`, "weights must add up to 100 when there are several destinations", r.route.map((d) => d.weight ?? 0));
    } else if (r.route[0].weight === 0) {
      add(`${p}.route[0].weight`, "the only destination must have a weight above 0 (or none)", 0);
    }

    if (r.timeout !== undefined && parseDuration(r.timeout) === undefined) add(`${p}.timeout`, "must be a duration like 1.5s, 300ms or 1m", r.timeout);

    if (r.mirror && r.mirrors) add(`${p}.mirrors`, "cannot be used together with mirror (as in Istio)", r.mirrors.length);
    if (r.mirrorPercentage && r.mirrorPercent !== undefined) add(`${p}.mirrorPercent`, "cannot be used together with mirrorPercentage", r.mirrorPercent);
    if (!r.mirror && r.mirrorPercentage) add(`${p}.mirrorPercentage`, "needs mirror (mirrors[] carry their own percentage)", r.mirrorPercentage);
    if (!r.mirror && r.mirrorPercent !== undefined) add(`${p}.mirrorPercent`, "needs mirror", r.mirrorPercent);
    if (r.mirror) checkDest(`${p}.mirror`, r.mirror);
    (r.mirrors ?? []).forEach((m, j) => checkDest(`${p}.mirrors[${j}].destination`, m.destination));
  });
}

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
