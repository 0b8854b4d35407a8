/**
 * The mirror proxy's servers: the traffic port (route, forward, mirror) and the admin port
 * (/metrics, /healthz, /readyz). `startMirrorProxy` is programmatic and side-effect free
 * apart from its sockets, so tests and the local demo run it in-process; main.ts adds the
 * CLI, signals and file watching.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net, { type AddressInfo, type Socket } from "node:net";
import os from "node:os";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { callableUrl } from "../../shared/http-service.ts";
import { MIRROR_MARKER_HEADER, MIRROR_MARKER_VALUE } from "../../shared/mirror.ts";
import type { Limits, MirrorProxyConfig, PathNormalization } from "./config.ts";
import { limitsOf } from "./proxyConfig.ts";
import { adminHandler, type AdminRoutes } from "./admin.ts";
import { limitCounter, onClientError, onConnect, oneAtATime, serverOptions, waitingGauge } from "./intake.ts";
import { normalizePath } from "./pathNormalization.ts";
import { BodyCapture, declaredTooLarge } from "./compare/capture.ts";
import { dashboardData, serveDashboard } from "./compare/dashboard.ts";
import { copyShapeFor, shapeCopyHeaders, type CopyShape } from "./copyShape.ts";
import type { CompareReport } from "./compare/report.ts";
import { compareLabel, compareLabelsOf, CompareRuntime, settingsKey, type CompareHooks, type Comparison, type Leg } from "./compare/runtime.ts";
import { MemberResolver, type Resolver } from "./members.ts";
import { LeanRequest, leanPool, type LeanResponse } from "./primaryLean.ts";
import { createMetrics, type ProxyMetrics } from "./metrics.ts";
import { CONNECT_ERRORS, ShadowPool, type Copy, type Outcome } from "./shadow.ts";
import { applyOps, cookieValue, corsActual, corsPreflight, ENVOY_TEXT } from "./actions.ts";
import type { HashSource } from "./policy.ts";
import { compileRouting, nextMember, normalizeHost, otherMember, selectRoute, type Cluster, type CompiledOps, type CompiledRoute, type RequestInfo, type Routing, type Upstream } from "./routing.ts";

/** Bind address when none is given. */
export const DEFAULT_HOST = "0.0.0.0";
/** On drain, how long idle client connections stay open for a request already on its way (each answer meanwhile closes its connection). */
const DRAIN_IDLE_GRACE_MS = 1000;
/** How long drain() waits for in-flight primaries when no timeout is given. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10000;

export interface StartOptions {
  /** Traffic port; overrides spec.listen (default 8080). 0 = ephemeral. */
  listen?: number;
  /** Admin port; overrides spec.admin (default 9901). 0 = ephemeral. */
  admin?: number;
  /** Bind address, default 0.0.0.0. */
  host?: string;
  log?: (line: string) => void;
  /** How long drain() waits for in-flight primaries before closing them (default 10 s). */
  drainTimeoutMs?: number;
  /** How long a shadow whose connect failed is skipped (default 1 s). */
  shadowDownBackoffMs?: number;
  /** This proxy's name in `/compare/stats` (merged across replicas); default the host name (the pod's name in Kubernetes). */
  replica?: string;
  /** How often upstream host names are resolved again (default 5 s; members.ts). */
  resolveIntervalMs?: number;
  /** How upstream host names are resolved (default: the system's, dns.lookup). */
  resolver?: Resolver;
}

export interface MirrorProxy {
  port: number;
  adminPort: number;
  metrics: ProxyMetrics;
  /** The comparison report (`GET /compare` on the admin port); undefined without `spec.compare`. */
  compareReport(): CompareReport | undefined;
  /**
   * Swaps the routing atomically; requests already routed finish on the old one. Given a
   * loader, a loader that throws counts as a failed reload (and the error is rethrown), one
   * that returns undefined means nothing changed. Returns whether a config was applied.
   * Both outcomes are counted in mirror_proxy_config_reloads_total here.
   */
  reload(config: MirrorProxyConfig | (() => MirrorProxyConfig | undefined)): boolean;
  /** readyz -> 503, stop accepting, wait for in-flight primaries (bounded), close everything. */
  drain(timeoutMs?: number): Promise<void>;
  /** Closes at once (in-flight requests are cut). */
  close(): Promise<void>;
}

// RFC 9110 7.6.1 hop-by-hop headers, plus proxy-connection which some clients still send.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"]);
const EMPTY = Buffer.alloc(0);
/** Error code of a primary connection not established within limits.primaryConnectTimeoutMs. */
const CONNECT_TIMEOUT = "ECONNECTTIMEOUT";
// Framing and routing headers are never dropped as "named in Connection": `Connection:
// content-length` must not make the proxy lose a request body (or an answer's length).
const NEVER_NAMED = new Set(["content-length", "transfer-encoding", "host"]);

type RawHeaders = string[];

/** Lower-case names listed in `Connection` (besides keep-alive/close), or undefined. */
function connectionNamed(raw: RawHeaders): string[] | undefined {
  let named: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length !== 10 || n.toLowerCase() !== "connection") continue;
    for (const t of raw[i + 1].toLowerCase().split(",")) {
      const k = t.trim();
      if (k !== "" && k !== "keep-alive" && k !== "close" && !NEVER_NAMED.has(k)) (named ??= []).push(k);
    }
  }
  return named;
}

/** End-to-end response headers: drops hop-by-hop ones and those named in `Connection`. */
function endToEndRaw(raw: RawHeaders): RawHeaders {
  const named = connectionNamed(raw);
  const out: RawHeaders = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(k) || (named !== undefined && named.includes(k))) continue;
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** What the proxy reads from a request's headers, from one pass over rawHeaders. */
interface Forward {
  /** For the primary: Host first, end-to-end headers, then x-forwarded-*. */
  headers: RawHeaders;
  host: string | undefined;
  /** More than one Host header (RFC 9112 3.2: answered 400). */
  duplicateHost: boolean;
  contentLength: string | undefined;
  chunked: boolean;
}

function forwardRequest(raw: RawHeaders, remote: string): Forward {
  const named = connectionNamed(raw);
  const headers: RawHeaders = ["host", ""];
  let host: string | undefined;
  let duplicateHost = false;
  let contentLength: string | undefined;
  let chunked = false;
  let xff: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    const v = raw[i + 1];
    if (k === "host") {
      if (host !== undefined) duplicateHost = true;
      host ??= v;
      continue;
    }
    // Only the proxy marks copies: a client must not pass a live request off as one.
    if (k === MIRROR_MARKER_HEADER) continue;
    if (k === "transfer-encoding") chunked = true;
    if (HOP_BY_HOP.has(k) || (named !== undefined && named.includes(k))) continue;
    if (k === "content-length") contentLength ??= v;
    else if (k === "x-forwarded-for") {
      xff = xff === undefined ? v : `${xff}, ${v}`;
      continue;
    } else if (k === "x-forwarded-proto" || k === "x-forwarded-host") continue;
    headers.push(raw[i], v);
  }
  headers.push("x-forwarded-for", xff ? `${xff}, ${remote}` : remote, "x-forwarded-proto", "http", "x-forwarded-host", "");
  return { headers, host, duplicateHost, contentLength, chunked };
}

/** RequestInfo whose `headers` object is only built when a matcher (or a hash load balancer) asks for it. */
class LazyInfo implements RequestInfo, HashSource {
  setCookie: string | undefined = undefined;
  host: string;
  authority: string;
  method: string;
  path: string;
  query: string;
  scheme = "http";
  private readonly req: http.IncomingMessage;
  constructor(req: http.IncomingMessage, authority: string, method: string, path: string, query: string) {
    this.req = req;
    this.host = normalizeHost(authority);
    this.authority = authority;
    this.method = method;
    this.path = path;
    this.query = query;
  }
  get headers(): http.IncomingHttpHeaders {
    return this.req.headers;
  }
  get remoteAddress(): string {
    return this.req.socket.remoteAddress ?? "";
  }
  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(",") : v;
  }
  cookie(name: string): string | undefined {
    return cookieValue(this.req.headers.cookie, name);
  }
  queryParam(name: string): string | undefined {
    return this.query === "" ? undefined : (new URLSearchParams(this.query).get(name) ?? undefined);
  }
}

/** True for `percent` % of the calls. */
function sampled(percent: number): boolean {
  return percent >= 100 || Math.random() * 100 < percent;
}

/** An answer the proxy makes itself (CORS preflight, fault abort, redirect, direct response), with the route's response header operations. */
function answer(res: http.ServerResponse, status: number, headers: RawHeaders, body: Buffer | undefined, ops: CompiledOps | undefined): void {
  if (res.headersSent) return void res.destroy();
  let raw = headers;
  if (ops !== undefined) raw = applyOps(raw, ops);
  res.writeHead(status, [...raw, "content-length", String(body?.length ?? 0)]);
  res.end(body);
}

/** maxRequestsPerConnection: a socket that carried `max` requests is closed once its answer is read. */
const socketUses = new WeakMap<Socket, number>();
function countRequest(s: Socket, max: number): void {
  const n = (socketUses.get(s) ?? 0) + 1;
  socketUses.set(s, n);
  if (n >= max) s.once("free", () => s.destroy());
}

/** TLS origination (tls.mode SIMPLE): SNI (tls.sni, else the request's host), CA file, verification. */
const caFiles = new Map<string, Buffer>();
function tlsOptions(c: Cluster, authority: string): https.RequestOptions {
  const t = c.policy?.tls;
  const simple = t?.mode === "simple" ? t : undefined;
  let ca: Buffer | undefined;
  if (simple?.caFile) {
    ca = caFiles.get(simple.caFile);
    if (!ca) {
      ca = readFileSync(simple.caFile);
      caFiles.set(simple.caFile, ca);
    }
  }
  const host = normalizeHost(authority);
  return { servername: simple?.sni ?? (/^[\d.]+$/.test(host) || host.includes(":") ? undefined : host), rejectUnauthorized: simple?.insecureSkipVerify !== true, ...(ca ? { ca } : {}) };
}

/** `host:port` -> `host<suffix>:port` (Envoy appends the suffix to the host part). */
export function shadowAuthority(authority: string, suffix: string): string {
  if (suffix === "") return authority;
  const colon = authority.lastIndexOf(":");
  if (colon > 0 && !authority.endsWith("]") && /^\d+$/.test(authority.slice(colon + 1))) {
    return `${authority.slice(0, colon)}${suffix}${authority.slice(colon)}`;
  }
  return authority + suffix;
}

/** A primary request: http.request's, or the lean one (primaryLean.ts); and its answer. */
type PrimaryRequest = http.ClientRequest | LeanRequest;
type PrimaryResponse = http.IncomingMessage | LeanResponse;

/** Whether the lean client can carry this request: no body, and no Expect (undici refuses it). */
function leanEligible(hasBody: boolean, headers: RawHeaders): boolean {
  if (hasBody) return false;
  for (let i = 0; i < headers.length; i += 2) if (headers[i].length === 6 && headers[i].toLowerCase() === "expect") return false;
  return true;
}

/**
 * The primary's answer to the client with backpressure, as pres.pipe(res) would do, without
 * pipe()'s per-response set-up and tear-down (about ten listeners added and removed on both
 * streams). A client gone away is handled by the caller (res "close" destroys the primary).
 */
function relay(pres: PrimaryResponse, res: http.ServerResponse): void {
  pres.on("data", (chunk: Buffer) => {
    if (!res.write(chunk)) pres.pause();
  });
  res.on("drain", () => pres.resume());
  pres.on("end", () => res.end());
}

function plain(res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** One request's copies: what they share, and their header block once the first copy is sent. */
interface ShadowRequest {
  method: string;
  /** Path and query, without the upstream's base path. */
  path: string;
  /** The primary's forwarded headers (Host first): end-to-end headers and x-forwarded-*. */
  headers: RawHeaders;
  authority: string;
  body: Buffer;
  settings: Routing["settings"];
  /** The route's spec.copyHeaders: applied to the copies' headers only. */
  shape: CopyShape | undefined;
  /** Everything after the request line, the same for every copy; built by the first copy sent. */
  block: string | undefined;
}

/** Host with the shadow suffix, the forwarded headers (but their Content-Length and any marker), our marker, the body's length. */
function shadowHeaderBlock(r: ShadowRequest): string {
  let block = `host: ${shadowAuthority(r.authority, r.settings.shadowHostSuffix)}\r\n`;
  const h = r.shape ? shapeCopyHeaders(r.headers, r.shape) : r.headers;
  // h[0..1] is the primary's Host (the copy's is written above); forwardRequest already dropped Transfer-Encoding with the other hop-by-hop headers.
  for (let i = 2; i < h.length; i += 2) {
    const lower = h[i].toLowerCase();
    if (lower === "content-length" || lower === MIRROR_MARKER_HEADER) continue;
    block += `${h[i]}: ${h[i + 1]}\r\n`;
  }
  return `${block}${MIRROR_MARKER_HEADER}: ${MIRROR_MARKER_VALUE}\r\ncontent-length: ${r.body.length}\r\n\r\n`;
}

interface CopyCtx {
  up: Upstream;
  pool: ShadowPool<CopyCtx>;
  /** Set when this copy's answer is compared (or learned from, for a noise copy). */
  leg: Leg | undefined;
}

export async function startMirrorProxy(config: MirrorProxyConfig, opts: StartOptions = {}): Promise<MirrorProxy> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const host = opts.host ?? DEFAULT_HOST;
  const drainTimeoutDefault = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const backoffMs = opts.shadowDownBackoffMs ?? 1000;

  let metricsRef: ProxyMetrics | undefined;
  const policyEvents = { ejected: (k: string) => metricsRef?.policy.ejected(k), restored: (k: string) => metricsRef?.policy.restored(k) };
  let routing: Routing = compileRouting(config, policyEvents);
  for (const n of routing.notes) log(`mirror-proxy: note: ${n}`);
  // Upstream hosts that are DNS names (headless Services) stand for all their addresses (pods).
  const members = new MemberResolver({ log, intervalMs: opts.resolveIntervalMs, resolver: opts.resolver });
  await members.follow(routing);
  // Intake hardening (issue 13): limits and path normalization, swapped on reload like the routing.
  let limits: Limits = limitsOf(config.proxy);
  let pathNormalization: PathNormalization = config.proxy.pathNormalization ?? "BASE";
  let adminTokenFile = config.proxy.adminTokenFile;
  /** Request-body bytes held for copies, all requests together (bounded by limits.maxMirrorBufferBytes). */
  let mirrorBuffered = 0;
  let ready = false;
  let draining = false;
  let primaryInFlight = 0;
  let shadowInFlight = 0;
  let onIdle: (() => void) | undefined;
  // Comparison (spec.compare): one runtime per compare block, kept across reloads that keep it.
  let compare: CompareRuntime | undefined;

  const metrics = createMetrics({ primaryInFlight: () => primaryInFlight, shadowInFlight: () => shadowInFlight, compareInFlight: () => compare?.inFlight ?? 0 });
  metricsRef = metrics;
  const compareHooks: CompareHooks = { routeMetrics: metrics.compareRoute };
  const replica = opts.replica ?? os.hostname();
  // The series of every label the config can compare exist from the start (at 0), so coverage and rates are defined before traffic.
  const compareFor = (c: MirrorProxyConfig, keep: CompareRuntime | undefined): CompareRuntime | undefined => {
    const settings = c.proxy.compare;
    if (!settings) return undefined;
    const rt = keep !== undefined && keep.key === settingsKey(settings) ? keep : new CompareRuntime(settings, compareHooks);
    rt.prebind(compareLabelsOf(c, rt.selects));
    return rt;
  };
  compare = compareFor(config, undefined);
  const limitHit = limitCounter(metrics.registry);

  // Per upstream origin (host:port), kept across reloads so a reload that keeps an upstream
  // keeps its warm connections: the primary's keep-alive agent, and the shadow pool (shadow.ts,
  // a lean pipelining client with the shadow's back-off state). Shadows get their own sockets
  // so a slow shadow can never hold a socket the primary needs. The origin key is computed once
  // per Upstream object (a reload compiles new ones), which then finds its agent/pool directly.
  function perOrigin<V>(byOrigin: Map<string, V>, byUpstream: WeakMap<Upstream, V>, u: Upstream, make: () => V): V {
    let v = byUpstream.get(u);
    if (v === undefined) {
      const origin = `${u.hostname}:${u.port}`;
      v = byOrigin.get(origin);
      if (v === undefined) {
        v = make();
        byOrigin.set(origin, v);
      }
      byUpstream.set(u, v);
    }
    return v;
  }
  const agents = new Map<string, http.Agent>();
  const agentOf = new WeakMap<Upstream, http.Agent>();
  // Keep-alive agents per origin; a cluster with a connection-pool idle timeout or TLS gets its own (same origin, other settings).
  const agentFor = (u: Upstream, c: Cluster): http.Agent => {
    const idle = c.policy?.connectionPool?.idleTimeoutMs;
    if (!u.tls && idle === undefined) return perOrigin(agents, agentOf, u, () => primaryAgent(false, undefined));
    let a = agentOf.get(u);
    if (a === undefined) {
      const key = `${u.hostname}:${u.port}|${u.tls ? "tls" : ""}|${idle ?? ""}`;
      a = agents.get(key);
      if (a === undefined) {
        a = primaryAgent(u.tls, idle);
        agents.set(key, a);
      }
      agentOf.set(u, a);
    }
    return a;
  };
  /** Keep-alive agent whose new connections fail with ECONNECTTIMEOUT past limits.primaryConnectTimeoutMs (answered 503). */
  function primaryAgent(secure: boolean, idleTimeoutMs: number | undefined): http.Agent {
    const options = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, scheduling: "lifo" as const, ...(idleTimeoutMs !== undefined ? { timeout: idleTimeoutMs } : {}) };
    const agent = secure ? new https.Agent(options) : new http.Agent(options);
    agent.createConnection = (opts: net.NetConnectOpts & tls.ConnectionOptions) => {
      const socket = secure ? tls.connect(opts) : net.createConnection(opts);
      const timer = setTimeout(() => {
        limitHit("primary_connect_timeout");
        socket.destroy(Object.assign(new Error("upstream connect timeout"), { code: CONNECT_TIMEOUT }));
      }, limits.primaryConnectTimeoutMs);
      const clear = () => clearTimeout(timer);
      socket.once("connect", clear).once("close", clear);
      return socket;
    };
    return agent;
  }
  // Body-less primaries of clusters without TLS or connection-pool settings: an undici Pool per
  // origin (primaryLean.ts), with the same connect timeout (503) as primaryAgent's.
  const leanPools = new Map<string, ReturnType<typeof leanPool>>();
  const leanPoolOf = new WeakMap<Upstream, ReturnType<typeof leanPool>>();
  const leanPoolFor = (u: Upstream) =>
    perOrigin(leanPools, leanPoolOf, u, () =>
      leanPool(u.hostname, u.port, { timeoutMs: () => limits.primaryConnectTimeoutMs, code: CONNECT_TIMEOUT, onTimeout: () => limitHit("primary_connect_timeout") }),
    );
  const tunnels = new Set<Duplex>();

  // Each copy settles exactly once, here.
  const onSettle = (copy: Copy<CopyCtx>, outcome: Outcome, status: number) => {
    shadowInFlight--;
    const { up, pool, leg } = copy.ctx;
    pool.probing = false;
    if (leg !== undefined) leg.settled(outcome === "response", performance.now() - copy.started);
    if (outcome === "response") {
      pool.downUntil = 0;
      metrics.shadowResponse(up.key, status, (performance.now() - copy.started) / 1000);
    } else if (outcome === "timeout") metrics.copyDropped(up.key, "timeout");
    else {
      if (outcome === "connect") pool.downUntil = Date.now() + backoffMs;
      metrics.copyFailed(up.key, outcome);
    }
  };
  // Pools take spec.maxShadowInFlight (their connection cap) and spec.shadowTimeoutMs when
  // created and on every reload.
  const pools = new Map<string, ShadowPool<CopyCtx>>();
  const poolOf = new WeakMap<Upstream, ShadowPool<CopyCtx>>();
  const poolFor = (u: Upstream): ShadowPool<CopyCtx> =>
    perOrigin(pools, poolOf, u, () => {
      const pool = new ShadowPool<CopyCtx>(u.hostname, u.port, onSettle);
      configurePool(pool);
      pool.onDiscardCut = () => limitHit("max_shadow_answer_bytes");
      return pool;
    });
  /** The settings a pool takes from the routing and the limits, when created and on every reload. */
  function configurePool(pool: ShadowPool<CopyCtx>): void {
    pool.maxConns = routing.settings.maxShadowInFlight;
    pool.timeoutMs = routing.settings.shadowTimeoutMs;
    pool.maxDiscardBytes = limits.maxShadowAnswerBytes;
    pool.maxCutsPerSecond = limits.maxShadowAnswerCutsPerSecond;
  }

  function sendCopy(up: Upstream, r: ShadowRequest, leg: Leg | undefined): void {
    const settings = r.settings;
    const pool = poolFor(up);
    if (pool.downUntil !== 0) {
      // Down: skip until the back-off ends, then let exactly one copy probe.
      if (pool.probing || Date.now() < pool.downUntil) {
        leg?.dropped("shadow_failed", true);
        return metrics.copyDropped(up.key, "shadow_down");
      }
      pool.probing = true;
    }
    if (pool.cutBudgetSpent()) {
      // This second's budget of over-long answers is spent: a copy now would cost a connection.
      if (pool.probing) pool.probing = false;
      leg?.dropped("shadow_failed", true);
      return metrics.copyDropped(up.key, "answer_too_large");
    }
    if (shadowInFlight >= settings.maxShadowInFlight) {
      if (pool.probing) pool.probing = false;
      leg?.dropped("shadow_failed");
      return metrics.copyDropped(up.key, "in_flight_limit");
    }
    leg?.sent();
    shadowInFlight++;
    const started = performance.now();
    r.block ??= shadowHeaderBlock(r);
    const head = `${r.method} ${up.basePath}${r.path} HTTP/1.1\r\n${r.block}`;
    metrics.copySent(up.key);
    pool.send(head, r.body, { ctx: { up, pool, leg }, started, deadline: started + settings.shadowTimeoutMs, noBody: r.method === "HEAD", capture: leg?.capture });
  }

  /** `legs` is parallel to `targets` (undefined when not compared). */
  function sendCopies(targets: Upstream[], legs: Leg[] | undefined, r: ShadowRequest): void {
    for (let i = 0; i < targets.length; i++) sendCopy(targets[i], r, legs?.[i]);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    primaryInFlight++;
    if (draining) res.shouldKeepAlive = false;

    const rt = routing; // one routing table per request, even if a reload swaps it meanwhile
    const fwd = forwardRequest(req.rawHeaders, req.socket.remoteAddress ?? "");
    let url = req.url ?? "/";
    let authority = fwd.host ?? "";
    let preq: PrimaryRequest | undefined;
    let timer: NodeJS.Timeout | undefined;
    let bodyTimedOut = false;
    let cmp: Comparison | undefined;
    let onGone: (() => void) | undefined;
    res.once("close", () => {
      primaryInFlight--;
      cmp?.primaryFailed(); // no-op when the primary's answer ended

      if (!res.writableFinished) {
        metrics.clientAbort();
        clearTimeout(timer);
        preq?.destroy();
        onGone?.();
      }
      if (primaryInFlight === 0 && onIdle) onIdle();
    });
    if (fwd.duplicateHost) return refuse(req, res, "more than one Host header\n");
    if (url.charCodeAt(0) !== 47 /* / */) {
      // Absolute-form (RFC 9112 3.2.2): its authority replaces Host for routing. The proxy
      // still only ever connects to spec.upstreams, whatever the URL names.
      const m = /^http:\/\/([^/?#]*)([^#]*)/i.exec(url);
      if (!m) {
        req.resume();
        metrics.request("none", 400);
        return plain(res, 400, "bad request target\n");
      }
      authority = m[1];
      url = m[2] || "/";
      if (url.charCodeAt(0) !== 47) url = `/${url}`;
    }
    const qi = url.indexOf("?");
    // Normalized before routing, as Istio does; the upstreams get the normalized path too.
    const rawPath = qi < 0 ? url : url.slice(0, qi);
    const query = qi < 0 ? "" : url.slice(qi + 1);
    const path = normalizePath(rawPath, pathNormalization);
    if (path === undefined) return refuse(req, res, "invalid path (%00)\n");
    if (path !== rawPath) url = qi < 0 ? path : `${path}?${query}`;
    const method = req.method ?? "GET";
    const info = new LazyInfo(req, authority, method, path, query);
    const route = selectRoute(rt, info);
    if (!route) {
      req.resume();
      metrics.request("none", 404);
      return plain(res, 404, "no route\n");
    }

    // Envoy's filter order: CORS, then fault, then the route's action (router).
    let extra: RawHeaders | undefined; // response headers the filters add
    if (route.cors !== undefined) {
      const origin = req.headers.origin;
      if (origin !== undefined) {
        const c = route.cors;
        const allowed = c.origin(origin);
        if (method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined && (allowed || !c.forwardUnmatched)) {
          req.resume();
          metrics.request(route.id, 200);
          return answer(res, 200, allowed ? corsPreflight(c, origin) : [], undefined, route.response);
        }
        if (allowed) extra = corsActual(c, origin);
      }
    }
    const f = route.fault;
    if (f === undefined) return act(req, res, rt, route, info, fwd, url, authority, extra);
    const delay = f.hasDelay && sampled(f.delayPercent);
    const proceed = () => {
      if (res.destroyed) return;
      if (f.hasAbort && sampled(f.abortPercent)) {
        req.resume();
        metrics.policy.fault(route.id, "abort");
        metrics.request(route.id, f.abortStatus);
        if (f.grpcStatus !== undefined) return answer(res, 200, ["content-type", "application/grpc", "grpc-status", String(f.grpcStatus), "grpc-message", ENVOY_TEXT.abort], undefined, route.response);
        return answer(res, f.abortStatus, ["content-type", "text/plain"], Buffer.from(ENVOY_TEXT.abort), route.response);
      }
      act(req, res, rt, route, info, fwd, url, authority, extra);
    };
    if (!delay) return proceed();
    metrics.policy.fault(route.id, "delay");
    timer = setTimeout(proceed, f.delayMs);

    /** The chosen route's action: redirect, direct response, or forward to the primary (with its copies). */
    function act(req: http.IncomingMessage, res: http.ServerResponse, rt: Routing, route: CompiledRoute, info: LazyInfo, fwd: Forward, url: string, authority: string, extra: RawHeaders | undefined): void {
      if (route.kind === "redirect" && route.redirect) {
        req.resume();
        metrics.request(route.id, route.redirect.status);
        const loc = route.redirect.location("http", authority, info.path, info.query);
        return answer(res, route.redirect.status, extra ? [...extra, "location", loc] : ["location", loc], undefined, route.response);
      }
      if (route.kind === "direct" && route.direct) {
        req.resume();
        metrics.request(route.id, route.direct.status);
        const body = route.direct.body;
        return answer(res, route.direct.status, body && body.length > 0 ? [...(extra ?? []), "content-type", "text/plain"] : (extra ?? []), body, route.response);
      }
      forward(req, res, rt, route, info, fwd, url, authority, extra);
    }

    function forward(req: http.IncomingMessage, res: http.ServerResponse, rt: Routing, route: CompiledRoute, info: LazyInfo, fwd: Forward, url: string, authority: string, extra: RawHeaders | undefined): void {
      const target = route.pick(Math.random());
      const group = target.cluster;
      const first = group.choose(info);
      if (first === undefined) {
        req.resume();
        metrics.request(route.id, 503);
        return answer(res, 503, ["content-type", "text/plain"], Buffer.from(ENVOY_TEXT.noHealthy), target.response);
      }
      if (info.setCookie !== undefined) (extra ??= []).push("set-cookie", info.setCookie);
      const routeId = route.id;

      // The request as it leaves for the primary (rewritten, headers operated on); its copies are made from it, as Envoy's.
      if (route.rewritePath !== undefined) url = route.rewritePath(info.path) + (info.query === "" ? "" : `?${info.query}`);
      const upstreamAuthority = route.rewriteAuthority ?? authority;
      let headers = fwd.headers;
      headers[1] = upstreamAuthority; // host
      headers[headers.length - 1] = authority; // x-forwarded-host: as the client sent it
      if (target.request !== undefined) headers = applyOps(headers, target.request, 2);

      // Sample each mirror independently, before the body arrives.
      let copies: Upstream[] | undefined;
      for (const m of route.mirrors) {
        if (m.percent >= 100 || Math.random() * 100 < m.percent) (copies ??= []).push(nextMember(m.upstream));
      }

      // Comparison: one leg per copy (parallel to `copies`), plus a second primary copy when
      // noise is sampled (it goes to another URL of the primary's upstream when it has several).
      let legs: Leg[] | undefined;
      const cr = compare;
      if (copies && cr !== undefined && cr.selects(routeId)) {
        const labels = copies.map((c) => compareLabel(routeId, route.mirrors.length, c.key));
        const noiseCopy = cr.wantsNoiseCopy(routeId, method);
        cmp = cr.begin(routeId, labels, { method, path: url, host: authority }, noiseCopy);
        if (cmp) {
          legs = [...cmp.legs];
          if (cmp.noiseLeg) {
            copies.push(otherMember(group, first));
            legs.push(cmp.noiseLeg);
          }
          const c = cmp;
          req.once("close", () => c.abandonUnsent());
        }
      }

      const hasBody = fwd.contentLength !== undefined ? fwd.contentLength !== "0" : fwd.chunked;
      const settings = rt.settings;
      const shape = copies && copyShapeFor(settings.copyHeaders, routeId);
      // Copies of a body-less request go out now, those of a request with a body once it is in
      // (below). They share `headers` with the primary, whose chunked framing header is added
      // to a copy of the list, never to `headers`.
      if (!hasBody && copies) sendCopies(copies, legs, { method, path: url, headers, authority: upstreamAuthority, body: EMPTY, settings, shape, block: undefined });
      // Transfer-Encoding is hop-by-hop: re-frame a body of unknown length as chunked ourselves.
      const primaryHeaders = hasBody && fwd.contentLength === undefined ? [...headers, "transfer-encoding", "chunked"] : headers;
      const responseOps = target.response;
      const retry = route.retries;
      const maxAttempts = 1 + (retry?.attempts ?? 0);
      let attempts = 0;
      // A body is kept for a retry only up to maxMirrorBodyBytes (Envoy: its buffer limit); beyond, no retry.
      let retryBody: BodyCapture | undefined;
      if (route.timeoutMs > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          preq?.destroy();
          pendingStart?.();
        }, route.timeoutMs);
      }
      let timedOut = false;
      let pendingStart: (() => void) | undefined;

      /** One attempt to `up`, admitted by its cluster's connection pool when it has one. */
      const attempt = (up: Upstream) => {
        attempts++;
        if (group.maxActive === Infinity) return send(up, false);
        const start = () => {
          pendingStart = undefined;
          if (res.destroyed || timedOut) return group.release();
          send(up, true);
        };
        if (!group.admit(start)) {
          req.resume();
          metrics.policy.overflow(group.key);
          metrics.request(routeId, 503);
          return answer(res, 503, ["content-type", "text/plain", "x-envoy-overloaded", "true"], Buffer.from(ENVOY_TEXT.overflow), responseOps);
        }
        if (!group.pending.includes(start)) return; // started at once
        pendingStart = () => {
          group.cancel(start);
          if (timedOut && !res.destroyed) {
            metrics.request(routeId, 504);
            plain(res, 504, `${ENVOY_TEXT.timeout}\n`);
          }
        };
        onGone = pendingStart;
      };
      const retryOrFail = (up: Upstream, status: number): boolean => {
        if (retry === undefined || attempts >= maxAttempts || timedOut || res.destroyed) return false;
        if (hasBody && (retryBody === undefined || !req.complete || retryBody.tooLarge)) return false;
        metrics.policy.retry(up.key);
        // Envoy's back-off: 25 ms base, doubled per retry, full jitter.
        setTimeout(() => {
          if (res.destroyed || timedOut) return;
          const next = group.choose(info) ?? up;
          attempt(next);
        }, Math.random() * 25 * 2 ** (attempts - 1));
        void status;
        return true;
      };

      const send = (up: Upstream, pooled: boolean) => {
        const tracked = group.tracked;
        const started = performance.now();
        if (cmp !== undefined) cmp.started = started;
        const lean = !up.tls && group.policy?.connectionPool === undefined && leanEligible(hasBody, primaryHeaders);
        const p: PrimaryRequest = lean
          ? new LeanRequest(leanPoolFor(up), { method, path: up.basePath + url, headers: primaryHeaders })
          : (up.tls ? https : http).request({ agent: agentFor(up, group), host: up.hostname, port: up.port, method, path: up.basePath + url, headers: primaryHeaders, setHost: false, ...(up.tls ? tlsOptions(group, upstreamAuthority) : {}) });
        preq = p;
        if (tracked || pooled) {
          // Per-member load and the pool's slot, given back once when this attempt ends.
          if (tracked) up.active++;
          p.once("close", () => {
            if (tracked) up.active--;
            if (pooled) group.release();
          });
        }
        let tryTimer: NodeJS.Timeout | undefined;
        let tryTimedOut = false;
        if (retry !== undefined && retry.perTryTimeoutMs > 0) {
          tryTimer = setTimeout(() => {
            tryTimedOut = true;
            p.destroy();
          }, retry.perTryTimeoutMs);
        }
        const connectMs = group.policy?.connectionPool?.connectTimeoutMs;
        if (connectMs !== undefined && connectMs > 0) {
          (p as http.ClientRequest).once("socket", (s) => {
            if (!s.connecting) return;
            const t = setTimeout(() => s.destroy(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })), connectMs);
            s.once("connect", () => clearTimeout(t));
            s.once("close", () => clearTimeout(t));
          });
        }
        const perConn = group.policy?.connectionPool?.maxRequestsPerConnection;
        if (perConn !== undefined) (p as http.ClientRequest).once("socket", (s) => countRequest(s, perConn)); // never lean (a connection pool)

        p.on("response", (pres: PrimaryResponse) => {
          clearTimeout(tryTimer);
          const status = pres.statusCode ?? 503;
          metrics.upstreamLatency(up.key, (performance.now() - started) / 1000);
          if (tracked) group.outcome(up, status);
          if (retry !== undefined && retry.retriable(status) && retryOrFail(up, status)) {
            pres.resume();
            return;
          }
          metrics.request(routeId, status);
          if (timer !== undefined) pres.on("end", () => clearTimeout(timer));
          if (res.destroyed) {
            pres.destroy();
            return;
          }
          let raw = endToEndRaw(pres.rawHeaders);
          if (responseOps !== undefined) raw = applyOps(raw, responseOps);
          if (extra !== undefined) raw.push(...extra);
          res.writeHead(status, pres.statusMessage, raw);
          relay(pres, res);
          if (cmp !== undefined) {
            // Registered after relay(): each chunk is written to the client first, then captured.
            const c = cmp;
            c.primaryHead(status, pres.headers);
            if (!c.primary.tooLarge) pres.on("data", (chunk: Buffer) => c.primaryChunk(chunk));
            pres.on("end", () => c.primaryEnd(performance.now()));
          }
          pres.on("error", () => res.destroy());
        });
        p.on("error", (err: NodeJS.ErrnoException) => {
          clearTimeout(tryTimer);
          if (res.destroyed || res.writableFinished || bodyTimedOut) return clearTimeout(timer); // client went away first, or 408 already answered
          if (err.code === CONNECT_TIMEOUT && !(retry?.onConnect && retryOrFail(up, 0))) {
            // Envoy's connect timeout: 503 (limits.primaryConnectTimeoutMs, Istio's default 10 s).
            clearTimeout(timer);
            if (tracked) group.outcome(up, 0);
            metrics.upstreamError(up.key, "connect");
            if (!res.headersSent) metrics.request(routeId, 503);
            return plain(res, 503, "upstream connect timeout\n");
          }
          if (err.code === CONNECT_TIMEOUT) return;
          if (timedOut) {
            metrics.upstreamError(up.key, "timeout");
            if (!res.headersSent) metrics.request(routeId, 504);
            return plain(res, 504, `${ENVOY_TEXT.timeout}\n`);
          }
          const connect = err.code !== undefined && CONNECT_ERRORS.has(err.code);
          if (tracked) group.outcome(up, 0);
          if (!res.headersSent && retry !== undefined && (tryTimedOut ? retry.retriable(504) : connect ? retry.onConnect : retry.onReset) && retryOrFail(up, 0)) return;
          clearTimeout(timer);
          if (tryTimedOut) {
            metrics.upstreamError(up.key, "timeout");
            if (!res.headersSent) metrics.request(routeId, 504);
            return plain(res, 504, `${ENVOY_TEXT.timeout}\n`);
          }
          metrics.upstreamError(up.key, connect ? "connect" : "reset");
          // Envoy answers 503 for an upstream it could not reach or that reset before answering.
          if (!res.headersSent) metrics.request(routeId, 503);
          plain(res, 503, `${connect ? ENVOY_TEXT.connect : ENVOY_TEXT.reset}\n`);
        });

        if (!hasBody) {
          p.end();
          if (attempts === 1) req.resume();
          return;
        }
        if (attempts > 1) {
          p.end(retryBody?.body());
          return;
        }
        req.pipe(p as http.ClientRequest); // a request with a body never takes the lean client
        // A body that stops arriving: 408 (a reset once the answer started), and the connection closes.
        const bodyTimer = setTimeout(() => {
          bodyTimedOut = true;
          limitHit("body_idle_timeout");
          p.destroy();
          if (res.headersSent) return void res.destroy();
          res.shouldKeepAlive = false;
          metrics.request(routeId, 408);
          plain(res, 408, "request body timeout\n");
        }, limits.bodyIdleTimeoutMs);
        req.on("data", () => bodyTimer.refresh());
        req.once("end", () => clearTimeout(bodyTimer));
        res.once("close", () => clearTimeout(bodyTimer));
        if (retry !== undefined) {
          const keep = new BodyCapture(settings.maxMirrorBodyBytes);
          retryBody = keep;
          req.on("data", (chunk: Buffer) => keep.push(chunk));
        }
        if (!copies) return;
        const cap = settings.maxMirrorBodyBytes;
        const wanted = copies;
        const tooLarge = () => {
          for (let i = 0; i < wanted.length; i++) {
            legs?.[i].dropped("body_too_large");
            metrics.copyDropped(wanted[i].key, "body_too_large");
          }
        };
        if (declaredTooLarge(fwd.contentLength, cap)) return tooLarge();
        // Tee: chunks go to the primary at once (pipe above) and are kept for the copy up to the
        // cap, and while all requests together hold less than limits.maxMirrorBufferBytes.
        const capture = new BodyCapture(cap);
        let held = 0;
        const release = () => {
          mirrorBuffered -= held;
          held = 0;
        };
        const onData = (chunk: Buffer) => {
          if (mirrorBuffered + chunk.length > limits.maxMirrorBufferBytes) {
            limitHit("max_mirror_buffer_bytes");
            capture.markTooLarge();
          } else if (capture.push(chunk)) {
            held += chunk.length;
            mirrorBuffered += chunk.length;
            return;
          }
          req.off("data", onData);
          release();
          tooLarge();
        };
        req.on("data", onData);
        res.once("close", release);
        req.on("end", () => {
          const body = capture.body();
          release();
          if (body === undefined) return;
          sendCopies(wanted, legs, { method, path: url, headers, authority: upstreamAuthority, body, settings, shape, block: undefined });
        });
      };
      attempt(first);
    }
  }

  /**
   * An `Upgrade` request (WebSocket): tunnelled to the route's primary, as Envoy does. Its
   * copies are not sent (a tunnel cannot be mirrored) and are counted as dropped (`upgrade`).
   */
  function handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const rt = routing;
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    };
    socket.on("error", () => socket.destroy());
    const fwd = forwardRequest(req.rawHeaders, req.socket.remoteAddress ?? "");
    const url = req.url ?? "/";
    const authority = fwd.host ?? "";
    const qi = url.indexOf("?");
    const info = new LazyInfo(req, authority, req.method ?? "GET", qi < 0 ? url : url.slice(0, qi), qi < 0 ? "" : url.slice(qi + 1));
    const route = url.charCodeAt(0) === 47 ? selectRoute(rt, info) : undefined;
    if (!route || route.kind !== "forward") {
      metrics.request(route?.id ?? "none", 404);
      return refuse(404, "no route\n");
    }
    for (const m of route.mirrors) metrics.copyDropped(m.upstream.key, "upgrade");
    const target = route.pick(Math.random());
    const up = target.cluster.choose(info);
    if (!up) return refuse(503, `${ENVOY_TEXT.noHealthy}\n`);
    const path = route.rewritePath ? route.rewritePath(info.path) + (info.query === "" ? "" : `?${info.query}`) : url;
    let headers = fwd.headers;
    headers[1] = route.rewriteAuthority ?? authority;
    headers[headers.length - 1] = authority;
    if (target.request !== undefined) headers = applyOps(headers, target.request, 2);
    headers.push("connection", "upgrade", "upgrade", String(req.headers.upgrade ?? "websocket"));
    const p = (up.tls ? https : http).request({ host: up.hostname, port: up.port, method: req.method, path: up.basePath + path, headers, setHost: false, ...(up.tls ? tlsOptions(target.cluster, headers[1]) : {}) });
    tunnels.add(socket);
    socket.once("close", () => {
      tunnels.delete(socket);
      p.destroy();
    });
    p.on("upgrade", (pres, upstream, upHead) => {
      metrics.request(route.id, 101);
      let out = `HTTP/1.1 101 ${pres.statusMessage ?? "Switching Protocols"}\r\n`;
      const raw = pres.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
      socket.write(`${out}\r\n`);
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upstream.write(head);
      upstream.on("error", () => socket.destroy());
      socket.on("error", () => upstream.destroy());
      upstream.pipe(socket);
      socket.pipe(upstream);
      upstream.once("close", () => socket.destroy());
    });
    p.on("response", (pres) => {
      // The upstream declined the upgrade: relay its answer and close.
      metrics.request(route.id, pres.statusCode ?? 503);
      let out = `HTTP/1.1 ${pres.statusCode} ${pres.statusMessage ?? ""}\r\n`;
      const raw = endToEndRaw(pres.rawHeaders);
      for (let i = 0; i < raw.length; i += 2) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
      socket.write(`${out}connection: close\r\n\r\n`);
      pres.pipe(socket);
    });
    p.on("error", (err: NodeJS.ErrnoException) => {
      if (socket.destroyed) return;
      const connect = err.code !== undefined && CONNECT_ERRORS.has(err.code);
      metrics.upstreamError(up.key, connect ? "connect" : "reset");
      metrics.request(route.id, 503);
      refuse(503, `${connect ? ENVOY_TEXT.connect : ENVOY_TEXT.reset}\n`);
    });
    p.end();
  }

  /** 400 before routing (counted with route `none`). */
  function refuse(req: http.IncomingMessage, res: http.ServerResponse, why: string): void {
    req.resume();
    metrics.request("none", 400);
    res.shouldKeepAlive = false;
    plain(res, 400, why);
  }

  const server = http.createServer(serverOptions(limits), oneAtATime(handle, () => limits.maxPipelinedRequests, limitHit, waitingGauge(metrics.registry)));
  server.maxConnections = limits.maxConnections;
  server.on("drop", () => limitHit("max_connections"));
  let openConnections = 0;
  server.on("connection", (socket: net.Socket) => {
    openConnections++;
    socket.once("close", () => openConnections--);
  });
  server.on("clientError", onClientError(limitHit));
  server.on("connect", onConnect);
  server.on("upgrade", handleUpgrade);

  // Admin routes (admin.ts): public ones face the pod IP; protected ones hold traffic data.
  const adminRoutes: AdminRoutes = {
    public: {
      "/healthz": (_req, res) => plain(res, 200, "ok\n"),
      "/readyz": (_req, res) => (ready && !draining ? plain(res, 200, "ready\n") : plain(res, 503, draining ? "draining\n" : "not ready\n")),
      "/metrics": async (_req, res) => {
        try {
          const text = await metrics.registry.metrics();
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        } catch (e) {
          plain(res, 500, `${(e as Error).message}\n`);
        }
      },
    },
    protected: {
      "/compare": (_req, res) => {
        const cr = compare;
        if (!cr) return compareOff(res);
        json(res, cr.report.toJSON());
      },
      "/compare/summary": (_req, res) => {
        const cr = compare;
        if (!cr) return compareOff(res);
        plain(res, 200, `${cr.report.summaryLine()}\n`);
      },
      // The mergeable per-replica form, for npm run verdict (it carries example paths: traffic data).
      "/compare/stats": (_req, res) => {
        const cr = compare;
        if (!cr) return compareOff(res);
        json(res, cr.report.toStats(replica));
      },
      // The dashboard page and its data (compare/dashboard.ts).
      "/compare/ui": (req, res) => (compare ? serveDashboard(req, res) : compareOff(res)),
      "/compare/ui.json": (_req, res) => {
        const cr = compare;
        if (!cr) return compareOff(res);
        json(res, dashboardData(cr.report.toStats(replica)));
      },
    },
  };
  const json = (res: http.ServerResponse, value: unknown) => {
    const body = JSON.stringify(value, null, 2);
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  const compareOff = (res: http.ServerResponse) => plain(res, 404, "comparison is off: add a compare block to the MirrorProxy spec (see the README)\n");
  const admin = http.createServer(adminHandler(adminRoutes, () => adminTokenFile));

  const listenOn = (s: http.Server, port: number) =>
    new Promise<AddressInfo>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, host, () => {
        s.off("error", reject);
        resolve(s.address() as AddressInfo);
      });
    });

  const adminAddress = await listenOn(admin, opts.admin ?? config.proxy.admin ?? 9901);
  let address: AddressInfo;
  try {
    address = await listenOn(server, opts.listen ?? config.proxy.listen ?? 8080);
  } catch (e) {
    admin.close();
    throw e;
  }
  const port = address.port;
  const adminPort = adminAddress.port;
  ready = true;
  // A wildcard bind is shown as 127.0.0.1, an IPv6 address in brackets.
  log(`mirror-proxy listening on ${callableUrl(address)}`);
  log(`mirror-proxy admin on ${callableUrl(adminAddress)}`);

  const closeAll = async () => {
    members.stop();
    server.closeAllConnections();
    admin.closeAllConnections();
    await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => admin.close(r))]);
    for (const t of tunnels) t.destroy();
    for (const a of agents.values()) a.destroy();
    for (const lp of leanPools.values()) void lp.destroy();
    for (const p of pools.values()) p.destroy();
  };

  return {
    port,
    adminPort,
    metrics,
    compareReport: () => compare?.report,
    reload(load) {
      let next: MirrorProxyConfig | undefined;
      if (typeof load !== "function") next = load;
      else {
        try {
          next = load();
        } catch (e) {
          metrics.reload(false);
          throw e;
        }
        if (next === undefined) return false;
      }
      routing = compileRouting(next, policyEvents);
      for (const n of routing.notes) log(`mirror-proxy: note: ${n}`);
      void members.follow(routing);
      limits = limitsOf(next.proxy);
      pathNormalization = next.proxy.pathNormalization ?? "BASE";
      adminTokenFile = next.proxy.adminTokenFile;
      server.maxConnections = limits.maxConnections;
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      server.headersTimeout = limits.headersTimeoutMs;
      for (const pool of pools.values()) configurePool(pool);
      // Same compare block: keep the learned noise and the report. Changed: start afresh
      // (comparisons in flight finish on the old one, which is then dropped).
      // (Route selection depends on the route id and `routes` only, so a kept runtime holds for the new routes.)
      compare = compareFor(next, compare);
      metrics.reload(true);
      const p = next.proxy;
      if ((p.listen !== undefined && p.listen !== config.proxy.listen) || (p.admin !== undefined && p.admin !== config.proxy.admin)) {
        log("mirror-proxy: reload cannot change listen/admin ports; restart to apply them");
      }
      return true;
    },
    async drain(timeoutMs = drainTimeoutDefault) {
      draining = true;
      // Stop accepting, but keep idle keep-alive connections for a moment: http.Server#close()
      // would close them at once, and a client's next request may already be on its way on one
      // (it would fail with a reset). Every answer from now on says `Connection: close`, so a
      // busy connection ends after its next answer; what is still idle after the grace was idle.
      net.Server.prototype.close.call(server);
      if (openConnections > 0) await new Promise((r) => setTimeout(r, Math.min(DRAIN_IDLE_GRACE_MS, timeoutMs)));
      server.closeIdleConnections();
      if (primaryInFlight > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutMs);
          onIdle = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      await closeAll();
    },
    close: closeAll,
  };
}
