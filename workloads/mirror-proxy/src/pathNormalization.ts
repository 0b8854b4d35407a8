/**
 * Request path normalization as Istio's meshConfig `pathNormalization` does it (Envoy's
 * `normalize_path` and friends), applied before routing; the normalized path is what the
 * upstreams receive. Without it `/public/../secret` or `/public/%2e%2e/secret` is routed by
 * its `/public` prefix and reaches a backend that reads it as `/secret`.
 *
 * - `BASE` (Istio's default): `\` becomes `/`; percent-encoded unreserved characters
 *   (`A-Z a-z 0-9 - . _ ~`) are decoded, other escapes get upper-case hex; then the dot
 *   segments are removed (RFC 3986 5.2.4). `%2F` and `%5C` stay encoded, as in Istio
 *   (`/a/..%2Fb` is one segment `..%2Fb`, not a dot segment).
 * - `MERGE_SLASHES`: BASE, then `//` runs merged into one `/`.
 * - `DECODE_AND_MERGE_SLASHES`: `%2F` and `%5C` decoded first (to `/` and `\`), then MERGE_SLASHES.
 * - `NONE`: the path as received.
 * `%00` is always rejected (Istio answers 400). The query string is not touched.
 */
import type { PathNormalization } from "./config.ts";

const HEX = "0123456789ABCDEF";

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

function unreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** One pass over the escapes: decode unreserved ones (and `/`, `\` when asked), upper-case the rest; undefined for `%00`. */
function decodeEscapes(path: string, slashes: boolean): string | undefined {
  let out = "";
  let from = 0;
  for (let i = path.indexOf("%"); i >= 0 && i + 2 < path.length; i = path.indexOf("%", i + 1)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) continue; // not an escape: left as sent
    const c = hi * 16 + lo;
    if (c === 0) return undefined;
    out += path.slice(from, i);
    out += unreserved(c) || (slashes && (c === 47 || c === 92)) ? String.fromCharCode(c) : `%${HEX[hi]}${HEX[lo]}`;
    from = i + 3;
    i += 2;
  }
  return from === 0 ? path : out + path.slice(from);
}

/** RFC 3986 5.2.4 for an absolute path (starts with `/`). */
export function removeDotSegments(path: string): string {
  const parts = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i];
    const last = i === parts.length - 1;
    if (seg === ".") {
      if (last) out.push("");
    } else if (seg === "..") {
      out.pop();
      if (last) out.push("");
    } else out.push(seg);
  }
  return `/${out.join("/")}`;
}

// Paths without these characters (most of them) are already normal.
const NEEDS_WORK = /[%\\]|\/\.|\/\//;

/**
 * The path (without its query) as routing and the upstreams see it, or undefined when the
 * request must be refused with 400 (`%00`).
 */
export function normalizePath(path: string, mode: PathNormalization): string | undefined {
  if (mode === "NONE" || !NEEDS_WORK.test(path)) return path;
  let p = path;
  if (p.includes("%")) {
    const d = decodeEscapes(p, mode === "DECODE_AND_MERGE_SLASHES");
    if (d === undefined) return undefined;
    p = d;
  }
  if (p.includes("\\")) p = p.replaceAll("\\", "/");
  if (p.includes("/.")) p = removeDotSegments(p);
  if (mode !== "BASE" && p.includes("//")) p = p.replace(/\/{2,}/g, "/");
  return p;
}
