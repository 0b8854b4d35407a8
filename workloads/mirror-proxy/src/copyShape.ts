/**
 * `spec.copyHeaders` once validated (copyHeaders.ts): the headers of a mirrored route's
 * copies, set or removed, never the primary's. No zod here: the serving process runs it.
 */

/** One route's shaping, names lower-case: `set` replaces (or adds) a header, `remove` drops it. */
export interface CopyShape {
  set: Array<[name: string, value: string]>;
  remove: string[];
}
/** Route name or id -> its shaping. */
export type CopyHeadersSettings = Record<string, CopyShape>;

/** The shaping of a route's copies, by its id (`<VirtualService>/<name or index>`) or its name. */
export function copyShapeFor(settings: CopyHeadersSettings | undefined, id: string): CopyShape | undefined {
  if (settings === undefined) return undefined;
  return settings[id] ?? settings[id.slice(id.indexOf("/") + 1)];
}

/**
 * A copy's forwarded headers (a flat rawHeaders list, Host first) shaped: removed and
 * replaced names dropped, the set ones appended. Built once per request, by the first copy.
 */
export function shapeCopyHeaders(headers: readonly string[], shape: CopyShape): string[] {
  const out = [headers[0], headers[1]];
  for (let i = 2; i < headers.length; i += 2) {
    const lower = headers[i].toLowerCase();
    if (shape.remove.includes(lower) || shape.set.some(([name]) => name === lower)) continue;
    out.push(headers[i], headers[i + 1]);
  }
  for (const [name, value] of shape.set) out.push(name, value);
  return out;
}
