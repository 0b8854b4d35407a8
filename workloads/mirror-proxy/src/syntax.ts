/**
 * Small pure parsers for Istio's value syntaxes (protobuf durations; RE2 regexes are in regex.ts) and the zod
 * building blocks shared by config.ts and compare/settings.ts. They live here, not in
 * config.ts, because those two modules import each other and both build their schemas at
 * load time.
 */
import { z } from "zod";

// RE2 regexes are compiled by regex.ts (linear time); re-exported for the modules that import them from here.
export { checkRe2Regex, compileRe2 } from "./regex.ts";

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
