/**
 * Compares two HTTP answers to the same request (v1's and v2's, or two of v1's when
 * learning noise): status, a chosen set of headers, and the body. JSON bodies are compared
 * structurally and each differing leaf is named by its JSON path; any other body by length
 * and SHA-256. Pure and bounded: at most `maxDifferences` differences carry values (the rest
 * are only counted), values are cut to `maxValueChars`, nesting beyond `maxDepth` is
 * compared as a whole. Identical body bytes short-cut the JSON walk entirely.
 */
import { createHash } from "node:crypto";
import { appendIndex, appendKey, compilePathMatcher, ROOT } from "./jsonPath.ts";

/** One upstream answer as held for comparison. `headers` keys are lower-case (Node's). */
export interface Answer {
  status: number;
  headers: Readonly<Record<string, string | string[] | number | undefined>>;
  body: Buffer;
  /** Defaults to `headers["content-type"]`. */
  contentType?: string;
}

export type DifferenceKind = "changed" | "added" | "removed" | "type";

/**
 * `path` is `status`, `headers.<name>`, `body` (non-JSON bodies) or a JSON path (`$...`).
 * `primary`/`shadow` are the two values (absent for added/removed); JSON values are kept
 * as JSON unless too long, then they become a cut preview string and `truncated` is set.
 */
export interface Difference {
  path: string;
  kind: DifferenceKind;
  primary?: unknown;
  shadow?: unknown;
  truncated?: true;
}

export interface CompareResult {
  result: "match" | "mismatch";
  /** The first `maxDifferences` differences, in body order after status and headers. */
  differences: Difference[];
  /** Differences found beyond `maxDifferences` (counted, not described). */
  omitted: number;
  /** Distinct differing paths with array indices as `[*]` (at most `maxPatterns`), for "top differences". */
  patterns: string[];
}

/**
 * Learned noise for a route: normalized paths (`$[*].id`, `headers.etag`, `body`), see noise.ts.
 * Only membership and size are read, so the learner's own map can be passed as it is.
 */
export interface NoisePaths {
  has(path: string): boolean;
  readonly size: number;
}

export interface CompareOptions {
  /** Lower-case header names to compare; `"*"` compares every header except framing ones. */
  headers: readonly string[];
  ignoreHeaders?: readonly string[];
  /** JSON path patterns never compared (see jsonPath.ts). */
  ignorePaths?: readonly string[];
  /**
   * JSON path patterns whose values are masked (`compare.redact.paths`, redact.ts): here only
   * inside a container cut to a preview string, where redact.ts can no longer see the fields.
   */
  redactPaths?: readonly string[];
  /** Learned noise for this route (see `NoisePaths`). */
  noise?: NoisePaths;
  maxDifferences?: number;
  maxValueChars?: number;
  maxDepth?: number;
  maxPatterns?: number;
  /** Compare status codes (default true; noise learning turns it off, see noise.ts). */
  compareStatus?: boolean;
}

export const DEFAULT_MAX_DIFFERENCES = 20;
export const DEFAULT_MAX_VALUE_CHARS = 200;
export const DEFAULT_MAX_DEPTH = 64;
export const DEFAULT_MAX_PATTERNS = 50;
/** What a masked value is replaced by (redact.ts). */
export const REDACTED = "[redacted]";

/**
 * Headers never compared under `"*"`: they describe the transport or the moment, not the
 * answer (content-length differs exactly when the body does, which is compared anyway).
 */
export const FRAMING_HEADERS: ReadonlySet<string> = new Set([
  "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
  "proxy-authenticate", "content-length", "date",
]);

/** Options resolved once per config (the ignore patterns compiled into one regex). */
export interface CompiledCompareOptions {
  headers: readonly string[] | "*";
  ignoreHeaders: ReadonlySet<string>;
  isIgnoredPath: (path: string) => boolean;
  /** Undefined without `redactPaths`. */
  isRedactedPath: ((path: string) => boolean) | undefined;
  maxDifferences: number;
  maxValueChars: number;
  maxDepth: number;
  maxPatterns: number;
  compareStatus: boolean;
}

export function compileCompareOptions(o: CompareOptions): CompiledCompareOptions {
  const ignoreHeaders = new Set(o.ignoreHeaders ?? []);
  return {
    headers: o.headers.includes("*") ? "*" : o.headers.filter((h) => !ignoreHeaders.has(h)),
    ignoreHeaders,
    isIgnoredPath: compilePathMatcher(o.ignorePaths ?? []),
    isRedactedPath: o.redactPaths && o.redactPaths.length > 0 ? compilePathMatcher(o.redactPaths) : undefined,
    maxDifferences: o.maxDifferences ?? DEFAULT_MAX_DIFFERENCES,
    maxValueChars: o.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS,
    maxDepth: o.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxPatterns: o.maxPatterns ?? DEFAULT_MAX_PATTERNS,
    compareStatus: o.compareStatus ?? true,
  };
}

const NO_NOISE: NoisePaths = new Set<string>();

/**
 * Compares `shadow` against `primary`. Pass compiled options on the hot path (compile once
 * per config; plain options are compiled on each call) and the route's learned noise
 * (`noise.noiseFor(route)`), which overrides `options.noise`.
 */
export function compareAnswers(
  primary: Answer,
  shadow: Answer,
  options: CompareOptions | CompiledCompareOptions,
  noise?: NoisePaths,
): CompareResult {
  const o = isCompiled(options) ? options : compileCompareOptions(options);
  const c = new Collector(o, noise ?? (isCompiled(options) ? undefined : options.noise) ?? NO_NOISE);
  if (o.compareStatus && primary.status !== shadow.status) c.add("status", "status", "changed", primary.status, shadow.status);
  compareHeaders(primary, shadow, o, c);
  compareBodies(primary, shadow, o, c);
  return c.result();
}

export function isCompiled(o: CompareOptions | CompiledCompareOptions): o is CompiledCompareOptions {
  return "isIgnoredPath" in o;
}

// ---------------------------------------------------------------- collecting

class Collector {
  readonly differences: Difference[] = [];
  omitted = 0;
  readonly patterns = new Set<string>();
  readonly #o: CompiledCompareOptions;
  readonly #noise: NoisePaths;

  constructor(o: CompiledCompareOptions, noise: NoisePaths) {
    this.#o = o;
    this.#noise = noise;
  }

  /** Whether a differing node is learned noise, by its normalized path (indices as `[*]`). */
  isNoise(pattern: string): boolean {
    return this.#noise.size > 0 && this.#noise.has(pattern);
  }

  /** `pattern` is `path` with indices as `[*]`, built alongside it by the walk (no re-parsing). */
  add(path: string, pattern: string, kind: DifferenceKind, primary: unknown, shadow: unknown): void {
    if (this.patterns.size < this.#o.maxPatterns) this.patterns.add(pattern);
    if (this.differences.length >= this.#o.maxDifferences) {
      this.omitted++;
      return;
    }
    const d: Difference = { path, kind };
    const max = this.#o.maxValueChars;
    const redacted = path.startsWith(ROOT) ? this.#o.isRedactedPath : undefined;
    if (primary !== undefined) {
      const p = preview(primary, max, redacted && { path, redacted });
      d.primary = p.value;
      if (p.truncated) d.truncated = true;
    }
    if (shadow !== undefined) {
      const s = preview(shadow, max, redacted && { path, redacted });
      d.shadow = s.value;
      if (s.truncated) d.truncated = true;
    }
    this.differences.push(d);
  }

  result(): CompareResult {
    const differ = this.differences.length + this.omitted > 0;
    return { result: differ ? "mismatch" : "match", differences: this.differences, omitted: this.omitted, patterns: [...this.patterns] };
  }
}

// ---------------------------------------------------------------- headers

function headerValue(v: string | string[] | number | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(", ") : String(v);
}

function compareHeaders(primary: Answer, shadow: Answer, o: CompiledCompareOptions, c: Collector): void {
  let names: Iterable<string>;
  if (o.headers === "*") {
    const all = new Set([...Object.keys(primary.headers), ...Object.keys(shadow.headers)]);
    names = [...all].filter((h) => !FRAMING_HEADERS.has(h) && !o.ignoreHeaders.has(h)).sort();
  } else {
    names = o.headers;
  }
  for (const name of names) {
    const a = headerValue(primary.headers[name]);
    const b = headerValue(shadow.headers[name]);
    if (a === b) continue;
    const path = `headers.${name}`;
    if (c.isNoise(path)) continue;
    c.add(path, path, a === undefined ? "added" : b === undefined ? "removed" : "changed", a, b);
  }
}

// ---------------------------------------------------------------- bodies

/** `application/json`, `application/problem+json`, ... (parameters such as charset ignored). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(";", 1)[0].trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

function contentTypeOf(a: Answer): string | undefined {
  return a.contentType ?? headerValue(a.headers["content-type"]);
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    let text = body.toString("utf8");
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function compareBodies(primary: Answer, shadow: Answer, o: CompiledCompareOptions, c: Collector): void {
  if (primary.body.equals(shadow.body)) return; // same bytes: same JSON too, no parse needed
  if (isJsonContentType(contentTypeOf(primary)) && isJsonContentType(contentTypeOf(shadow))) {
    const a = parseJson(primary.body);
    const b = a.ok ? parseJson(shadow.body) : a;
    if (a.ok && b.ok) {
      walk(a.value, b.value, ROOT, ROOT, 0, o, c);
      return;
    }
  }
  if (c.isNoise("body")) return;
  c.add("body", "body", "changed", bodySummary(primary), bodySummary(shadow));
}

/** Length, SHA-256 and, for text, the start of it: enough to tell two bodies apart in a report. */
export function bodySummary(a: Answer): { bytes: number; sha256: string; text?: string } {
  const summary: { bytes: number; sha256: string; text?: string } = {
    bytes: a.body.length,
    sha256: createHash("sha256").update(a.body).digest("hex"),
  };
  if (isTextual(contentTypeOf(a))) summary.text = a.body.subarray(0, 120).toString("utf8");
  return summary;
}

function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const t = contentType.split(";", 1)[0].trim().toLowerCase();
  return t.startsWith("text/") || isJsonContentType(t) || t.endsWith("+xml") || t === "application/xml";
}

type JsonKind = "null" | "array" | "object" | "string" | "number" | "boolean";

function kindOf(v: unknown): JsonKind {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v as JsonKind;
}

/**
 * Structural diff. Only differing nodes cost more than a comparison: paths are built only
 * for containers and differing leaves, and ignore/noise checks run only where values differ.
 */
function walk(a: unknown, b: unknown, path: string, pattern: string, depth: number, o: CompiledCompareOptions, c: Collector): void {
  if (a === b) return;
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (o.isIgnoredPath(path) || c.isNoise(pattern)) return;
  if (ka !== kb) return c.add(path, pattern, "type", a, b);
  if (ka !== "array" && ka !== "object") return c.add(path, pattern, "changed", a, b);
  if (depth >= o.maxDepth) {
    // Too deep to describe field by field: one difference for the whole subtree.
    if (!deepEqual(a, b)) c.add(path, pattern, "changed", a, b);
    return;
  }
  if (ka === "array") {
    const x = a as unknown[];
    const y = b as unknown[];
    const common = Math.min(x.length, y.length);
    const elements = `${pattern}[*]`;
    for (let i = 0; i < common; i++) {
      const xi = x[i];
      const yi = y[i];
      if (xi !== yi) walk(xi, yi, appendIndex(path, i), elements, depth + 1, o, c);
    }
    for (let i = common; i < x.length; i++) removedOrAdded(appendIndex(path, i), elements, "removed", x[i], o, c);
    for (let i = common; i < y.length; i++) removedOrAdded(appendIndex(path, i), elements, "added", y[i], o, c);
    return;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const key of Object.keys(x)) {
    if (!Object.hasOwn(y, key)) removedOrAdded(appendKey(path, key), appendKey(pattern, key), "removed", x[key], o, c);
    else if (x[key] !== y[key]) walk(x[key], y[key], appendKey(path, key), appendKey(pattern, key), depth + 1, o, c);
  }
  for (const key of Object.keys(y)) {
    if (!Object.hasOwn(x, key)) removedOrAdded(appendKey(path, key), appendKey(pattern, key), "added", y[key], o, c);
  }
}

function removedOrAdded(path: string, pattern: string, kind: "added" | "removed", value: unknown, o: CompiledCompareOptions, c: Collector): void {
  if (o.isIgnoredPath(path) || c.isNoise(pattern)) return;
  if (kind === "removed") c.add(path, pattern, kind, value, undefined);
  else c.add(path, pattern, kind, undefined, value);
}

/** Iterative deep equality of parsed JSON (no recursion, so any nesting is safe). */
export function deepEqual(a: unknown, b: unknown): boolean {
  const stack: [unknown, unknown][] = [[a, b]];
  while (stack.length > 0) {
    const [x, y] = stack.pop()!;
    if (x === y) continue;
    const kx = kindOf(x);
    if (kx !== kindOf(y) || (kx !== "array" && kx !== "object")) return false;
    if (kx === "array") {
      const xa = x as unknown[];
      const ya = y as unknown[];
      if (xa.length !== ya.length) return false;
      for (let i = 0; i < xa.length; i++) stack.push([xa[i], ya[i]]);
    } else {
      const xo = x as Record<string, unknown>;
      const yo = y as Record<string, unknown>;
      const keys = Object.keys(xo);
      if (keys.length !== Object.keys(yo).length) return false;
      for (const k of keys) {
        if (!Object.hasOwn(yo, k)) return false;
        stack.push([xo[k], yo[k]]);
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------- previews

/** Where a previewed value sits, and which paths below it are masked in a cut preview. */
export interface PreviewRedaction {
  path: string;
  redacted: (path: string) => boolean;
}

/**
 * A value small enough to report: scalars as they are (strings cut), containers as
 * themselves when their JSON fits in `maxChars`, else the start of their JSON text + `…`.
 * The serialisation stops at the budget, so a huge subtree costs no more than a small one.
 * With `at`, a field whose path is redacted is written as `"[redacted]"` into a cut preview
 * (a container kept whole is masked later by redact.ts, which sees its fields).
 */
export function preview(value: unknown, maxChars: number, at?: PreviewRedaction): { value: unknown; truncated: boolean } {
  if (typeof value === "string") {
    return value.length > maxChars ? { value: `${value.slice(0, maxChars)}…`, truncated: true } : { value, truncated: false };
  }
  if (value === null || typeof value !== "object") return { value, truncated: false };
  const out: string[] = [];
  const budget = { left: maxChars };
  const complete = writeBounded(value, out, budget, at?.path ?? ROOT, at?.redacted);
  const text = out.join("");
  if (complete) return { value, truncated: false };
  return { value: `${text.slice(0, maxChars)}…`, truncated: true };
}

function writeBounded(v: unknown, out: string[], budget: { left: number }, path: string, redacted: ((path: string) => boolean) | undefined): boolean {
  const put = (s: string) => {
    out.push(s);
    budget.left -= s.length;
    return budget.left >= 0;
  };
  if (v === null || typeof v !== "object") return put(JSON.stringify(v) ?? "null");
  if (Array.isArray(v)) {
    if (!put("[")) return false;
    for (let i = 0; i < v.length; i++) {
      if (i > 0 && !put(",")) return false;
      const p = redacted ? appendIndex(path, i) : path;
      if (redacted?.(p) ? !put(JSON.stringify(REDACTED)) : !writeBounded(v[i], out, budget, p, redacted)) return false;
    }
    return put("]");
  }
  if (!put("{")) return false;
  let first = true;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!first && !put(",")) return false;
    first = false;
    if (!put(`${JSON.stringify(k)}:`)) return false;
    const p = redacted ? appendKey(path, k) : path;
    if (redacted?.(p) ? !put(JSON.stringify(REDACTED)) : !writeBounded(x, out, budget, p, redacted)) return false;
  }
  return put("}");
}
