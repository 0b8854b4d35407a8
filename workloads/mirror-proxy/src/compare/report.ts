/**
 * What the proxy tells about its comparisons: per-route totals (match, mismatch, skipped by
 * reason), the most frequent differing paths, and the last mismatches with both values.
 * `toJSON()` is the body of `/compare` on the admin port; `summaryLine()` is the one line
 * a demo or a log ends with. Every structure is bounded whatever the traffic: at most
 * `maxPaths` counted paths per route, a ring of `lastMismatches` records, each of which
 * holds at most `maxDifferences` cut values (see diff.ts).
 */
import { BoundedCounter, type CountEntry } from "./boundedCounts.ts";
import type { CompareResult, Difference } from "./diff.ts";
import type { NoiseLearner, NoiseSnapshot } from "./noise.ts";

/** Why a sampled request was not compared (the `reason` label of `skipped`). */
export type SkipReason =
  | "body_too_large" // one of the answers was above maxBodyBytes
  | "in_flight_limit" // maxInFlight comparisons already held
  | "shadow_failed" // the copy got no complete answer (dropped, connect error, timeout, reset)
  | "primary_failed" // the primary got no complete answer (error, timeout, client abort)
  | "content_encoding" // an answer is compressed (content-encoding); not decoded for comparison
  | "noise_warmup"; // noise learning on and the route has fewer than minSamples primary pairs yet

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

interface RouteState {
  match: number;
  mismatch: number;
  skipped: Map<string, number>;
  paths: BoundedCounter;
}

export class CompareReport {
  readonly #routes = new Map<string, RouteState>();
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
    const r = this.#route(route);
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
    const r = this.#route(route);
    r.skipped.set(reason, (r.skipped.get(reason) ?? 0) + 1);
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

  #route(route: string): RouteState {
    let r = this.#routes.get(route);
    if (!r) {
      r = { match: 0, mismatch: 0, skipped: new Map(), paths: new BoundedCounter(this.#maxPaths, "overestimate") };
      this.#routes.set(route, r);
    }
    return r;
  }
}

/** The `n` most frequent paths, ties by path. Sorts `paths` in place. */
function rankPaths(paths: PathCount[], n: number): PathCount[] {
  return paths.sort((a, b) => b.count - a.count || a.path.localeCompare(b.path)).slice(0, n);
}

function pathCount(e: CountEntry): PathCount {
  return e.overcount > 0 ? { path: e.key, count: e.count, overcount: e.overcount } : { path: e.key, count: e.count };
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
