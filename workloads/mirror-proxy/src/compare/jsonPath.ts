/**
 * JSON paths for answer comparison: `$`, `.key`, `[n]`, `['quoted key']` (or `["..."]`),
 * and the wildcards `[*]` / `.*` (one step: any key or any index, as in JSONPath).
 *
 * The comparison builds *concrete* paths as strings in one canonical form (`formatKey`,
 * `appendKey`, `appendIndex`), so configured patterns are compiled once into one anchored
 * regex over that form and matching a path is a single `RegExp.test`. Pure, no I/O.
 */

export type PathSegment = { type: "key"; key: string } | { type: "index"; index: number } | { type: "any" };

export const ROOT = "$";

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `.name` for identifier-like keys, `['any key']` otherwise (`'` and `\` escaped). */
export function formatKey(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `['${key.replace(/[\\']/g, (c) => `\\${c}`)}']`;
}

export function appendKey(path: string, key: string): string {
  return path + formatKey(key);
}

export function appendIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** Canonical text of a parsed path. */
export function formatJsonPath(segments: readonly PathSegment[]): string {
  let out = ROOT;
  for (const s of segments) {
    if (s.type === "key") out += formatKey(s.key);
    else if (s.type === "index") out += `[${s.index}]`;
    else out += "[*]";
  }
  return out;
}

export class JsonPathSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JsonPathSyntaxError";
  }
}

/** Parses `$.a[0]['b c'][*].*`; throws JsonPathSyntaxError naming the offending position. */
export function parseJsonPath(text: string): PathSegment[] {
  const fail = (why: string, at: number): never => {
    throw new JsonPathSyntaxError(`${why} at position ${at}`);
  };
  if (!text.startsWith(ROOT)) fail("must start with $", 0);
  const segments: PathSegment[] = [];
  let i = 1;
  while (i < text.length) {
    const c = text[i];
    if (c === ".") {
      if (text[i + 1] === ".") fail("recursive descent (..) is not supported", i);
      if (text[i + 1] === "*") {
        segments.push({ type: "any" });
        i += 2;
        continue;
      }
      // A bare key runs to the next `.` or `[`; it may hold `-` (`$.x-request-id`).
      let j = i + 1;
      while (j < text.length && text[j] !== "." && text[j] !== "[") j++;
      const key = text.slice(i + 1, j);
      if (key === "") fail("empty key after .", i);
      if (/[\]'"\s*]/.test(key)) fail(`unexpected character in key "${key}" (quote it: ['...'])`, i + 1);
      segments.push({ type: "key", key });
      i = j;
    } else if (c === "[") {
      const n = text[i + 1];
      if (n === "*") {
        if (text[i + 2] !== "]") fail("expected ] after [*", i + 2);
        segments.push({ type: "any" });
        i += 3;
      } else if (n === "'" || n === '"') {
        let key = "";
        let j = i + 2;
        for (; j < text.length && text[j] !== n; j++) {
          if (text[j] === "\\") {
            j++;
            if (j >= text.length) break;
          }
          key += text[j];
        }
        if (j >= text.length) fail("unterminated quoted key", i + 1);
        if (text[j + 1] !== "]") fail("expected ] after quoted key", j + 1);
        segments.push({ type: "key", key });
        i = j + 2;
      } else {
        const m = /^\[(0|[1-9][0-9]*)\]/.exec(text.slice(i));
        if (!m) fail("expected [n], [*] or ['key']", i);
        segments.push({ type: "index", index: Number(m![1]) });
        i += m![0].length;
      }
    } else {
      fail(`unexpected "${c}"`, i);
    }
  }
  return segments;
}

/** The syntax error of a path pattern, or undefined when it parses. */
export function checkJsonPath(text: string): string | undefined {
  try {
    parseJsonPath(text);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** `$[3].items[0].id` -> `$[*].items[*].id`: one name for "this field in every element". */
export function normalizeIndices(path: string): string {
  if (!path.startsWith(ROOT)) return path; // `status`, `headers.x`, `body`: nothing to normalize
  // Fast path for canonical concrete paths without quoted keys: only `[digits]` can be an index.
  if (!path.includes("'") && !path.includes('"')) return path.replace(/\[\d+\]/g, "[*]");
  return formatJsonPath(parseJsonPath(path).map((s) => (s.type === "index" ? { type: "any" } : s)));
}

/** `s` as a literal inside a RegExp source. */
export const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
// One step in canonical form: an index, a bare key or a quoted key.
const ANY_STEP = String.raw`(?:\[\d+\]|\.[A-Za-z_$][A-Za-z0-9_$]*|\['(?:[^'\\]|\\.)*'\])`;

function patternSource(segments: readonly PathSegment[]): string {
  let out = escapeRegExp(ROOT);
  for (const s of segments) {
    if (s.type === "key") out += escapeRegExp(formatKey(s.key));
    else if (s.type === "index") out += escapeRegExp(`[${s.index}]`);
    else out += ANY_STEP;
  }
  return out;
}

/**
 * Compiles patterns into one predicate over canonical concrete paths (as built by
 * `appendKey`/`appendIndex`). A pattern matches a path exactly; the comparison stops
 * descending at a matched node, so ignoring `$.meta` ignores everything below it.
 */
export function compilePathMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  const re = new RegExp(`^(?:${patterns.map((p) => patternSource(parseJsonPath(p))).join("|")})$`);
  return (path) => re.test(path);
}

/** Whether `pattern` matches `path` (any spelling of it; both are parsed). */
export function matchesPath(pattern: string, path: string): boolean {
  return compilePathMatcher([pattern])(formatJsonPath(parseJsonPath(path)));
}
