/**
 * The schema of `spec.compare.redact` (redact.ts masks with the settings it yields). Apart
 * from redact.ts so that the serving process, which redacts, never loads zod.
 */
import { z } from "zod";
import { checkRe2Regex } from "../regex.ts";
import { jsonPathText, lowerCaseHeaderName, str } from "../syntax.ts";
import { DEFAULT_REDACTED_HEADERS, DEFAULT_REDACTED_PATH_SEGMENTS, DEFAULT_REDACTED_QUERY_PARAMS } from "./redact.ts";

// A query parameter name as decoded: anything but upper case, `&`, `=`, `#` and white space.
const QUERY_NAME = /^[^A-Z&=#\s]+$/;

const re2Pattern = () =>
  str().superRefine((p, ctx) => {
    const err = checkRe2Regex(p);
    if (err) ctx.addIssue({ code: "custom", message: err });
  });

export const RedactSchema = z.strictObject({
  headers: z.array(lowerCaseHeaderName(), { error: "must be a list" }).default(DEFAULT_REDACTED_HEADERS),
  paths: z.array(jsonPathText(), { error: "must be a list" }).default([]),
  queryParams: z.array(str().regex(QUERY_NAME, "must be a lower-case query parameter name (no &, =, # or white space)"), { error: "must be a list" }).default(DEFAULT_REDACTED_QUERY_PARAMS),
  pathSegments: z.array(re2Pattern(), { error: "must be a list" }).default(DEFAULT_REDACTED_PATH_SEGMENTS),
});
export type RedactSettings = z.infer<typeof RedactSchema>;
