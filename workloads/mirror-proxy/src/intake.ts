/**
 * Request intake of the traffic port, hardened against hostile clients (issue 13): server
 * limits and timeouts, strict answers to bad input (400, 408, 431, CONNECT), and pipelining
 * served one request at a time per connection, in order, as Envoy and nginx do: a client
 * that pipelines 20 000 GETs gets them answered one after another, never fanned out to the
 * upstream at once. Every limit hit is counted in `mirror_proxy_limit_hits_total{limit}`.
 */
import type http from "node:http";
import type net from "node:net";
import type { Limits } from "./config.ts";
import { Counter, Gauge, type Registry } from "./prom.ts";

export type LimitName =
  | "headers_timeout"
  | "body_idle_timeout"
  | "max_connections"
  | "max_pipelined_requests"
  | "primary_connect_timeout"
  | "max_request_header_bytes"
  | "max_shadow_answer_bytes"
  | "max_mirror_buffer_bytes";

export type LimitHit = (limit: LimitName) => void;

export function limitCounter(registry: Registry): LimitHit {
  const c = new Counter({ name: "mirror_proxy_limit_hits_total", help: "Times a resource limit of spec.limits was hit (the request or connection it names was refused, cut or not mirrored).", labelNames: ["limit"], registers: [registry] });
  const children = new Map<string, ReturnType<typeof c.labels>>();
  return (limit) => {
    let child = children.get(limit);
    if (child === undefined) children.set(limit, (child = c.labels(limit)));
    child.inc();
  };
}

/** Node's http.Server options from the limits. */
export function serverOptions(l: Limits): http.ServerOptions {
  return {
    keepAliveTimeout: l.keepAliveTimeoutMs,
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: 0, // the body's limit is an idle timeout (proxy.ts), not a total: large uploads may take long
    maxHeaderSize: l.maxRequestHeaderBytes,
    // How often Node checks headersTimeout (its default, 30 s, would let a slowloris hold 3 x longer).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(l.headersTimeoutMs / 4))),
    // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3): Node
    // then skips its stream life cycle (no data/end/close events to run per GET). proxy.ts
    // decides "has a body" by the same two headers, and never waits on such a request's events.
    optimizeEmptyRequests: true,
  };
}

const RESPONSES: Record<number, string> = { 400: "Bad Request", 405: "Method Not Allowed", 408: "Request Timeout", 431: "Request Header Fields Too Large" };

/** A complete answer written on the raw socket, then the connection closes. */
export function rawAnswer(status: number, body: string): string {
  return `HTTP/1.1 ${status} ${RESPONSES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/**
 * Malformed or too slow requests (Node's parser errors): 431 for an oversized head, 408 for
 * a head that did not arrive in time, 400 otherwise; only while no answer has started on the
 * connection (otherwise the connection is cut).
 */
export function onClientError(limitHit: LimitHit) {
  return (err: NodeJS.ErrnoException, socket: net.Socket): void => {
    const code = err.code;
    let status = 400;
    if (code === "HPE_HEADER_OVERFLOW") {
      status = 431;
      limitHit("max_request_header_bytes");
    } else if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
      status = 408;
      limitHit("headers_timeout");
    }
    const started = (socket as net.Socket & { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent === true;
    if (socket.writable && !started && code !== "ECONNRESET") socket.end(rawAnswer(status, status === 431 ? "request headers too large\n" : status === 408 ? "request timeout\n" : "bad request\n"));
    else socket.destroy();
  };
}

/** CONNECT (tunnels) is not served: an error status, not a silently closed connection. */
export function onConnect(_req: http.IncomingMessage, socket: net.Socket): void {
  socket.on("error", () => undefined);
  socket.end(rawAnswer(405, "CONNECT is not supported\n"));
}

// ---------------------------------------------------------------- one request at a time per connection

/** Pipelined requests parsed and waiting for an earlier answer, over all connections. */
export interface Waiting {
  inc(): void;
  dec(n?: number): void;
}

export function waitingGauge(registry: Registry): Waiting {
  return new Gauge({
    name: "mirror_proxy_pipelined_requests_waiting",
    help: "Pipelined requests parsed on client connections and waiting for an earlier answer (at most maxPipelinedRequests plus one socket read per connection).",
    registers: [registry],
  });
}

/** Node's own flag for "reading paused because the writer is behind" (socketOnDrain resumes it). */
type HttpSocket = net.Socket & { _paused?: boolean; [kState]?: ConnState };
const kState = Symbol("mirror-proxy intake");

interface ConnState {
  /** Pipelined requests parsed on this connection and waiting for an earlier answer. */
  waiting: number;
  held: boolean;
  /** The `resume` guard of hold() is installed (once per connection). */
  guarded: boolean;
}

/**
 * Wraps a request handler so that each connection has one request in flight. Node already
 * writes answers in order: a pipelined request's response gets the connection (its `socket`
 * event) only once the answer before it has been written, so the handler runs then, not when
 * the request is parsed. A request that is not pipelined has the connection at once and
 * costs nothing here (no listener, no state). Once `maxPipelined` wait, the connection's
 * reading stops (no more requests parsed) until half of them were served. Node parses a
 * whole read (up to 64 KiB) at once, so one read's worth of requests beyond the limit may
 * wait, and no more.
 */
export function oneAtATime(serve: (req: http.IncomingMessage, res: http.ServerResponse) => void, maxPipelined: () => number, limitHit: LimitHit, waiting: Waiting) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (res.socket !== null) return serve(req, res);
    const s = req.socket as HttpSocket;
    let c = s[kState];
    if (c === undefined) {
      const state: ConnState = (c = { waiting: 0, held: false, guarded: false });
      s[kState] = state;
      // The client went away: the requests still waiting are not served (none was started).
      s.once("close", () => {
        waiting.dec(state.waiting);
        state.waiting = 0;
      });
    }
    const conn = c;
    conn.waiting++;
    waiting.inc();
    if (!conn.held && conn.waiting >= maxPipelined()) {
      limitHit("max_pipelined_requests");
      hold(s, conn);
    }
    res.once("socket", () => {
      conn.waiting--;
      waiting.dec();
      if (conn.held && conn.waiting <= maxPipelined() >> 1) release(s, conn);
      serve(req, res);
    });
  };
}

// Reading is stopped the way Node's http server stops it when the writer is behind: with its
// `_paused` flag set, a request stream being read does not resume the socket behind our back.
// Node also clears that flag whenever an answer on the connection writes and its own buffer is
// low (socketOnDrain), then resumes the socket on the next tick: the `resume` listener, run
// before Node's own, sets the flag again while we hold, so Node's listener pauses instead of
// reading (without it the whole 560 KB of 20 000 pipelined GETs was parsed, 17 837 waiting).
function hold(s: HttpSocket, c: ConnState): void {
  c.held = true;
  s._paused = true;
  s.pause();
  if (!c.guarded) {
    c.guarded = true;
    s.prependListener("resume", () => {
      if (c.held) s._paused = true;
    });
  }
}

function release(s: HttpSocket, c: ConnState): void {
  c.held = false;
  if (s._paused) {
    s._paused = false;
    s.resume();
  }
}
