// The HTTP plumbing both demo services share: routing a request to a pure
// reply, the request log line, /healthz, bad-input handling and a graceful close.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { formatRequestLogLine, stdoutSink, type LogSink } from "./log.ts";
import { MIRROR_MARKER_HEADER, isMirroredRequest } from "./mirror.ts";

export const HEALTH_PATH = "/healthz";

/**
 * How long close() lets in-flight requests finish before cutting connections. It must end
 * before the kubelet's SIGKILL: the pods' terminationGracePeriodSeconds (20) counts the
 * preStop sleep (3 s) too, so 20 - 3 leaves 17 s, and 15 s leaves time to exit
 * (test/unit/shutdownTiming.test.ts reads the rendered values).
 */
export const DEFAULT_SHUTDOWN_GRACE_MS = 15_000;

export interface RequestInfo {
  method: string;
  /** Path without the query string. */
  path: string;
}

export interface Reply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

/** A service is a pure function from request to reply; everything else lives here. */
export type Route = (request: RequestInfo) => Reply;

export interface ServiceOptions {
  route: Route;
  version: string;
  /** 0 picks a free port. */
  port: number;
  /** Address to bind, e.g. 127.0.0.1 or 0.0.0.0. */
  host: string;
  log?: LogSink;
  now?: () => Date;
  shutdownGraceMs?: number;
}

/** What an app's start function takes: ServiceOptions without the route and version the app sets, port and host optional. */
export type AppServerOptions = Omit<ServiceOptions, "route" | "version" | "port" | "host"> & {
  /** Default: the app's own port; 0 picks a free port. */
  port?: number;
  /** Bind address, default 127.0.0.1 (main.ts binds 0.0.0.0 in the container). */
  host?: string;
};

/** startService for one app: its route and version, `defaultPort` and 127.0.0.1 unless the options say otherwise. */
export function startAppService(route: Route, version: string, defaultPort: number, options: AppServerOptions): Promise<RunningServer> {
  const { port = defaultPort, host = "127.0.0.1", log, now, shutdownGraceMs } = options;
  return startService({ route, version, port, host, log, now, shutdownGraceMs });
}

export interface RunningServer {
  /** The bound port (the real one when 0 was asked). */
  port: number;
  /** Base URL to call it on, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Stops accepting at once (before returning), lets in-flight requests finish (up to the grace period), resolves once closed. Idempotent. */
  close(): Promise<void>;
}

export function textReply(status: number, body: string, headers?: Record<string, string>): Reply {
  return { status, contentType: "text/plain; charset=utf-8", body, headers };
}

export function jsonReply(status: number, value: unknown): Reply {
  return { status, contentType: "application/json; charset=utf-8", body: JSON.stringify(value) + "\n" };
}

export function notFound(path: string): Reply {
  return textReply(404, `not found: ${path}\n`);
}

export function methodNotAllowed(allowed: string[]): Reply {
  return textReply(405, "method not allowed\n", { allow: allowed.join(", ") });
}

/** GET and HEAD are the only methods the demo services answer. */
export function isReadMethod(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/** Never `new URL()` here: `//x/y` would be read as a host, and bad input must not throw. */
export function pathOf(url: string | undefined): string {
  const path = (url ?? "/").split("?")[0];
  return path === "" ? "/" : path;
}

function isHealthProbe(request: RequestInfo): boolean {
  return request.path === HEALTH_PATH && isReadMethod(request.method);
}

function safeRoute(route: Route, request: RequestInfo): Reply {
  try {
    return route(request);
  } catch {
    return textReply(500, "internal error\n");
  }
}

/** The URL a local caller uses: a wildcard bind address is reached through loopback. */
export function callableUrl(address: AddressInfo): string {
  const wildcard = address.address === "0.0.0.0" || address.address === "::";
  const host = wildcard ? "127.0.0.1" : address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

export function startService(options: ServiceOptions): Promise<RunningServer> {
  const log = options.log ?? stdoutSink;
  const now = options.now ?? (() => new Date());
  const graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  let closing: Promise<void> | undefined;

  const server = http.createServer((req, res) => {
    const request: RequestInfo = { method: req.method ?? "GET", path: pathOf(req.url) };
    // Answer only once the whole request (body included, discarded) is in:
    // the connection is then ready for the next request, and a request whose
    // body is still arriving counts as in flight during shutdown.
    req.resume();
    req.on("error", () => res.destroy());
    res.on("error", () => res.destroy());
    req.on("end", () => {
      const health = isHealthProbe(request);
      const reply = health ? textReply(200, "ok\n") : safeRoute(options.route, request);
      if (!health) {
        // Probes are not logged: their noise would bury the request log.
        log(
          formatRequestLogLine({
            time: now(),
            method: request.method,
            path: request.path,
            host: req.headers.host ?? "",
            version: options.version,
            mirrored: isMirroredRequest(req.headers.host ?? "", req.headers[MIRROR_MARKER_HEADER]),
            status: reply.status,
          }),
        );
      }
      const headers: Record<string, string | number> = {
        ...reply.headers,
        "content-type": reply.contentType,
        "content-length": Buffer.byteLength(reply.body),
      };
      if (closing) headers.connection = "close";
      res.writeHead(reply.status, headers);
      res.end(reply.body);
    });
  });

  // Garbage on the socket: answer 400 if we still can, never throw.
  server.on("clientError", (_error, socket) => {
    if (socket.writable && !socket.destroyed) {
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    } else {
      socket.destroy();
    }
  });

  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      // Past the grace period, in-flight requests are cut so the process can exit.
      const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
      deadline.unref();
      server.close(() => {
        clearTimeout(deadline);
        resolve();
      });
      // Keep-alive connections with no request in progress would hold close() open.
      server.closeIdleConnections();
    });
    return closing;
  }

  return new Promise<RunningServer>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      resolve({ port: address.port, url: callableUrl(address), close });
    });
  });
}
