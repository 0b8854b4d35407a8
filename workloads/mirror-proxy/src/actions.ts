/**
 * Route actions after a route is chosen, as pure functions over header lists: header
 * operations, CORS answers, fault aborts, redirects. proxy.ts calls them only for routes that
 * configure them (decided when the routing is compiled), so an unconfigured feature costs nothing.
 */
import type { CompiledCors, CompiledOps } from "./routing.ts";

/** Headers as Node's `rawHeaders`: a flat [name, value, name, value, ...] list, names as sent. */
export type RawHeaders = string[];

/**
 * `ops` applied to a header list: names it sets or removes dropped, then its `set` and `add`
 * pairs appended. The first `keep` entries (the request's Host pair) are left alone.
 */
export function applyOps(raw: RawHeaders, ops: CompiledOps, keep = 0): RawHeaders {
  const out: RawHeaders = raw.slice(0, keep);
  for (let i = keep; i < raw.length; i += 2) {
    if (ops.drop.has(raw[i].toLowerCase())) continue;
    out.push(raw[i], raw[i + 1]);
  }
  for (const [k, v] of ops.set) out.push(k, v);
  for (const [k, v] of ops.add) out.push(k, v);
  return out;
}

/** Envoy's CORS preflight answer for an allowed origin (the request's own origin echoed). */
export function corsPreflight(c: CompiledCors, origin: string): RawHeaders {
  const h: RawHeaders = ["access-control-allow-origin", origin];
  if (c.allowMethods) h.push("access-control-allow-methods", c.allowMethods);
  if (c.allowHeaders) h.push("access-control-allow-headers", c.allowHeaders);
  if (c.maxAge) h.push("access-control-max-age", c.maxAge);
  if (c.allowCredentials) h.push("access-control-allow-credentials", "true");
  return h;
}

/** CORS headers added to the answer of an actual (non-preflight) request from an allowed origin. */
export function corsActual(c: CompiledCors, origin: string): RawHeaders {
  const h: RawHeaders = ["access-control-allow-origin", origin];
  if (c.allowCredentials) h.push("access-control-allow-credentials", "true");
  if (c.exposeHeaders) h.push("access-control-expose-headers", c.exposeHeaders);
  return h;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Envoy's texts for the answers the proxy makes itself. */
export const ENVOY_TEXT = {
  connect: "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
  reset: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
  overflow: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
  noHealthy: "no healthy upstream",
  timeout: "upstream request timeout",
  abort: "fault filter abort",
} as const;
