/**
 * The zod building blocks shared by config.ts and compare/settings.ts, and the value syntaxes
 * the schemas check (durations, RE2 regexes; parsed without zod in duration.ts and regex.ts).
 * They live here, not in config.ts, because those two modules import each other and both
 * build their schemas at load time.
 */
import { z } from "zod";
import { checkJsonPath } from "./compare/jsonPath.ts";

// RE2 regexes are compiled by regex.ts (linear time) and durations parsed by duration.ts, both
// without zod, so the serving process can use them; re-exported for the schema modules.
export { checkRe2Regex, compileRe2 } from "./regex.ts";
export { parseDuration } from "./duration.ts";

// ---------------------------------------------------------------- zod building blocks
// A wrong type is reported by zodProblems (config.ts) as `must be a number` etc. whatever
// the schema's own type message; the messages below are the ones users see otherwise.

export const str = () => z.string({ error: "must be a string" });
export const nonNegativeInt = () => z.number({ error: "must be a number" }).int("must be an integer").min(0, "must be at least 0");
export const positiveInt = () => z.number({ error: "must be a number" }).int("must be an integer").min(1, "must be at least 1");
/** An integer percent, 0..100 (Istio's route weights and the deprecated `mirrorPercent`). */
export const intPercent = () => z.number().int("must be an integer").min(0, "must be between 0 and 100").max(100, "must be between 0 and 100");
// RFC 9110 token characters, lower-case only (Node hands header names over lower-cased).
const LOWER_CASE_HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** A lower-case header name (compare.headers, ignoreHeaders, redact.headers). */
export const lowerCaseHeaderName = () => str().regex(LOWER_CASE_HEADER_NAME, "must be a lower-case header name");
/** A JSON path as compare/jsonPath.ts supports it (compare.ignorePaths, redact.paths). */
export const jsonPathText = () =>
  str().superRefine((p, ctx) => {
    const err = checkJsonPath(p);
    if (err) ctx.addIssue({ code: "custom", message: `not a supported JSON path: ${err}` });
  });
