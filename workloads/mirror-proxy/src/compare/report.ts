/**
 * What the proxy tells about its comparisons: per-route totals (match, mismatch, skipped by
 * reason), the most frequent differing paths, and the last mismatches with both values.
 * `toJSON()` is the body of `/compare` on the admin port; `summaryLine()` is the one line
 * a demo or a log ends with. Every structure is bounded whatever the traffic: at most
 * `maxPaths` counted paths per route, a ring of `lastMismatches` records, each of which
 * holds at most `maxDifferences` cut values (see diff.ts).
 */
import { BoundedCounter, type CountEntry } from "./boundedCounts.ts";
import { bucketIndex, LATENCY_DELTA_BUCKETS } from "./compareStats.ts";
import type { CompareResult, Difference } from "./diff.ts";
import { normalizeIndices } from "./jsonPath.ts";
import type { NoiseLearner, NoiseSnapshot } from "./noise.ts";
import { STATS_FORMAT, type CompareStats, type PathExample, type RouteStats } from "./stats.ts";

/** Why a sampled request was not compared (the `reason` label of `skipped`). */
export const SKIP_REASONS = [
  "body_too_large", // one of the answers was above maxBodyBytes
  "in_flight_limit", // maxInFlight comparisons already held
  "shadow_failed", // the copy got no complete answer (dropped, connect error, timeout, reset)
  "primary_failed", // the primary got no complete answer (error, timeout, client abort)
  "content_encoding", // an answer is compressed (content-encoding); not decoded for comparison
  "noise_warmup", // noise learning on and the route has fewer than minSamples primary pairs yet
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface RequestSummary {
  method: string;
  /** Path with query, as sent. */
  path: string;
  host: string;
}

export interface MismatchRecord {
  time: string;
  route: string;
  /** `GET /path?query` (cut to 300 characters). */
  request: string;
  host: string;
  differences: Difference[];
  /** Differences beyond those listed. */
  omitted: number;
}

export interface PathCount {
  path: string;
  /** Mismatching comparisons in which this path differed (once per comparison). */
  count: number;
  /** Present when the path was counted after an eviction: `count` may be too high by this much. */
  overcount?: number;
}

export interface CompareTotals {
  compared: number;
  match: number;
  mismatch: number;
  /** mismatch / compared, 0 when nothing was compared (4 decimals). */
  mismatchRate: number;
  skipped: Record<string, number>;
}

export interface RouteReport extends CompareTotals {
  topDifferences: PathCount[];
  /** Distinct paths evicted from the bounded counter (the storm indicator). */
  evictedPaths: number;
}

export interface CompareReportJSON {
  totals: CompareTotals;
  /** Over all routes, most frequent first. */
  topDifferences: PathCount[];
  routes: Record<string, RouteReport>;
  /** Newest first. */
  lastMismatches: MismatchRecord[];
  /** Learned noise, when noise cancellation is on. */
  noise?: NoiseSnapshot;
}

export interface CompareReportOptions {
  /** Ring size for `lastMismatches` (0 keeps none). */
  lastMismatches: number;
  /** Distinct paths counted per route. */
  maxPaths?: number;
  /** Paths listed in `topDifferences`. */
  topPaths?: number;
  noise?: NoiseLearner;
  now?: () => Date;
}

export const DEFAULT_MAX_PATHS = 200;
export const DEFAULT_TOP_PATHS = 20;
const SUMMARY_TOP = 5;
const MAX_REQUEST_CHARS = 300;
const MAX_HOST_CHARS = 255;

/**
 * One route's counts. The runtime binds it once per compared copy (`CompareReport.route`)
 * and counts on it directly; `/compare` and `/compare/stats` read it.
 */
export class RouteTally {
  match = 0;
  mismatch = 0;
  /** Copies sampled for comparison (each ends compared or skipped). */
  mirrored = 0;
  /** Shadow gave no complete answer, or answered 5xx. */
  shadowErrors = 0;
  readonly skipped = new Map<string, number>();
  readonly paths: BoundedCounter;
  /** Latency delta per bucket of LATENCY_DELTA_BUCKETS (+Inf last), with sum and count. */
  readonly deltaCounts = new Array<number>(LATENCY_DELTA_BUCKETS.length + 1).fill(0);
  deltaSum = 0;

  constructor(maxPaths: number) {
    this.paths = new BoundedCounter(maxPaths, "overestimate");
  }

  skip(reason: SkipReason): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
  }

  latencyDelta(seconds: number): void {
    this.deltaCounts[bucketIndex(seconds)]++;
    this.deltaSum += seconds;
  }

  get deltaCount(): number {
    let n = 0;
    for (const c of this.deltaCounts) n += c;
    return n;
  }
}

export class CompareReport {
  readonly #routes = new Map<string, RouteTally>();
  readonly #ring: (MismatchRecord | undefined)[];
  #ringNext = 0;
  readonly #maxPaths: number;
  readonly #topPaths: number;
  readonly #noise: NoiseLearner | undefined;
  readonly #now: () => Date;

  constructor(options: CompareReportOptions) {
    this.#ring = new Array<MismatchRecord | undefined>(Math.max(0, Math.floor(options.lastMismatches))).fill(undefined);
    this.#maxPaths = options.maxPaths ?? DEFAULT_MAX_PATHS;
    this.#topPaths = options.topPaths ?? DEFAULT_TOP_PATHS;
    this.#noise = options.noise;
    this.#now = options.now ?? (() => new Date());
  }

  /** Records one finished comparison. */
  record(route: string, request: RequestSummary, outcome: CompareResult): void {
    this.recordOn(this.route(route), route, request, outcome);
  }

  /** `record` on a tally already bound (`route(label)`). */
  recordOn(r: RouteTally, route: string, request: RequestSummary, outcome: CompareResult): void {
    if (outcome.result === "match") {
      r.match++;
      return;
    }
    r.mismatch++;
    for (const path of outcome.patterns) r.paths.add(path);
    if (this.#ring.length === 0) return;
    this.#ring[this.#ringNext] = {
      time: this.#now().toISOString(),
      route,
      request: cut(`${request.method} ${request.path}`, MAX_REQUEST_CHARS),
      host: cut(request.host, MAX_HOST_CHARS),
      differences: outcome.differences,
      omitted: outcome.omitted,
    };
    this.#ringNext = (this.#ringNext + 1) % this.#ring.length;
  }

  /** Records a sampled request that was not compared, and why. */
  skip(route: string, reason: SkipReason): void {
    this.route(route).skip(reason);
  }

  totals(route?: string): CompareTotals {
    const states = route === undefined ? [...this.#routes.values()] : [this.#routes.get(route)].filter((r) => r !== undefined);
    let match = 0;
    let mismatch = 0;
    const skipped: Record<string, number> = {};
    for (const r of states) {
      match += r.match;
      mismatch += r.mismatch;
      for (const [reason, n] of r.skipped) skipped[reason] = (skipped[reason] ?? 0) + n;
    }
    const compared = match + mismatch;
    return { compared, match, mismatch, mismatchRate: compared === 0 ? 0 : Math.round((mismatch / compared) * 10000) / 10000, skipped };
  }

  /** Over all routes: per-route counts summed by path. */
  topDifferences(n = this.#topPaths): PathCount[] {
    const merged = new Map<string, { count: number; overcount: number }>();
    for (const r of this.#routes.values()) {
      for (const e of r.paths.top()) {
        const m = merged.get(e.key) ?? { count: 0, overcount: 0 };
        m.count += e.count;
        m.overcount += e.overcount;
        merged.set(e.key, m);
      }
    }
    return rankPaths([...merged].map(([key, m]) => pathCount({ key, ...m })), n);
  }

  /** Newest first. */
  lastMismatches(): MismatchRecord[] {
    const out: MismatchRecord[] = [];
    const size = this.#ring.length;
    for (let i = 1; i <= size; i++) {
      const rec = this.#ring[(this.#ringNext - i + size) % size];
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Exactly the JSON body of `/compare`. */
  toJSON(): CompareReportJSON {
    const routes: Record<string, RouteReport> = {};
    for (const name of [...this.#routes.keys()].sort()) {
      const r = this.#routes.get(name)!;
      routes[name] = {
        ...this.totals(name),
        topDifferences: rankPaths(r.paths.top().map(pathCount), this.#topPaths),
        evictedPaths: r.paths.evictions,
      };
    }
    const json: CompareReportJSON = { totals: this.totals(), topDifferences: this.topDifferences(), routes, lastMismatches: this.lastMismatches() };
    if (this.#noise) json.noise = this.#noise.snapshot();
    return json;
  }

  /**
   * `120 compared, 50 differ (41.7 %), top differences: $[*].version (50), $[*].rating (48)`,
   * then `; 3 skipped (body_too_large 3)` and `; noise learned: ...` when there are any.
   */
  summaryLine(): string {
    const t = this.totals();
    let line = `${t.compared} compared, ${t.mismatch} differ (${(t.mismatchRate * 100).toFixed(1)} %)`;
    const top = this.topDifferences(SUMMARY_TOP);
    if (top.length > 0) line += `, top differences: ${top.map((p) => `${p.path} (${p.count})`).join(", ")}`;
    const skipped = Object.entries(t.skipped).sort(([a], [b]) => a.localeCompare(b));
    if (skipped.length > 0) {
      const total = skipped.reduce((s, [, n]) => s + n, 0);
      line += `; ${total} skipped (${skipped.map(([reason, n]) => `${reason} ${n}`).join(", ")})`;
    }
    const learned = this.#noise?.learnedPaths() ?? [];
    if (learned.length > 0) line += `; noise learned: ${learned.slice(0, SUMMARY_TOP).join(", ")}${learned.length > SUMMARY_TOP ? `, +${learned.length - SUMMARY_TOP} more` : ""}`;
    return line;
  }

  /** The tally of a route (created on first use; the runtime binds it once per copy). */
  route(route: string): RouteTally {
    let r = this.#routes.get(route);
    if (!r) {
      r = new RouteTally(this.#maxPaths);
      this.#routes.set(route, r);
    }
    return r;
  }

  /**
   * The mergeable form (`GET /compare/stats`, see stats.ts): exact counts per route, the
   * latency-delta buckets, the top paths each with the newest example the ring still holds,
   * the newest mismatch, and the learned noise. `replica` names this proxy (its pod).
   */
  toStats(replica: string): CompareStats {
    // Newest example per route and normalized path, from the ring (newest first).
    const examples = new Map<string, PathExample>();
    const newest = new Map<string, MismatchRecord>();
    for (const rec of this.lastMismatches()) {
      if (!newest.has(rec.route)) newest.set(rec.route, rec);
      for (const difference of rec.differences) {
        const key = `${rec.route}\0${normalizeIndices(difference.path)}`;
        if (!examples.has(key)) examples.set(key, { time: rec.time, request: rec.request, host: rec.host, difference });
      }
    }
    const noise = this.#noise?.snapshot();
    const routes: Record<string, RouteStats> = {};
    for (const name of [...this.#routes.keys()].sort()) {
      const r = this.#routes.get(name)!;
      const skipped: Record<string, number> = {};
      for (const [reason, n] of [...r.skipped].sort(([a], [b]) => a.localeCompare(b))) skipped[reason] = n;
      const topDifferences = rankPaths(r.paths.top().map(pathCount), this.#topPaths).map((p) => {
        const example = examples.get(`${name}\0${p.path}`);
        return { path: p.path, count: p.count, overcount: p.overcount ?? 0, ...(example ? { example } : {}) };
      });
      const learnedOn = noise?.routes[noiseRoute(name)];
      const last = newest.get(name);
      routes[name] = {
        mirrored: r.mirrored,
        compared: r.match + r.mismatch,
        differing: r.mismatch,
        skipped,
        shadowErrors: r.shadowErrors,
        latencyDelta: { counts: [...r.deltaCounts], sum: r.deltaSum, count: r.deltaCount },
        topDifferences,
        evictedPaths: r.paths.evictions,
        noiseLearned: learnedOn ? learnedOn.learned.map((l) => l.path) : [],
        noisePairs: learnedOn?.pairs ?? 0,
        ...(last ? { lastMismatch: { time: last.time, request: last.request, host: last.host, differences: last.differences, omitted: last.omitted } } : {}),
      };
    }
    return { format: STATS_FORMAT, replicas: [replica], latencyDeltaBuckets: [...LATENCY_DELTA_BUCKETS], routes };
  }
}

/** The `n` most frequent paths, ties by path. Sorts `paths` in place. */
function rankPaths(paths: PathCount[], n: number): PathCount[] {
  return paths.sort((a, b) => b.count - a.count || a.path.localeCompare(b.path)).slice(0, n);
}

function pathCount(e: CountEntry): PathCount {
  return e.overcount > 0 ? { path: e.key, count: e.count, overcount: e.overcount } : { path: e.key, count: e.count };
}

/** Noise is learned per route id; a copy's label is `<route id> -> <upstream>` with several mirrors. */
function noiseRoute(label: string): string {
  const arrow = label.indexOf(" -> ");
  return arrow < 0 ? label : label.slice(0, arrow);
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
