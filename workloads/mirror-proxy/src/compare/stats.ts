/**
 * The comparison of one proxy replica in a form that merges exactly with the others'
 * (`GET /compare/stats` on the admin port): per route the exact counts (mirrored, compared,
 * differing, skipped by reason, shadow errors), the latency-delta histogram's bucket counts,
 * the top differing paths, each with one example, and the learned noise. Several replicas
 * (a Deployment's pods) are merged by `mergeStats`: counts and buckets add up, paths add up
 * (their `overcount` too), the newest example wins. `figures` derives what a person or a
 * promotion decision reads (coverage, difference rate with a Wilson interval, shadow error
 * ratio, latency-delta quantiles); the dashboard and `npm run verdict` both use it.
 * Pure: no I/O.
 */
import { LATENCY_DELTA_BUCKETS } from "./compareStats.ts";
import type { Difference } from "./diff.ts";

export const STATS_FORMAT = "mirror-proxy-compare-stats/v1";

/** One difference seen on a path, with the request it came from. */
export interface PathExample {
  time: string;
  /** `GET /path?query` */
  request: string;
  host: string;
  difference: Difference;
}

export interface StatsPath {
  /** Normalized (`$[*].year`), as counted. */
  path: string;
  count: number;
  /** `count` may be too high by this much (counted after an eviction, see boundedCounts.ts). */
  overcount: number;
  example?: PathExample;
}

export interface LatencyDeltaStats {
  /** Per bucket of `latencyDeltaBuckets` (not cumulative), the last one `+Inf`. */
  counts: number[];
  /** Sum of the deltas, seconds. */
  sum: number;
  count: number;
}

export interface RouteStats {
  mirrored: number;
  compared: number;
  differing: number;
  skipped: Record<string, number>;
  shadowErrors: number;
  latencyDelta: LatencyDeltaStats;
  /** Most frequent first. */
  topDifferences: StatsPath[];
  evictedPaths: number;
  /** Learned noise paths (union over replicas). */
  noiseLearned: string[];
  /** v1/v1 pairs diffed to learn noise. */
  noisePairs: number;
  /** The newest mismatch, every described difference with both values. */
  lastMismatch?: { time: string; request: string; host: string; differences: Difference[]; omitted: number };
}

export interface CompareStats {
  format: typeof STATS_FORMAT;
  /** Which replicas this covers (a pod name, a host name, or several once merged). */
  replicas: string[];
  /** Upper bounds of the latency-delta buckets, seconds (`+Inf` implied after the last). */
  latencyDeltaBuckets: number[];
  routes: Record<string, RouteStats>;
}

export function emptyRouteStats(buckets = LATENCY_DELTA_BUCKETS.length): RouteStats {
  return {
    mirrored: 0,
    compared: 0,
    differing: 0,
    skipped: {},
    shadowErrors: 0,
    latencyDelta: { counts: new Array<number>(buckets + 1).fill(0), sum: 0, count: 0 },
    topDifferences: [],
    evictedPaths: 0,
    noiseLearned: [],
    noisePairs: 0,
  };
}

/** Why `value` is not a CompareStats document, or undefined when it is one (checked before merging). */
export function checkStats(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not a JSON object";
  const v = value as Partial<CompareStats>;
  if (v.format !== STATS_FORMAT) return `format is ${JSON.stringify(v.format)}, expected "${STATS_FORMAT}"`;
  if (!Array.isArray(v.latencyDeltaBuckets) || typeof v.routes !== "object" || v.routes === null || !Array.isArray(v.replicas)) return "missing latencyDeltaBuckets, routes or replicas";
  for (const [name, r] of Object.entries(v.routes)) {
    if (typeof r?.mirrored !== "number" || typeof r.compared !== "number" || typeof r.differing !== "number" || r.latencyDelta?.counts?.length !== v.latencyDeltaBuckets.length + 1) {
      return `route ${JSON.stringify(name)}: missing counts, or latencyDelta.counts not of length ${v.latencyDeltaBuckets.length + 1}`;
    }
  }
  return undefined;
}

const newer = <T extends { time: string }>(a: T | undefined, b: T | undefined): T | undefined => (!a ? b : !b ? a : b.time > a.time ? b : a);

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

/** Two routes' statistics added up (paths by path, most frequent first; no path dropped). */
export function mergeRouteStats(a: RouteStats, b: RouteStats): RouteStats {
  const paths = new Map<string, StatsPath>();
  for (const p of [...a.topDifferences, ...b.topDifferences]) {
    const m = paths.get(p.path);
    if (!m) paths.set(p.path, { ...p });
    else {
      m.count += p.count;
      m.overcount += p.overcount;
      m.example = newer(m.example, p.example);
    }
  }
  const merged: RouteStats = {
    mirrored: a.mirrored + b.mirrored,
    compared: a.compared + b.compared,
    differing: a.differing + b.differing,
    skipped: addCounts(a.skipped, b.skipped),
    shadowErrors: a.shadowErrors + b.shadowErrors,
    latencyDelta: {
      counts: a.latencyDelta.counts.map((n, i) => n + b.latencyDelta.counts[i]),
      sum: a.latencyDelta.sum + b.latencyDelta.sum,
      count: a.latencyDelta.count + b.latencyDelta.count,
    },
    topDifferences: [...paths.values()].sort((x, y) => y.count - x.count || x.path.localeCompare(y.path)),
    evictedPaths: a.evictedPaths + b.evictedPaths,
    noiseLearned: [...new Set([...a.noiseLearned, ...b.noiseLearned])].sort(),
    noisePairs: a.noisePairs + b.noisePairs,
  };
  const last = newer(a.lastMismatch, b.lastMismatch);
  if (last) merged.lastMismatch = last;
  return merged;
}

/** Every replica's statistics as one; throws when their histograms have different buckets. */
export function mergeStats(all: readonly CompareStats[]): CompareStats {
  const buckets = all[0]?.latencyDeltaBuckets ?? [...LATENCY_DELTA_BUCKETS];
  const routes: Record<string, RouteStats> = {};
  for (const s of all) {
    if (s.latencyDeltaBuckets.join() !== buckets.join()) {
      throw new Error(`replica ${s.replicas.join(", ")} has other latency-delta buckets (${s.latencyDeltaBuckets.join(", ")}) than ${all[0].replicas.join(", ")} (${buckets.join(", ")}): are they the same proxy version?`);
    }
    for (const [name, r] of Object.entries(s.routes)) routes[name] = mergeRouteStats(routes[name] ?? emptyRouteStats(buckets.length), r);
  }
  const sorted = Object.fromEntries(Object.keys(routes).sort().map((k) => [k, routes[k]]));
  return { format: STATS_FORMAT, replicas: all.flatMap((s) => s.replicas), latencyDeltaBuckets: [...buckets], routes: sorted };
}

// ---------------------------------------------------------------- figures

/** z for a two-sided 95 % interval. */
export const Z95 = 1.959963984540054;

/**
 * Wilson score interval of a proportion `k / n` (Wilson 1927): good at the edges (0 of n,
 * n of n) and for small n, where the normal approximation gives nonsense. [0, 1] for n = 0.
 */
export function wilson(k: number, n: number, z = Z95): [number, number] {
  if (n <= 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const denom = 1 + z2 / n;
  return [Math.max(0, (centre - spread) / denom), Math.min(1, (centre + spread) / denom)];
}

/**
 * The `q` quantile of a histogram (0 < q < 1) as Prometheus' `histogram_quantile` estimates
 * it: linear within the bucket it falls in; the lowest bucket is taken from its own bound
 * (the delta can be negative, there is no 0 floor), a value in `+Inf` is the last bound.
 * Undefined when the histogram is empty.
 */
export function histogramQuantile(q: number, bounds: readonly number[], counts: readonly number[]): number | undefined {
  const total = counts.reduce((s, n) => s + n, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (below + n >= rank && n > 0) {
      if (i === bounds.length) return bounds[bounds.length - 1]; // +Inf
      if (i === 0) return bounds[0];
      const lo = bounds[i - 1];
      const hi = bounds[i];
      return lo + (hi - lo) * ((rank - below) / n);
    }
    below += n;
  }
  return bounds[bounds.length - 1];
}

export interface RouteFigures {
  mirrored: number;
  compared: number;
  differing: number;
  /** compared / mirrored (0 when nothing was mirrored). */
  coverage: number;
  /** differing / compared (0 when nothing was compared). */
  differingRate: number;
  /** 95 % Wilson interval of the difference rate. */
  differingInterval: [number, number];
  shadowErrors: number;
  /** shadowErrors / mirrored. */
  shadowErrorRate: number;
  skipped: number;
  /** Latency delta (shadow − primary), seconds; undefined without samples. */
  latencyDelta: { p50?: number; p90?: number; p99?: number; mean?: number; count: number };
}

export function figures(r: RouteStats, bounds: readonly number[]): RouteFigures {
  const d = r.latencyDelta;
  return {
    mirrored: r.mirrored,
    compared: r.compared,
    differing: r.differing,
    coverage: r.mirrored === 0 ? 0 : r.compared / r.mirrored,
    differingRate: r.compared === 0 ? 0 : r.differing / r.compared,
    differingInterval: wilson(r.differing, r.compared),
    shadowErrors: r.shadowErrors,
    shadowErrorRate: r.mirrored === 0 ? 0 : r.shadowErrors / r.mirrored,
    skipped: Object.values(r.skipped).reduce((s, n) => s + n, 0),
    latencyDelta: {
      p50: histogramQuantile(0.5, bounds, d.counts),
      p90: histogramQuantile(0.9, bounds, d.counts),
      p99: histogramQuantile(0.99, bounds, d.counts),
      mean: d.count === 0 ? undefined : d.sum / d.count,
      count: d.count,
    },
  };
}

/** Several routes (e.g. one app's) added up. */
export function sumRoutes(routes: readonly RouteStats[], buckets = LATENCY_DELTA_BUCKETS.length): RouteStats {
  return routes.reduce((acc, r) => mergeRouteStats(acc, r), emptyRouteStats(buckets));
}
