// hostname: answers which pod and version served the request, so a caller
// (or the v1/v2 logs) shows where live and mirrored traffic went.
import {
  isReadMethod,
  methodNotAllowed,
  notFound,
  startAppService,
  textReply,
  type AppServerOptions,
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

/** Port default DEFAULT_HOSTNAME_PORT (8080). */
export interface HostnameServerOptions extends HostnameIdentity, AppServerOptions {}

export function startHostnameServer(options: HostnameServerOptions): Promise<RunningServer> {
  const identity: HostnameIdentity = { podName: options.podName, version: options.version };
  return startAppService((request) => hostnameReply(request, identity), options.version, DEFAULT_HOSTNAME_PORT, options);
}
