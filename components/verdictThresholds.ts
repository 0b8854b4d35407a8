// The verdict's thresholds, one definition for `npm run verdict` (flags,
// stack config) and the promotion templates (components/promotion.ts). Pure.

export interface VerdictThresholds {
  /** Highest acceptable difference rate, a fraction (0.01 = 1 %). */
  maxDiff: number;
  /** Compared answers an app needs before it can be promoted. */
  minCompared: number;
  /** Highest acceptable shadow error ratio, a fraction. */
  maxShadowErrors: number;
  /** Highest acceptable latency delta (v2 − v1, per request) at `latencyQuantile`, seconds. */
  maxLatencyDelta: number;
  /**
   * Which quantile of the per-request latency delta is held to maxLatencyDelta (0.5: the
   * median, robust to a loaded host delaying either version now and then; 0.9 / 0.99 for tails).
   */
  latencyQuantile: number;
}

/** `p50` for 0.5, `p99.9` for 0.999. */
export function quantileName(q: number): string {
  return `p${Number((q * 100).toFixed(3))}`;
}

export const DEFAULT_THRESHOLDS: VerdictThresholds = { maxDiff: 0.01, minCompared: 200, maxShadowErrors: 0.005, maxLatencyDelta: 0.02, latencyQuantile: 0.5 };
