/**
 * `spec.copyHeaders` of the MirrorProxy document: per mirrored route, headers set or removed
 * on the copies only, never on the primary (e.g. strip `authorization`, mark the copy with
 * `x-dark-launch: true`). Keyed like `spec.compare.routes`: a route's name, or its id
 * `<VirtualService>/<name or index>`. Istio's mirror policy cannot do this (istio/api#3705).
 */
import { z } from "zod";
import { MIRROR_MARKER_HEADER } from "../../shared/mirror.ts";
import { routeId, zodProblems, type ConfigProblem, type VirtualService } from "./config.ts";
import type { CopyHeadersSettings } from "./copyShape.ts";
import { str } from "./syntax.ts";

// The shaping itself (no zod: the serving process runs it) is copyShape.ts's.
export { copyShapeFor, shapeCopyHeaders, type CopyHeadersSettings, type CopyShape } from "./copyShape.ts";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Header values on the wire: visible ASCII, space and tab; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Headers a copy's shaping may not touch: hop-by-hop ones (the proxy never forwards them),
 * and what the proxy writes on every copy itself (Host with its suffix, the length, the marker).
 */
const NOT_SHAPEABLE: Record<string, string> = {
  host: "the proxy writes the copy's Host (with shadowHostSuffix)",
  "content-length": "the proxy writes the copy's length",
  [MIRROR_MARKER_HEADER]: "the proxy marks every copy with it",
};
for (const name of ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"]) {
  NOT_SHAPEABLE[name] = "a hop-by-hop header, never forwarded";
}

const Shape = z.strictObject({
  set: z.record(z.string(), str()).optional(),
  remove: z.array(str(), { error: "must be a list of header names" }).optional(),
});
const CopyHeaders = z.record(z.string(), Shape, { error: "must be a mapping of route names to {set, remove}" });

/** Validates `spec.copyHeaders` against the routes; problems use the config's shape. */
export function validateCopyHeaders(
  raw: unknown,
  virtualServices: readonly VirtualService[],
  document = "MirrorProxy",
  at = "spec.copyHeaders",
): { settings: CopyHeadersSettings | undefined; problems: ConfigProblem[] } {
  if (raw === undefined) return { settings: undefined, problems: [] };
  const parsed = CopyHeaders.safeParse(raw);
  if (!parsed.success) return { settings: undefined, problems: zodProblems(document, parsed.error, raw, { at }) };

  const problems: ConfigProblem[] = [];
  const add = (path: string, problem: string, value: unknown) => problems.push({ document, path: `${at}.${path}`, problem, value });
  const mirroring = new Set<string>();
  for (const vs of virtualServices) {
    vs.http.forEach((r, i) => {
      if (r.mirror || (r.mirrors && r.mirrors.length > 0)) for (const n of [routeId(vs.name, r, i), ...(r.name ? [r.name] : [])]) mirroring.add(n);
    });
  }
  const checkName = (path: string, name: string): boolean => {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) add(path, "must be a header name", name);
    else if (NOT_SHAPEABLE[lower]) add(path, `cannot be shaped: ${NOT_SHAPEABLE[lower]}`, name);
    else return true;
    return false;
  };

  const settings: CopyHeadersSettings = {};
  for (const [route, shape] of Object.entries(parsed.data)) {
    if (!mirroring.has(route)) add(route, "no mirroring HTTPRoute has this name (use a route name or <VirtualService>/<name or index>)", route);
    const set: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(shape.set ?? {})) {
      if (!checkName(`${route}.set.${name}`, name)) continue;
      if (!FIELD_VALUE.test(value)) add(`${route}.set.${name}`, "must be a header value: printable ASCII, no line breaks", JSON.stringify(value)); // quoted: it may hold a line break
      else set.push([name.toLowerCase(), value]);
    }
    const remove: string[] = [];
    (shape.remove ?? []).forEach((name, i) => {
      if (!checkName(`${route}.remove[${i}]`, name)) return;
      const lower = name.toLowerCase();
      if (set.some(([n]) => n === lower)) add(`${route}.remove[${i}]`, "is also in set (set replaces it already)", name);
      else if (!remove.includes(lower)) remove.push(lower);
    });
    settings[route] = { set, remove };
  }
  return problems.length > 0 ? { settings: undefined, problems } : { settings, problems };
}
