/**
 * The optional `spec.compare` block of the MirrorProxy document: which mirrored routes get
 * their shadow answers compared with the primary's, what is compared, and the bounds.
 *
 * `parseMirrorProxyConfig` runs `validateCompareSettings(raw)` on the block (settings with
 * defaults, or problems in the same list as every other config problem, e.g.
 * `MirrorProxy: spec.compare.maxBodyBytes: must be at least 0 (got -1)`) and then
 * `checkCompareRoutes`, which cross-checks the route names against the VirtualServices.
 */
import { z } from "zod";
import { routeId, zodProblems, type ConfigProblem, type VirtualService } from "../config.ts";
import { jsonPathText, lowerCaseHeaderName, nonNegativeInt, positiveInt, str } from "../syntax.ts";
import { DEFAULT_REDACT } from "./redact.ts";
import { RedactSchema } from "./redactSchema.ts";
import { ALL_ROUTES } from "./selection.ts";

// What the serving process runs with the settings (no zod there) is selection.ts's.
export { ALL_ROUTES, compareOptionsFrom, compileRouteSelector } from "./selection.ts";

const NoiseSchema = z.strictObject({
  samplePercent: z.number({ error: "must be a number" }).min(0, "must be between 0 and 100").max(100, "must be between 0 and 100").default(10),
  minSamples: positiveInt().default(5),
});

export const CompareSettingsSchema = z.strictObject({
  /** Route names (`HTTPRoute.name`), route ids (`<VirtualService>/<name or index>`) or `*`. */
  routes: z.array(str().min(1, "must not be empty"), { error: "must be a list" }).min(1, 'must list at least one route name, or "*" for every mirrored route').default([ALL_ROUTES]),
  /** Compared response headers; `*` = all but framing ones (see diff.ts FRAMING_HEADERS). */
  headers: z.array(z.union([z.literal("*"), lowerCaseHeaderName()], { error: "must be a lower-case header name or *" }), { error: "must be a list" }).default(["content-type"]),
  ignoreHeaders: z.array(lowerCaseHeaderName(), { error: "must be a list" }).default([]),
  ignorePaths: z.array(jsonPathText(), { error: "must be a list" }).default([]),
  maxBodyBytes: nonNegativeInt().default(262144),
  maxInFlight: nonNegativeInt().default(64),
  noise: NoiseSchema.optional(),
  lastMismatches: nonNegativeInt().default(50),
  /** Values masked before the report stores them (redact.ts, issue 13). */
  redact: RedactSchema.default(DEFAULT_REDACT),
});

export type CompareSettings = z.infer<typeof CompareSettingsSchema>;

export interface CompareValidation {
  /** Undefined when the block is absent (comparison off) or invalid. */
  settings: CompareSettings | undefined;
  problems: ConfigProblem[];
}

/** Validates `spec.compare` (raw YAML value; `undefined` = absent). */
export function validateCompareSettings(raw: unknown, document = "MirrorProxy", at = "spec.compare"): CompareValidation {
  if (raw === undefined) return { settings: undefined, problems: [] };
  const parsed = CompareSettingsSchema.safeParse(raw);
  if (!parsed.success) return { settings: undefined, problems: zodProblems(document, parsed.error, raw, { at }) };
  const settings = parsed.data;
  const problems: ConfigProblem[] = [];
  const ignored = new Set(settings.ignoreHeaders);
  settings.headers.forEach((h, i) => {
    if (ignored.has(h)) problems.push({ document, path: `${at}.headers[${i}]`, problem: "also listed in ignoreHeaders; list it in one of them", value: h });
  });
  if (settings.headers.length > 1 && settings.headers.includes("*")) {
    problems.push({ document, path: `${at}.headers`, problem: '"*" already compares every header; list it alone', value: settings.headers });
  }
  return problems.length > 0 ? { settings: undefined, problems } : { settings, problems };
}

/**
 * Every entry of `routes` (other than `*`) must name a route that mirrors: by its name
 * (`HTTPRoute.name`, in any VirtualService) or its id `<VirtualService>/<name or index>`
 * (the `route` metrics label).
 */
export function checkCompareRoutes(settings: CompareSettings, virtualServices: readonly VirtualService[], document = "MirrorProxy", at = "spec.compare"): ConfigProblem[] {
  const mirroring = new Set<string>();
  const nonMirroring = new Set<string>();
  for (const vs of virtualServices) {
    vs.http.forEach((r, i) => {
      const names = [routeId(vs.name, r, i), ...(r.name ? [r.name] : [])];
      const into = r.mirror || (r.mirrors && r.mirrors.length > 0) ? mirroring : nonMirroring;
      for (const n of names) into.add(n);
    });
  }
  const problems: ConfigProblem[] = [];
  settings.routes.forEach((name, i) => {
    if (name === ALL_ROUTES || mirroring.has(name)) return;
    const problem = nonMirroring.has(name) ? "this route does not mirror, so there is nothing to compare" : "no HTTPRoute has this name (use a route name, <VirtualService>/<name or index>, or *)";
    problems.push({ document, path: `${at}.routes[${i}]`, problem, value: name });
  });
  return problems;
}
