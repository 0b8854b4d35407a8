// How a demo service tells a mirrored copy from a live request.

/** Header our mirror proxy adds to every copy it sends (value `true`). */
export const MIRROR_MARKER_HEADER = "x-mirror-shadow";
export const MIRROR_MARKER_VALUE = "true";

/** Envoy (and so Istio, and our proxy by default) appends this to the Host of a copy. */
export const SHADOW_HOST_SUFFIX = "-shadow";

/** `host:port` -> `host`; `[::1]:8080` -> `[::1]`; a bare host is returned as is. */
export function stripPort(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

/** The Host a copy was made from, lower-cased: `movies-shadow:8080` and `movies:8080-shadow` → `movies`. */
export function originalHost(host: string): string {
  const withoutSuffix = (text: string) => (text.endsWith(SHADOW_HOST_SUFFIX) ? text.slice(0, -SHADOW_HOST_SUFFIX.length) : text);
  return withoutSuffix(stripPort(withoutSuffix(host.toLowerCase())));
}

/**
 * True for `name-shadow` and `name-shadow:8080`; also for `name:8080-shadow`,
 * because some Envoy versions append the suffix after the port.
 */
export function isShadowHost(host: string): boolean {
  const lower = host.trim().toLowerCase();
  return lower.endsWith(SHADOW_HOST_SUFFIX) || stripPort(lower).endsWith(SHADOW_HOST_SUFFIX);
}

export function hasMirrorMarker(headerValue: string | string[] | undefined): boolean {
  const values = Array.isArray(headerValue) ? headerValue : headerValue === undefined ? [] : [headerValue];
  // Node joins a repeated header with ", ".
  return values.flatMap((value) => value.split(",")).some((value) => value.trim().toLowerCase() === MIRROR_MARKER_VALUE);
}

/** A request looks mirrored when its Host ends in `-shadow` or it carries the marker header. */
export function isMirroredRequest(host: string, markerHeaderValue: string | string[] | undefined): boolean {
  return isShadowHost(host) || hasMirrorMarker(markerHeaderValue);
}
