// The verdict's thresholds, one definition for `npm run verdict` (flags,
// stack config) and the promotion templates (components/promotion.ts). Pure.

export interface VerdictThresholds {
  /** Highest acceptable difference rate, a fraction (0.01 = 1 %). */
  maxDiff: number;
  /** Compared answers an app needs before it can be promoted. */
  minCompared: number;
  /** Highest acceptable shadow error ratio, a fraction. */
  maxShadowErrors: number;
  /** Highest acceptable p90 latency delta (v2 − v1), seconds. */
  maxLatencyDelta: number;
}

export const DEFAULT_THRESHOLDS: VerdictThresholds = { maxDiff: 0.01, minCompared: 200, maxShadowErrors: 0.005, maxLatencyDelta: 0.02 };
