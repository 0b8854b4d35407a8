// The promotion decision of `npm run verdict`, per app, from the merged
// comparison of every proxy replica. Pure: statistics and thresholds in,
// decisions with their reasons out.
//
// The rule (README, "The verdict"):
// - difference rate, on its 95 % Wilson interval: hold when even the lower
//   bound is above --max-diff (v2 differs, whatever more traffic says);
//   promotable when at least --min-compared answers were compared and the
//   upper bound is at most --max-diff; in between, not enough data yet;
// - shadow error ratio (over the copies sampled for comparison) and the
//   latency delta at --latency-quantile (median by default): hold when above their maximum once --min-compared samples
//   are in (before that they cannot promote nor hold);
// - any hold reason: hold; else any missing evidence: not enough data; else promote.
import { DEFAULT_THRESHOLDS, quantileName, type VerdictThresholds } from "../../components/verdictThresholds.ts";
import { figures, histogramQuantile, sumRoutes, type CompareStats, type RouteFigures, type RouteStats } from "../../workloads/mirror-proxy/src/compare/stats.ts";

export type Decision = "promote" | "hold" | "not_enough_data";

export const EXIT_CODES: Record<Decision, number> = { promote: 0, hold: 1, not_enough_data: 2 };

export type Thresholds = VerdictThresholds;
export { DEFAULT_THRESHOLDS };

export interface RouteVerdict {
  route: string;
  stats: RouteStats;
  figures: RouteFigures;
}

export interface AppVerdict {
  app: string;
  decision: Decision;
  /** Why it holds or lacks data (empty when it promotes). */
  reasons: string[];
  /** What passed, for the promote line. */
  passed: string[];
  /** The app's routes added up. */
  figures: RouteFigures;
  stats: RouteStats;
  routes: RouteVerdict[];
  noiseLearned: string[];
}

export interface Verdict {
  decision: Decision;
  exitCode: number;
  apps: AppVerdict[];
  thresholds: Thresholds;
}

/** A fraction as a percentage, 3 significant digits at most: `1 %`, `0.952 %`, `99.1 %`. */
export function pct(fraction: number): string {
  const v = fraction * 100;
  return `${Number(v.toFixed(v === 0 || v >= 10 ? 1 : v >= 1 ? 2 : 3))} %`;
}

/** Seconds as signed milliseconds: `+0.8 ms`, `-12 ms`. */
export function ms(seconds: number): string {
  const v = seconds * 1000;
  return `${v > 0 ? "+" : ""}${Number(v.toFixed(Math.abs(v) >= 10 ? 0 : 1))} ms`;
}

/** One app's decision from its routes' statistics. */
export function decideApp(app: string, routes: Array<[string, RouteStats]>, buckets: readonly number[], t: Thresholds): AppVerdict {
  const stats = sumRoutes(routes.map(([, r]) => r), buckets.length);
  const f = figures(stats, buckets);
  const hold: string[] = [];
  const missing: string[] = [];
  const passed: string[] = [];
  const [lo, hi] = f.differingInterval;
  const diff = `difference rate ${pct(f.differingRate)} (${f.differing} of ${f.compared}, 95 % CI ${pct(lo)}–${pct(hi)})`;
  if (f.compared > 0 && lo > t.maxDiff) hold.push(`${diff} is above --max-diff ${pct(t.maxDiff)}`);
  else if (f.compared < t.minCompared) missing.push(`${f.compared} answers compared, --min-compared is ${t.minCompared}`);
  else if (hi > t.maxDiff) missing.push(`${diff}: the interval still reaches above --max-diff ${pct(t.maxDiff)}; more traffic decides`);
  else passed.push(`${diff} ≤ ${pct(t.maxDiff)}`);

  if (f.mirrored >= t.minCompared) {
    const errors = `shadow errors ${pct(f.shadowErrorRate)} (${f.shadowErrors} of ${f.mirrored})`;
    if (f.shadowErrorRate > t.maxShadowErrors) hold.push(`${errors} above --max-shadow-errors ${pct(t.maxShadowErrors)}`);
    else passed.push(`${errors} ≤ ${pct(t.maxShadowErrors)}`);
  }
  const delta = histogramQuantile(t.latencyQuantile, buckets, stats.latencyDelta.counts);
  if (delta !== undefined && f.latencyDelta.count >= t.minCompared) {
    const latency = `${quantileName(t.latencyQuantile)} latency delta ${ms(delta)}`;
    if (delta > t.maxLatencyDelta) hold.push(`${latency} above --max-latency-delta ${ms(t.maxLatencyDelta)}`);
    else passed.push(`${latency} ≤ ${ms(t.maxLatencyDelta)}`);
  }
  const decision: Decision = hold.length > 0 ? "hold" : missing.length > 0 ? "not_enough_data" : "promote";
  return {
    app,
    decision,
    reasons: hold.length > 0 ? hold : missing,
    passed,
    figures: f,
    stats,
    routes: routes.map(([route, r]) => ({ route, stats: r, figures: figures(r, buckets) })),
    noiseLearned: stats.noiseLearned,
  };
}

/**
 * Every app's decision. `appOf` maps a compare label (`<VirtualService>/<route>`,
 * `-> <upstream>` with several mirrors) to its app; `apps` lists the apps to decide
 * (an app without any compared route yet has no data).
 */
export function decide(stats: CompareStats, apps: readonly string[], appOf: (route: string) => string | undefined, t: Thresholds): Verdict {
  const byApp = new Map<string, Array<[string, RouteStats]>>(apps.map((a) => [a, []]));
  for (const [route, r] of Object.entries(stats.routes)) {
    const app = appOf(route);
    if (app !== undefined && byApp.has(app)) byApp.get(app)!.push([route, r]);
  }
  const verdicts = [...byApp].map(([app, routes]) => decideApp(app, routes, stats.latencyDeltaBuckets, t));
  const decision: Decision = verdicts.some((v) => v.decision === "hold")
    ? "hold"
    : verdicts.length === 0 || verdicts.some((v) => v.decision === "not_enough_data")
      ? "not_enough_data"
      : "promote";
  return { decision, exitCode: EXIT_CODES[decision], apps: verdicts, thresholds: t };
}

/** `<VirtualService>/...` → the VirtualService's name (the stack names each app's VirtualService after the app). */
export function virtualServiceOf(route: string): string {
  const slash = route.indexOf("/");
  return slash < 0 ? route : route.slice(0, slash);
}
