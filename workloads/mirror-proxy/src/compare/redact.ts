/**
 * Redaction of what a comparison keeps (issue 13): a mismatch's request line and its
 * differences' `primary`/`shadow` values end up in `/compare` (lastMismatches) and
 * `/compare/stats` (examples, the dashboard), so secrets and personal data must be masked
 * *before* the report stores them. The fact that a field differs is kept (its path and
 * kind); only values become `[redacted]`.
 *
 * - `headers` (lower-case names; default `authorization`, `cookie`, `set-cookie`): a
 *   `headers.<name>` difference's values, whole.
 * - `paths` (JSON paths as in `ignorePaths`, e.g. `$.card.number`, `$[*].iban`): a differing
 *   value at that path or below it, and the redacted fields inside a differing object or
 *   array (also inside one cut to a preview string, see diff.ts `preview`).
 * - `queryParams` (lower-case names, see DEFAULT_REDACTED_QUERY_PARAMS): the value of such a
 *   query parameter in the request line (`/pay?token=[redacted]`).
 * - `pathSegments` (RE2 patterns, each matched against one whole percent-decoded segment;
 *   default: 12 or more digits, i.e. card and account numbers): a request path segment
 *   (`/cards/[redacted]`), a query value, and a word of a text value.
 *
 * The text rule, for every other string a difference carries (a non-JSON body's preview,
 * a header's value, a JSON string, a JSON container cut to a preview):
 * 1. a value *named* by a `queryParams` or `headers` name, or by the last key name of a
 *    `paths` entry (`$.card.number` -> `number`), is masked, written as `name=value` (to the
 *    next `&`, `;`, `,`, space, quote or `<>`), `name: value` (to the end of the line, as a
 *    header) or `"name": value` (a quoted string, a scalar, or an object/array to its end);
 * 2. a word (a run between spaces and `/?&=;:,."'()<>[]{}|!`) that a `pathSegments` pattern
 *    matches is masked; a JSON number counts as its decimal text.
 * A non-JSON body difference keeps its length and SHA-256 (they tell the bodies apart).
 */
import { compileRe2, type Re2Matcher } from "../regex.ts";
import { REDACTED, type CompareResult, type Difference } from "./diff.ts";
import { appendIndex, appendKey, compilePathMatcher, escapeRegExp, parseJsonPath } from "./jsonPath.ts";
import type { RedactSettings } from "./redactSchema.ts";
import type { RequestSummary } from "./report.ts";

export type { RedactSettings };

export { REDACTED };
export const DEFAULT_REDACTED_HEADERS = ["authorization", "cookie", "set-cookie"];
/**
 * Query parameters that carry credentials: OAuth (`code`, `*_token`, `client_secret`), API
 * keys, passwords, session ids, signed URLs (`sig`, `signature`, S3's `x-amz-*`).
 */
export const DEFAULT_REDACTED_QUERY_PARAMS = [
  "access_token", "api_key", "apikey", "auth", "client_secret", "code", "id_token", "jwt", "key", "passwd", "password",
  "pwd", "refresh_token", "secret", "session", "sessionid", "sig", "signature", "token", "x-amz-credential",
  "x-amz-security-token", "x-amz-signature",
];
/** A whole segment of 12 or more digits: card numbers (12 to 19), account numbers, long numeric ids. */
export const DEFAULT_REDACTED_PATH_SEGMENTS = ["^[0-9]{12,}$"];

export const DEFAULT_REDACT: RedactSettings = {
  headers: DEFAULT_REDACTED_HEADERS,
  paths: [],
  queryParams: DEFAULT_REDACTED_QUERY_PARAMS,
  pathSegments: DEFAULT_REDACTED_PATH_SEGMENTS,
};

export interface Redactor {
  /** A comparison's differences with their values masked (a copy; the answers are not touched). */
  result(r: CompareResult): CompareResult;
  /** The request with its query values and path segments masked. */
  request(s: RequestSummary): RequestSummary;
  /** A request path with query, masked (`/cards/[redacted]?token=[redacted]&page=2`). */
  path(p: string): string;
  /** The text rule (see the top of this file) on one string. */
  text(s: string): string;
}

/** The ancestor paths of a concrete JSON path (`$.a[0].b` -> `$`, `$.a`, `$.a[0]`); patterns match concrete paths, `[*]` any index. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = 1; i < path.length; i++) if (path[i] === "." || path[i] === "[") out.push(path.slice(0, i));
  return out;
}

/** The last key name of each JSON path (`$.card.number` -> `number`, `$.a[*]` -> `a`; `$[*]` has none). */
export function lastKeyNames(paths: readonly string[]): string[] {
  const names = new Set<string>();
  for (const p of paths) {
    const key = parseJsonPath(p).findLast((s) => s.type === "key");
    if (key) names.add(key.key.toLowerCase());
  }
  return [...names];
}

/** Percent-decoded (`+` is a space in a query, not in a path); as it is when it does not decode. */
function decode(s: string, plusIsSpace = false): string {
  try {
    return decodeURIComponent(plusIsSpace ? s.replace(/\+/g, " ") : s);
  } catch {
    return s;
  }
}

const WORD = /[^\s/?&=;:,."'()<>[\]{}|!]+/g;
const END_OF_ASSIGNED = /[&;,\s"'<>]/;
const END_OF_JSON_SCALAR = /[,}\]\s]/;
const END_OF_LINE = /[\r\n]/;

/** Where a value written from `from` ends: a quoted string's closing quote, a container's end, or the first `stop` character. */
function valueEnd(s: string, from: number, stop: RegExp): { start: number; end: number } {
  const c = s[from];
  if (c === '"' || c === "'") {
    let i = from + 1;
    while (i < s.length && s[i] !== c) i += s[i] === "\\" ? 2 : 1;
    return { start: from + 1, end: Math.min(i, s.length) };
  }
  if (c === "{" || c === "[") {
    let depth = 0;
    let quote = "";
    for (let i = from; i < s.length; i++) {
      const x = s[i];
      if (quote) {
        if (x === "\\") i++;
        else if (x === quote) quote = "";
      } else if (x === '"') quote = x;
      else if (x === "{" || x === "[") depth++;
      else if ((x === "}" || x === "]") && --depth === 0) return { start: from, end: i + 1 };
    }
    return { start: from, end: s.length };
  }
  let i = from;
  while (i < s.length && !stop.test(s[i])) i++;
  return { start: from, end: i };
}

/** The text rule: named values, then words a pattern matches. */
function compileTextRule(names: readonly string[], words: Re2Matcher | undefined): (s: string) => string {
  const sorted = [...new Set(names)].sort((a, b) => b.length - a.length).map(escapeRegExp);
  // A name not glued to a letter or digit before it, maybe quoted, then `=` or `:`. Literal alternatives: no backtracking blow-up.
  const named = sorted.length > 0 ? new RegExp(String.raw`(?<![A-Za-z0-9])(["']?)(?:${sorted.join("|")})(["']?)[ \t]*([=:])[ \t]*`, "gi") : undefined;
  const maskWords = (s: string) => (words === undefined ? s : s.replace(WORD, (w) => (w !== "redacted" && words.test(w) ? REDACTED : w)));
  return (s) => {
    if (named === undefined) return maskWords(s);
    let out = "";
    let last = 0;
    named.lastIndex = 0;
    for (let m = named.exec(s); m !== null; m = named.exec(s)) {
      const from = m.index + m[0].length;
      const quotedName = m[1] !== "" && m[1] === m[2];
      const stop = quotedName ? END_OF_JSON_SCALAR : m[3] === ":" ? END_OF_LINE : END_OF_ASSIGNED;
      const { start, end } = valueEnd(s, from, stop);
      if (end > start) {
        out += s.slice(last, start) + REDACTED;
        last = end;
      }
      named.lastIndex = Math.max(end, from);
    }
    return maskWords(out + s.slice(last));
  };
}

export function compileRedactor(settings: RedactSettings = DEFAULT_REDACT): Redactor {
  const headers = new Set(settings.headers.map((h) => `headers.${h}`));
  const matches = settings.paths.length > 0 ? compilePathMatcher(settings.paths) : undefined;
  const params = new Set(settings.queryParams);
  const patterns = settings.pathSegments.length > 0 ? compileRe2(settings.pathSegments.map((p) => `(?:${p})`).join("|")) : undefined;
  // re2js costs ~0.2 µs a word; the values of one comparison repeat their words (keys, URLs, labels), so each
  // distinct word is tested once per `result()` call. Emptied when the call returns: no traffic is kept here.
  const seen = new Map<string, boolean>();
  const words: Re2Matcher | undefined = patterns && {
    test(w) {
      let hit = seen.get(w);
      if (hit === undefined) seen.set(w, (hit = patterns.test(w)));
      return hit;
    },
  };
  const text = compileTextRule([...settings.queryParams, ...settings.headers, ...lastKeyNames(settings.paths)], words);

  const redactedPath = (path: string): boolean => {
    if (matches === undefined) return false;
    return matches(path) || ancestors(path).some(matches);
  };
  /** A JSON value: redacted fields masked, strings by the text rule, numbers by the word patterns. */
  const json = (value: unknown, path: string): unknown => {
    if (typeof value === "string") return text(value);
    if (typeof value === "number") return words?.test(String(value)) ? REDACTED : value;
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) return value.map((v, i) => json(v, appendIndex(path, i)));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const p = appendKey(path, k);
      out[k] = matches?.(p) ? REDACTED : json(v, p);
    }
    return out;
  };
  /** A non-JSON body's summary (diff.ts bodySummary): its text preview masked, length and hash kept. */
  const body = (value: unknown): unknown => {
    if (value === null || typeof value !== "object" || !("text" in value) || typeof value.text !== "string") return value;
    return { ...value, text: text(value.text) };
  };
  const mask = (d: Difference, f: (v: unknown) => unknown): Difference => {
    const r: Difference = { path: d.path, kind: d.kind };
    if ("primary" in d) r.primary = f(d.primary);
    if ("shadow" in d) r.shadow = f(d.shadow);
    if (d.truncated) r.truncated = true;
    return r;
  };
  const whole = () => REDACTED;
  const one = (d: Difference): Difference => {
    if (headers.has(d.path) || (d.path.startsWith("$") && redactedPath(d.path))) {
      const r = mask(d, whole);
      delete r.truncated;
      return r;
    }
    if (d.path === "body") return mask(d, body);
    if (d.path.startsWith("$")) return mask(d, (v) => json(v, d.path));
    return mask(d, (v) => (typeof v === "string" ? text(v) : v)); // status, headers.<name>
  };

  const path = (p: string): string => {
    const q = p.indexOf("?");
    const segments = (q < 0 ? p : p.slice(0, q)).split("/");
    const masked = segments.map((s) => (s !== "" && words?.test(decode(s)) ? REDACTED : s)).join("/");
    if (q < 0) return masked;
    const query = p
      .slice(q + 1)
      .split("&")
      .map((item) => {
        const eq = item.indexOf("=");
        if (eq < 0) return words?.test(decode(item, true)) ? REDACTED : item;
        const value = item.slice(eq + 1);
        if (value === "") return item;
        return params.has(decode(item.slice(0, eq), true).toLowerCase()) || words?.test(decode(value, true)) ? `${item.slice(0, eq)}=${REDACTED}` : item;
      })
      .join("&");
    return `${masked}?${query}`;
  };

  const cleared = <T>(v: T): T => {
    seen.clear();
    return v;
  };
  return {
    result: (r) => (r.differences.length === 0 ? r : cleared({ ...r, differences: r.differences.map(one) })),
    request: (s) => cleared({ ...s, path: path(s.path) }),
    path: (p) => cleared(path(p)),
    text: (s) => cleared(text(s)),
  };
}
