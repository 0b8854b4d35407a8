/**
 * Noise cancellation, Diffy's idea: for a sample of requests the proxy gets a second answer
 * from the *primary* destination. Whatever differs between two answers of the same version
 * to the same request (timestamps, pod names, request ids) says nothing about v2, so it is
 * learned as noise and left out of the v1/v2 comparison of that route.
 *
 * The rule, per route:
 * - each sample pair is diffed like a v1/v2 pair (same headers, same ignored paths), and
 *   every differing path counts once for that pair, array indices folded to `[*]`
 *   (`$[3].requestId` -> `$[*].requestId`), so "this field in every element" is one path;
 * - a path is noise once it differed in at least `minSamples` pairs; it stays noise for
 *   the life of the learner (a config reload starts a new one);
 * - the status code is never learned: a flaky v1 status must not hide v2's errors;
 * - `body` (a non-JSON body differing as a whole) and `headers.<name>` are learned like
 *   JSON paths, so a text answer carrying the pod name is learned as noise as a whole.
 *
 * Memory is bounded: at most `maxCandidates` counted paths per route (the smallest count
 * is evicted for a newcomer, never inflating counts, see boundedCounts.ts) and at most
 * `maxLearned` learned paths per route.
 */
import { BoundedCounter } from "./boundedCounts.ts";
import { compareAnswers, compileCompareOptions, isCompiled, type Answer, type CompareOptions, type CompiledCompareOptions, type NoisePaths } from "./diff.ts";
import { normalizeIndices } from "./jsonPath.ts";

export interface NoiseOptions {
  /** Sample pairs a path must have differed in to be learned (>= 1). */
  minSamples: number;
  maxCandidates?: number;
  maxLearned?: number;
}

export interface NoisePath {
  path: string;
  /** Sample pairs in which it differed (counted since it was first tracked). */
  pairs: number;
}

export interface RouteNoise {
  /** Sample pairs diffed for this route. */
  pairs: number;
  learned: NoisePath[];
  /** Paths seen differing but not (yet) in `minSamples` pairs, most frequent first (at most 20). */
  candidates: NoisePath[];
  /** Candidates dropped to keep the route's memory bounded. */
  evicted: number;
  /** Paths that reached `minSamples` after the learned set was full (not learned). */
  notLearnedFull: number;
}

export interface NoiseSnapshot {
  minSamples: number;
  routes: Record<string, RouteNoise>;
}

export const DEFAULT_MAX_NOISE_CANDIDATES = 500;
export const DEFAULT_MAX_LEARNED_NOISE = 200;
const SNAPSHOT_CANDIDATES = 20;

interface RouteState {
  pairs: number;
  candidates: BoundedCounter;
  /** Learned path -> pairs it differed in (also the diff's noise set: it reads `has` and `size`). */
  learned: Map<string, number>;
  notLearnedFull: number;
}

/** Whether this request also gets a second primary copy (`samplePercent` 0..100). */
export function shouldSampleNoise(samplePercent: number, rand: number = Math.random()): boolean {
  return rand * 100 < samplePercent;
}

/**
 * The comparison options for a primary/primary pair: same headers and ignored paths as the
 * route's comparison, no status, no described differences (only the paths are needed).
 */
export function noiseLearningOptions(options: CompareOptions | CompiledCompareOptions, maxPaths = DEFAULT_MAX_NOISE_CANDIDATES): CompiledCompareOptions {
  const o = isCompiled(options) ? options : compileCompareOptions(options);
  return { ...o, compareStatus: false, maxDifferences: 0, maxPatterns: maxPaths };
}

export class NoiseLearner {
  readonly minSamples: number;
  readonly maxCandidates: number;
  readonly maxLearned: number;
  readonly #routes = new Map<string, RouteState>();

  constructor(options: NoiseOptions) {
    this.minSamples = Math.max(1, Math.floor(options.minSamples));
    this.maxCandidates = options.maxCandidates ?? DEFAULT_MAX_NOISE_CANDIDATES;
    this.maxLearned = options.maxLearned ?? DEFAULT_MAX_LEARNED_NOISE;
  }

  /**
   * Diffs two primary answers to the same request and records the differing paths.
   * Pass `noiseLearningOptions(...)` (compiled once); returns this pair's differing paths.
   */
  learnFromPrimaries(route: string, first: Answer, second: Answer, learningOptions: CompiledCompareOptions): string[] {
    const { patterns } = compareAnswers(first, second, learningOptions);
    this.#record(route, patterns); // the diff's patterns already have their indices as `[*]`
    return patterns;
  }

  /** Records one sample pair whose differing (normalized or concrete) paths are `paths`. */
  recordPair(route: string, paths: Iterable<string>): void {
    const normalized: string[] = [];
    for (const raw of paths) normalized.push(normalizeIndices(raw));
    this.#record(route, normalized);
  }

  /** Records one sample pair whose differing paths are `paths`, already normalized. */
  #record(route: string, paths: Iterable<string>): void {
    const r = this.#route(route);
    r.pairs++;
    const seen = new Set<string>();
    for (const path of paths) {
      if (path === "status" || seen.has(path)) continue;
      seen.add(path);
      const known = r.learned.get(path);
      if (known !== undefined) {
        r.learned.set(path, known + 1);
        continue;
      }
      const count = r.candidates.add(path);
      if (count < this.minSamples) continue;
      if (r.learned.size >= this.maxLearned) {
        r.notLearnedFull++;
        continue;
      }
      r.candidates.delete(path);
      r.learned.set(path, count);
    }
  }

  /** Whether `path` (concrete or normalized) is learned noise on `route`. */
  isNoise(route: string, path: string): boolean {
    return this.#routes.get(route)?.learned.has(normalizeIndices(path)) ?? false;
  }

  /** Sample pairs diffed for `route` so far. */
  pairs(route: string): number {
    return this.#routes.get(route)?.pairs ?? 0;
  }

  /** The learned set of a route, live (grows as noise is learned); pass it to `compareAnswers`. */
  noiseFor(route: string): NoisePaths {
    return this.#route(route).learned;
  }

  /** Learned paths over all routes, each once, in `snapshot()` order (routes by name, then most pairs first). */
  learnedPaths(): string[] {
    const out = new Set<string>();
    for (const [, r] of this.#sortedRoutes()) for (const l of learnedOf(r)) out.add(l.path);
    return [...out];
  }

  snapshot(): NoiseSnapshot {
    const routes: Record<string, RouteNoise> = {};
    for (const [name, r] of this.#sortedRoutes()) {
      routes[name] = {
        pairs: r.pairs,
        learned: learnedOf(r),
        candidates: r.candidates.top(SNAPSHOT_CANDIDATES).map((e) => ({ path: e.key, pairs: e.count })),
        evicted: r.candidates.evictions,
        notLearnedFull: r.notLearnedFull,
      };
    }
    return { minSamples: this.minSamples, routes };
  }

  #sortedRoutes(): [string, RouteState][] {
    return [...this.#routes].sort(([a], [b]) => a.localeCompare(b));
  }

  #route(route: string): RouteState {
    let r = this.#routes.get(route);
    if (!r) {
      r = { pairs: 0, candidates: new BoundedCounter(this.maxCandidates, "underestimate"), learned: new Map(), notLearnedFull: 0 };
      this.#routes.set(route, r);
    }
    return r;
  }
}

/** A route's learned paths, most pairs first, then by path. */
function learnedOf(r: RouteState): NoisePath[] {
  return [...r.learned].map(([path, pairs]) => ({ path, pairs })).sort((a, b) => b.pairs - a.pairs || a.path.localeCompare(b.path));
}
