// hostname: answers which pod and version served the request, so a caller
// (or the v1/v2 logs) shows where live and mirrored traffic went.
import type { LogSink } from "../../shared/log.ts";
import {
  isReadMethod,
  methodNotAllowed,
  notFound,
  startService,
  textReply,
  type Reply,
  type RequestInfo,
  type RunningServer,
} from "../../shared/http-service.ts";

/** Unprivileged, so the container runs as non-root with every capability dropped; the Service maps port 80 to it. */
export const DEFAULT_HOSTNAME_PORT = 8080;

const VERSION_PATHS = new Set(["/version/", "/version"]);

export interface HostnameIdentity {
  podName: string;
  version: string;
}

/** `GET /version/` -> `<pod name> <version>\n`. */
export function hostnameReply(request: RequestInfo, identity: HostnameIdentity): Reply {
  if (!VERSION_PATHS.has(request.path)) return notFound(request.path);
  if (!isReadMethod(request.method)) return methodNotAllowed(["GET", "HEAD"]);
  return textReply(200, `${identity.podName} ${identity.version}\n`);
}

export interface HostnameServerOptions extends HostnameIdentity {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Bind address, default 127.0.0.1 (main.ts binds 0.0.0.0 in the container). */
  host?: string;
  /** Where request log lines go, default stdout. */
  log?: LogSink;
  now?: () => Date;
  shutdownGraceMs?: number;
}

export function startHostnameServer(options: HostnameServerOptions): Promise<RunningServer> {
  const identity: HostnameIdentity = { podName: options.podName, version: options.version };
  return startService({
    route: (request) => hostnameReply(request, identity),
    version: options.version,
    port: options.port ?? DEFAULT_HOSTNAME_PORT,
    host: options.host ?? "127.0.0.1",
    log: options.log,
    now: options.now,
    shutdownGraceMs: options.shutdownGraceMs,
  });
}
