/**
 * The mirror proxy's servers: the traffic port (route, forward, mirror) and the admin port
 * (/metrics, /healthz, /readyz). `startMirrorProxy` is programmatic and side-effect free
 * apart from its sockets, so tests and the local demo run it in-process; main.ts adds the
 * CLI, signals and file watching.
 */
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import { callableUrl } from "../../shared/http-service.ts";
import { MIRROR_MARKER_HEADER, MIRROR_MARKER_VALUE } from "../../shared/mirror.ts";
import { limitsOf, type Limits, type MirrorProxyConfig, type PathNormalization } from "./config.ts";
import { adminHandler, type AdminRoutes } from "./admin.ts";
import { limitCounter, onClientError, onConnect, oneAtATime, serverOptions } from "./intake.ts";
import { normalizePath } from "./pathNormalization.ts";
import { BodyCapture, declaredTooLarge } from "./compare/capture.ts";
import { dashboardData, serveDashboard } from "./compare/dashboard.ts";
import { copyShapeFor, shapeCopyHeaders, type CopyShape } from "./copyHeaders.ts";
import type { CompareReport } from "./compare/report.ts";
import { compareLabel, compareLabelsOf, CompareRuntime, settingsKey, type CompareHooks, type Comparison, type Leg } from "./compare/runtime.ts";
import { MemberResolver, type Resolver } from "./members.ts";
import { createMetrics, type ProxyMetrics } from "./metrics.ts";
import { CONNECT_ERRORS, ShadowPool, type Copy, type Outcome } from "./shadow.ts";
import { compileRouting, nextMember, normalizeHost, otherMember, selectRoute, type RequestInfo, type Routing, type Upstream } from "./routing.ts";

/** Bind address when none is given. */
export const DEFAULT_HOST = "0.0.0.0";
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

/** Headers as Node's `rawHeaders`: a flat [name, value, name, value, ...] list, names as sent. */
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

/** RequestInfo whose `headers` object is only built when a matcher asks for it. */
class LazyInfo implements RequestInfo {
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

  let routing: Routing = compileRouting(config);
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
  const agentFor = (u: Upstream): http.Agent => perOrigin(agents, agentOf, u, primaryAgent);
  /** Keep-alive agent whose new connections fail with ECONNECTTIMEOUT past limits.primaryConnectTimeoutMs (answered 503). */
  function primaryAgent(): http.Agent {
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, scheduling: "lifo" });
    agent.createConnection = (options: net.NetConnectOpts) => {
      const socket = net.createConnection(options);
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
      const pool = new ShadowPool<CopyCtx>(u.hostname, u.port, onSettle, routing.settings.maxShadowInFlight, routing.settings.shadowTimeoutMs);
      pool.maxDiscardBytes = limits.maxShadowAnswerBytes;
      pool.onDiscardCut = () => limitHit("max_shadow_answer_bytes");
      return pool;
    });

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
    let preq: http.ClientRequest | undefined;
    let timer: NodeJS.Timeout | undefined;
    let bodyTimedOut = false;
    let cmp: Comparison | undefined;
    res.once("close", () => {
      primaryInFlight--;
      cmp?.primaryFailed(); // no-op when the primary's answer ended

      if (!res.writableFinished) {
        metrics.clientAbort();
        clearTimeout(timer);
        preq?.destroy();
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
    const group = route.pick(Math.random());
    const up = nextMember(group);
    const routeId = route.id;

    const headers = fwd.headers;
    headers[1] = authority; // host
    headers[headers.length - 1] = authority; // x-forwarded-host

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
          copies.push(otherMember(group, up));
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
    if (!hasBody && copies) sendCopies(copies, legs, { method, path: url, headers, authority, body: EMPTY, settings, shape, block: undefined });
    // Transfer-Encoding is hop-by-hop: re-frame a body of unknown length as chunked ourselves.
    const primaryHeaders = hasBody && fwd.contentLength === undefined ? [...headers, "transfer-encoding", "chunked"] : headers;

    const started = performance.now();
    if (cmp !== undefined) cmp.started = started;
    const p = http.request({ agent: agentFor(up), host: up.hostname, port: up.port, method, path: up.basePath + url, headers: primaryHeaders, setHost: false });
    preq = p;
    let timedOut = false;
    if (route.timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        p.destroy();
      }, route.timeoutMs);
    }

    p.on("response", (pres) => {
      const status = pres.statusCode ?? 502;
      metrics.upstreamLatency(up.key, (performance.now() - started) / 1000);
      metrics.request(routeId, status);
      if (res.destroyed) {
        pres.destroy();
        return;
      }
      res.writeHead(status, pres.statusMessage, endToEndRaw(pres.rawHeaders));
      pres.pipe(res);
      if (cmp !== undefined) {
        // Registered after pipe(): each chunk is written to the client first, then captured.
        const c = cmp;
        c.primaryHead(status, pres.headers);
        if (!c.primary.tooLarge) pres.on("data", (chunk: Buffer) => c.primaryChunk(chunk));
        pres.on("end", () => c.primaryEnd(performance.now()));
      }
      if (timer !== undefined) pres.on("end", () => clearTimeout(timer));
      pres.on("error", () => res.destroy());
    });
    p.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (res.destroyed || res.writableFinished || bodyTimedOut) return; // client went away first, or 408 already answered
      if (err.code === CONNECT_TIMEOUT) {
        // Envoy's connect timeout: 503 (limits.primaryConnectTimeoutMs, Istio's default 10 s).
        metrics.upstreamError(up.key, "connect");
        if (!res.headersSent) metrics.request(routeId, 503);
        return plain(res, 503, "upstream connect timeout\n");
      }
      if (timedOut) {
        metrics.upstreamError(up.key, "timeout");
        if (!res.headersSent) metrics.request(routeId, 504);
        return plain(res, 504, "upstream request timeout\n");
      }
      const connect = err.code !== undefined && CONNECT_ERRORS.has(err.code);
      metrics.upstreamError(up.key, connect ? "connect" : "reset");
      if (!res.headersSent) metrics.request(routeId, 502);
      plain(res, 502, connect ? "upstream connect error\n" : "upstream reset\n");
    });

    if (!hasBody) {
      p.end();
      req.resume();
      return;
    }

    req.pipe(p);
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
      sendCopies(wanted, legs, { method, path: url, headers, authority, body, settings, shape, block: undefined });
    });
  }

  /** 400 before routing (counted with route `none`). */
  function refuse(req: http.IncomingMessage, res: http.ServerResponse, why: string): void {
    req.resume();
    metrics.request("none", 400);
    res.shouldKeepAlive = false;
    plain(res, 400, why);
  }

  const server = http.createServer(serverOptions(limits), oneAtATime(handle, () => limits.maxPipelinedRequests, limitHit));
  server.maxConnections = limits.maxConnections;
  server.on("drop", () => limitHit("max_connections"));
  server.on("clientError", onClientError(limitHit));
  server.on("connect", onConnect);

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
    for (const a of agents.values()) a.destroy();
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
      routing = compileRouting(next);
      void members.follow(routing);
      limits = limitsOf(next.proxy);
      pathNormalization = next.proxy.pathNormalization ?? "BASE";
      adminTokenFile = next.proxy.adminTokenFile;
      server.maxConnections = limits.maxConnections;
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      server.headersTimeout = limits.headersTimeoutMs;
      for (const pool of pools.values()) {
        pool.maxConns = routing.settings.maxShadowInFlight;
        pool.timeoutMs = routing.settings.shadowTimeoutMs;
        pool.maxDiscardBytes = limits.maxShadowAnswerBytes;
      }
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
      server.close(); // stop accepting
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
