/**
 * Redaction of the values a comparison keeps (issue 13): a difference's `primary`/`shadow`
 * values end up in `/compare` (lastMismatches) and `/compare/stats` (examples), so secrets
 * and personal data in answers must be masked *before* the report stores them. The fact
 * that a field differs is kept (its path and kind), only its values are replaced.
 *
 * `compare.redact.headers` (lower-case names; default `authorization`, `cookie`,
 * `set-cookie`) masks `headers.<name>` differences; `compare.redact.paths` (JSON paths as in
 * `ignorePaths`, e.g. `$.card.number`, `$[*].iban`) masks a differing value at that path or
 * below it, and the redacted fields inside a differing object or array.
 */
import { z } from "zod";
import { str } from "../syntax.ts";
import type { CompareResult, Difference } from "./diff.ts";
import { appendIndex, appendKey, checkJsonPath, compilePathMatcher } from "./jsonPath.ts";

export const REDACTED = "[redacted]";
export const DEFAULT_REDACTED_HEADERS = ["authorization", "cookie", "set-cookie"];

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

export const RedactSchema = z.strictObject({
  headers: z.array(str().regex(HEADER_NAME, "must be a lower-case header name"), { error: "must be a list" }).default(DEFAULT_REDACTED_HEADERS),
  paths: z
    .array(
      str().superRefine((p, ctx) => {
        const err = checkJsonPath(p);
        if (err) ctx.addIssue({ code: "custom", message: `not a supported JSON path: ${err}` });
      }),
      { error: "must be a list" },
    )
    .default([]),
});
export type RedactSettings = z.infer<typeof RedactSchema>;
export const DEFAULT_REDACT: RedactSettings = { headers: DEFAULT_REDACTED_HEADERS, paths: [] };

export type Redactor = (r: CompareResult) => CompareResult;

/** The ancestor paths of a concrete JSON path (`$.a[0].b` -> `$`, `$.a`, `$.a[0]`); patterns match concrete paths, `[*]` any index. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = 1; i < path.length; i++) if (path[i] === "." || path[i] === "[") out.push(path.slice(0, i));
  return out;
}

export function compileRedactor(settings: RedactSettings = DEFAULT_REDACT): Redactor {
  const headers = new Set(settings.headers.map((h) => `headers.${h}`));
  const matches = settings.paths.length > 0 ? compilePathMatcher(settings.paths) : undefined;
  const redactedPath = (path: string): boolean => {
    if (matches === undefined) return false;
    return matches(path) || ancestors(path).some(matches);
  };
  /** A differing object/array: masks the redacted fields inside it (a copy; the answer is not touched). */
  const inside = (value: unknown, path: string): unknown => {
    if (matches === undefined || value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) return value.map((v, i) => inside(v, appendIndex(path, i)));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const p = appendKey(path, k);
      out[k] = matches(p) ? REDACTED : inside(v, p);
    }
    return out;
  };
  const one = (d: Difference): Difference => {
    if (headers.has(d.path) || (d.path.startsWith("$") && redactedPath(d.path))) {
      const r: Difference = { path: d.path, kind: d.kind };
      if ("primary" in d) r.primary = REDACTED;
      if ("shadow" in d) r.shadow = REDACTED;
      return r;
    }
    if (matches !== undefined && d.path.startsWith("$") && (typeof d.primary === "object" || typeof d.shadow === "object")) {
      return { ...d, ...("primary" in d ? { primary: inside(d.primary, d.path) } : {}), ...("shadow" in d ? { shadow: inside(d.shadow, d.path) } : {}) };
    }
    return d;
  };
  return (r) => (r.differences.length === 0 ? r : { ...r, differences: r.differences.map(one) });
}
