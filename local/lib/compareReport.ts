// The comparison report the demo ends with: the mirror proxy's admin
// `/compare` (JSON), polled until every mirrored request has been accounted
// for, and told in a few lines per app: what differs, what was skipped, what
// was learned as noise, and one mismatch with both values.
import { DEMO_APPS, type AppName } from "../../components/apps.ts";
import type { CompareReportJSON, CompareTotals, MismatchRecord, RouteReport } from "../../workloads/mirror-proxy/src/compare/report.ts";
import type { Difference } from "../../workloads/mirror-proxy/src/compare/diff.ts";
import { sleep } from "./processes.ts";

export type CompareReport = CompareReportJSON;

/** `/compare` of the proxy, or undefined when comparison is off (no compare block: a 404). */
export async function fetchCompare(adminUrl: string): Promise<CompareReport | undefined> {
  const response = await fetch(`${adminUrl}/compare`, { signal: AbortSignal.timeout(2000) });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) throw new Error(`${adminUrl}/compare answered HTTP ${response.status}: ${(await response.text()).trim()}`);
  return (await response.json()) as CompareReport;
}

/** The report's routes of one app: they are named `<VirtualService = app>/<route>` (`-> <upstream>` with several mirrors). */
export function appRoutes(report: CompareReport, app: AppName): Array<[string, RouteReport]> {
  return Object.entries(report.routes)
    .filter(([route]) => route.startsWith(`${app}/`))
    .sort(([a], [b]) => a.localeCompare(b));
}

function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((total, value) => total + value, 0);
}

/** Copies of an app's mirrored requests the proxy is done with: compared, or skipped for a reason. */
export function accountedFor(report: CompareReport | undefined, app: AppName): number {
  if (!report) return 0;
  return appRoutes(report, app).reduce((total, [, route]) => total + route.compared + sum(route.skipped), 0);
}

/** Learned noise paths of an app's routes. */
export function learnedNoise(report: CompareReport, app: AppName): string[] {
  const routes = Object.entries(report.noise?.routes ?? {}).filter(([route]) => route.startsWith(`${app}/`));
  return [...new Set(routes.flatMap(([, route]) => route.learned.map((learned) => learned.path)))];
}

/** v1/v1 pairs the proxy diffed to learn an app's noise. */
export function noisePairs(report: CompareReport, app: AppName): number {
  return Object.entries(report.noise?.routes ?? {})
    .filter(([route]) => route.startsWith(`${app}/`))
    .reduce((total, [, route]) => total + route.pairs, 0);
}

export interface CompareWait {
  /** The last report read (undefined: comparison is off). */
  report: CompareReport | undefined;
  /** False when the deadline passed before every expected copy was accounted for. */
  settled: boolean;
}

/**
 * Polls `/compare` until at least `expected[app]` mirrored copies of each app
 * are accounted for (compared or skipped: a comparison ends shortly after the
 * last of its answers), or the deadline passes. Comparison off: at once.
 */
export async function waitForCompared(
  adminUrl: string,
  expected: Partial<Record<AppName, number>>,
  options: { deadlineMs?: number; pollMs?: number } = {},
): Promise<CompareWait> {
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  for (;;) {
    const report = await fetchCompare(adminUrl);
    if (!report) return { report, settled: true };
    const done = Object.entries(expected).every(([app, count]) => accountedFor(report, app as AppName) >= (count ?? 0));
    if (done || Date.now() > deadline) return { report, settled: done };
    await sleep(options.pollMs ?? 25);
  }
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1).replace(/\.0$/, "")} %`;
}

function skippedText(skipped: Record<string, number>): string {
  const reasons = Object.entries(skipped).sort(([a], [b]) => a.localeCompare(b));
  return reasons.length ? reasons.map(([reason, count]) => `${reason} ${count}`).join(", ") : "none";
}

function totalsText(totals: CompareTotals, top: Array<{ path: string; count: number }>): string {
  let text = `${totals.compared} compared, ${totals.mismatch} differ (${percent(totals.mismatchRate)})`;
  if (top.length) text += `, top differences: ${top.map((entry) => `${entry.path} (${entry.count})`).join(", ")}`;
  return text;
}

function value(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : v === undefined ? "(absent)" : JSON.stringify(v);
}

/** `$[3].year: 1999 → 2000`, `$[0].rating: (absent in v1) → 8.3`. */
export function formatDifference(difference: Difference): string {
  const primary = difference.kind === "added" ? "(absent in v1)" : value(difference.primary);
  const shadow = difference.kind === "removed" ? "(absent in v2)" : value(difference.shadow);
  return `${difference.path}: ${primary} → ${shadow}${difference.truncated ? " (values cut)" : ""}`;
}

const EXAMPLE_DIFFERENCES = 6;

/** One mismatch: its request line, and the differing fields with both values (the changed ones first). */
export function formatMismatch(mismatch: MismatchRecord): string[] {
  const ordered = [...mismatch.differences].sort((a, b) => Number(b.kind === "changed") - Number(a.kind === "changed"));
  const shown = ordered.slice(0, EXAMPLE_DIFFERENCES);
  const more = ordered.length - shown.length + mismatch.omitted;
  return [
    `Example mismatch (${mismatch.route}): ${mismatch.request} (Host ${mismatch.host}), v1 → v2:`,
    ...shown.map((difference) => `  ${formatDifference(difference)}`),
    ...(more > 0 ? [`  … and ${more} more`] : []),
  ];
}

export interface ReportContext {
  /** The apps compared (compare: true in the stack config). */
  compared: AppName[];
  /** The v1 pod names of each app, to say what hostname's noise is. */
  v1Pods: (app: AppName) => string[];
  adminUrl: string;
  /** False when the wait for the comparisons hit its deadline. */
  settled: boolean;
}

/** The demo's closing block. */
export function formatCompareReport(report: CompareReport | undefined, context: ReportContext): string[] {
  if (!report || context.compared.length === 0) {
    return ["Comparison is off (compare: false in the stack config): set traffic-mirroring:compare to \"true\" to compare v2's answers with v1's."];
  }
  const totals = report.totals;
  const noiseByApp = context.compared
    .map((app) => [app, learnedNoise(report, app)] as const)
    .filter(([, paths]) => paths.length > 0)
    .map(([app, paths]) => `${app}: ${paths.join(", ")}`);
  const lines = [
    `comparison of v2 with v1: ${totalsText(totals, report.topDifferences.slice(0, 3))}; skipped: ${skippedText(totals.skipped)}; ` +
      `noise learned: ${noiseByApp.length ? noiseByApp.join("; ") : "nothing"}` +
      (context.settled ? "" : " (comparisons still in progress when the deadline passed)"),
  ];
  for (const app of DEMO_APPS.map((candidate) => candidate.name)) {
    if (!context.compared.includes(app)) {
      lines.push(`  ${app}: not compared (compare: false)`);
      continue;
    }
    for (const [route, routeReport] of appRoutes(report, app)) {
      lines.push(`  ${route}: ${totalsText(routeReport, routeReport.topDifferences.slice(0, 3))}; skipped: ${skippedText(routeReport.skipped)}`);
    }
    const learned = learnedNoise(report, app);
    const pairs = noisePairs(report, app);
    const routes = appRoutes(report, app);
    const mismatches = routes.reduce((total, [, route]) => total + route.mismatch, 0);
    const pods = context.v1Pods(app);
    if (learned.length > 0) {
      const what = learned.includes("body") && app === "hostname" ? `its answer names the pod (${pods.join(" / ")})` : "its v1 pods answer differently there";
      lines.push(
        `  → ${app}: ${what}, so the proxy learned ${learned.join(", ")} as noise from ${pairs} v1/v1 pairs: left out of the comparison, ` +
          (mismatches === 0 ? "not reported as a v2 difference." : `not reported (${mismatches} mismatches remain on other fields).`),
      );
    } else if (mismatches > 0) {
      lines.push(`  → ${app}: two v1 pods answer alike (nothing learned as noise from ${pairs} v1/v1 pairs), so what v2 answers differently is reported.`);
    } else if (pairs > 0) {
      lines.push(`  → ${app}: v2 answers like v1 (no noise learned from ${pairs} v1/v1 pairs).`);
    }
  }
  const example = report.lastMismatches[0];
  if (example) lines.push(...formatMismatch(example));
  lines.push(`Full report: curl -s ${context.adminUrl}/compare (JSON), ${context.adminUrl}/compare/summary (one line)`);
  return lines;
}
