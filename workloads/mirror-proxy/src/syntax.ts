/**
 * Small pure parsers for Istio's value syntaxes (RE2 regexes, protobuf durations) and the zod
 * building blocks shared by config.ts and compare/settings.ts. They live here, not in
 * config.ts, because those two modules import each other and both build their schemas at
 * load time.
 */
import { z } from "zod";

interface Translated {
  source: string;
  flags: string;
  error?: string;
}

/**
 * Translates an RE2 pattern (Istio's regex dialect) to a JavaScript one, or reports a
 * construct RE2 rejects (lookaround, backreferences) or one JavaScript would silently read
 * differently (`\Q..\E`, `\p{..}` without the u flag, POSIX classes).
 */
function translateRe2(re: string): Translated {
  let out = "";
  let flags = "";
  let i = 0;
  // RE2 allows a leading flag group like (?i) for the whole pattern; JS wants a flag.
  const lead = /^\(\?([ims]+)\)/.exec(re);
  if (lead) {
    for (const f of lead[1]) if (!flags.includes(f)) flags += f;
    i = lead[0].length;
  }
  let inClass = false;
  for (; i < re.length; i++) {
    const c = re[i];
    if (c === "\\") {
      const n = re[i + 1];
      if (n === undefined) return { source: "", flags, error: "ends with a lone backslash" };
      if (!inClass && n >= "1" && n <= "9") return { source: "", flags, error: "backreferences are not supported by RE2" };
      if (n === "k" && re[i + 2] === "<") return { source: "", flags, error: "backreferences are not supported by RE2" };
      if (n === "Q" || n === "E") return { source: "", flags, error: "\\Q...\\E quoting is not supported here; escape the characters instead" };
      if (n === "p" || n === "P") return { source: "", flags, error: "Unicode classes \\p{...} are not supported here" };
      if (n === "z") out += "$";
      else if (n === "A") out += "^";
      else out += c + n;
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      else if (c === "[" && re[i + 1] === ":") return { source: "", flags, error: "POSIX classes like [[:alpha:]] are not supported here" };
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      // a leading ] (or ^]) is a literal in RE2 and would close the class in JS
      if (re[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (re[i + 1] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(" && re[i + 1] === "?") {
      const rest = re.slice(i + 2, i + 4);
      if (rest.startsWith("=") || rest.startsWith("!") || rest === "<=" || rest === "<!") {
        return { source: "", flags, error: "lookahead/lookbehind is not supported by RE2" };
      }
      if (rest.startsWith("P<")) {
        out += "(?<";
        i += 3;
        continue;
      }
    }
    out += c;
  }
  if (inClass) return { source: "", flags, error: "unterminated character class" };
  return { source: out, flags };
}

/** Returns why `re` is not a usable RE2 pattern, or undefined when it is. */
export function checkRe2Regex(re: string): string | undefined {
  const t = translateRe2(re);
  if (t.error) return `not a valid RE2 regex: ${t.error}`;
  try {
    new RegExp(`^(?:${t.source})$`, t.flags);
  } catch (e) {
    return `not a valid RE2 regex: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}`;
  }
  return undefined;
}

/** Compiles an RE2 pattern for Istio's whole-value match. Call checkRe2Regex first. */
export function compileRe2(re: string, ignoreCase = false): RegExp {
  const t = translateRe2(re);
  if (t.error) throw new Error(t.error);
  let flags = t.flags;
  if (ignoreCase && !flags.includes("i")) flags += "i";
  return new RegExp(`^(?:${t.source})$`, flags);
}

const UNIT_MS: Record<string, number> = { h: 3600000, m: 60000, s: 1000, ms: 1, us: 0.001, "µs": 0.001, ns: 0.000001 };

/** Parses a Go/protobuf duration (`1.5s`, `300ms`, `1m30s`) to milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const part = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)/y;
  let pos = 0;
  let total = 0;
  if (text.length === 0) return undefined;
  while (pos < text.length) {
    part.lastIndex = pos;
    const m = part.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = part.lastIndex;
  }
  return total;
}

// ---------------------------------------------------------------- zod building blocks
// A wrong type is reported by zodProblems (config.ts) as `must be a number` etc. whatever
// the schema's own type message; the messages below are the ones users see otherwise.

export const str = () => z.string({ error: "must be a string" });
export const nonNegativeInt = () => z.number({ error: "must be a number" }).int("must be an integer").min(0, "must be at least 0");
export const positiveInt = () => z.number({ error: "must be a number" }).int("must be an integer").min(1, "must be at least 1");
/** An integer percent, 0..100 (Istio's route weights and the deprecated `mirrorPercent`). */
export const intPercent = () => z.number().int("must be an integer").min(0, "must be between 0 and 100").max(100, "must be between 0 and 100");
