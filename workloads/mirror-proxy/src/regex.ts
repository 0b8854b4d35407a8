/**
 * Istio's regexes (StringMatch `regex`) are RE2: Envoy matches them in time linear in the
 * input. V8's RegExp backtracks, so a route regex like `/api/(\w+/?)*` against a 34-byte
 * path stalled every client for seconds. Every routing regex is compiled here with re2js
 * (a pure JavaScript port of RE2: linear time, RE2's syntax and semantics, no native build).
 */
import { RE2JS } from "re2js";

/** A compiled whole-value matcher (Istio: the regex must match the entire value). */
export interface Re2Matcher {
  test(value: string): boolean;
}

/** RE2's own syntax error, said as the proxy has always said it for the constructs RE2 lacks. */
function describeSyntaxError(message: string): string {
  const m = message.replace(/^error parsing regexp: /, "");
  if (/(unsupported Perl syntax|invalid named capture): `\(\?<?[=!]/.test(m)) return "lookahead/lookbehind is not supported by RE2";
  if (/invalid escape sequence: `\\([1-9]|k)/.test(m)) return "backreferences are not supported by RE2";
  return m;
}

function compile(re: string, ignoreCase: boolean): RE2JS {
  return RE2JS.compile(re, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
}

/** Returns why `re` is not a valid RE2 pattern, or undefined when it is. */
export function checkRe2Regex(re: string): string | undefined {
  try {
    compile(re, false);
    return undefined;
  } catch (e) {
    return `not a valid RE2 regex: ${describeSyntaxError((e as Error).message)}`;
  }
}

/** Compiles an RE2 pattern for Istio's whole-value match. Call checkRe2Regex first (this throws on a bad pattern). */
export function compileRe2(re: string, ignoreCase = false): Re2Matcher {
  const p = compile(re, ignoreCase);
  return { test: (value: string) => p.matches(value) };
}

/**
 * Envoy's regex_rewrite (Istio's `rewrite.uriRegexRewrite`, issue 10): every match of `re` in
 * the value replaced by `substitution`, in RE2's syntax (`\1` a group, `\\` a backslash).
 */
export function re2Rewriter(re: string, substitution: string): (value: string) => string {
  const p = compile(re, false);
  const parts: (string | number)[] = [];
  let lit = "";
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i];
    const n = substitution[i + 1];
    if (c === "\\" && n !== undefined && n >= "0" && n <= "9") {
      parts.push(lit, Number(n));
      lit = "";
      i++;
    } else if (c === "\\" && n === "\\") {
      lit += "\\";
      i++;
    } else lit += c;
  }
  parts.push(lit);
  return (value) => p.matcher(value).replaceAll((...m: unknown[]) => parts.map((x) => (typeof x === "number" ? String(m[x] ?? "") : x)).join(""));
}
