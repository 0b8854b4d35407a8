/**
 * The admin surface, split as Envoy's (issue 13): probes and metrics face the pod IP (the
 * kubelet and Prometheus reach them on the admin port, as before); everything that holds
 * traffic data (the comparison report, its stats, its dashboard) is *protected*: answered
 * only to loopback clients (127.0.0.1 / ::1: the pod itself, and `kubectl port-forward`,
 * which connects from the pod's loopback), or with `Authorization: Bearer <token>` when
 * `spec.adminTokenFile` names a file holding the token (a mounted Secret; read per request,
 * so a rotated Secret applies at once). Anyone else gets 403 saying so.
 *
 * Linux drops packets from the network that claim a 127.0.0.0/8 source, so a loopback peer
 * address is as private as a loopback bind. Istio's inbound passthrough source 127.0.0.6 is
 * deliberately not trusted (a sidecar would forward remote clients from it).
 *
 * Register a route in `AdminRoutes.public` or `AdminRoutes.protected` (proxy.ts builds
 * the table): a page showing traffic data belongs in `protected`.
 */
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type http from "node:http";
import { pathOf } from "../../shared/http-service.ts";

export type AdminHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface AdminRoutes {
  /** Probes and metrics: no traffic data. */
  public: Record<string, AdminHandler>;
  /** Anything holding traffic data (comparison report, dashboard): loopback or token only. */
  protected: Record<string, AdminHandler>;
}

/** A client on this machine (this pod's network namespace). */
export function isLoopbackPeer(address: string | undefined): boolean {
  return address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1";
}

function plain(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Whether the request carries the token of `tokenFile` (false when none is configured or the file is unreadable/empty). */
export function hasToken(req: http.IncomingMessage, tokenFile: string | undefined): boolean {
  if (tokenFile === undefined) return false;
  const auth = req.headers.authorization;
  if (auth === undefined || !auth.startsWith("Bearer ")) return false;
  let want: string;
  try {
    want = readFileSync(tokenFile, "utf8").trim();
  } catch {
    return false;
  }
  if (want === "") return false;
  const a = Buffer.from(auth.slice(7).trim());
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The admin listener's request handler; `tokenFile` is spec.adminTokenFile (it may change on reload). */
export function adminHandler(routes: AdminRoutes, tokenFile: () => string | undefined): AdminHandler {
  return (req, res) => {
    const path = pathOf(req.url);
    const pub = Object.hasOwn(routes.public, path) ? routes.public[path] : undefined;
    if (pub) return pub(req, res);
    const prot = Object.hasOwn(routes.protected, path) ? routes.protected[path] : undefined;
    if (prot) {
      if (isLoopbackPeer(req.socket.remoteAddress) || hasToken(req, tokenFile())) return prot(req, res);
      return plain(res, 403, `${path} holds traffic data: it answers loopback clients only (kubectl port-forward <pod> ${req.socket.localPort}), or Authorization: Bearer <the token in spec.adminTokenFile>\n`);
    }
    plain(res, 404, `not found: try ${[...Object.keys(routes.public), ...Object.keys(routes.protected)].join(", ")}\n`);
  };
}
