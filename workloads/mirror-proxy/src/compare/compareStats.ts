/**
 * Latency difference between the shadow and the primary answer to the same request
 * (shadow − primary, in seconds: positive = v2 slower), bucketed for a Prometheus histogram.
 * The buckets are symmetric around 0 because v2 may be faster as well as slower; prom-client
 * accepts negative bucket bounds. The histogram is `mirror_proxy_compare_latency_delta_seconds`
 * in metrics.ts (prom-client does the bucketing); `bucketIndex`/`bucketLabel` state the `le`
 * semantics it applies to these bounds (for the tests).
 */

/** Upper bounds in seconds, ascending; values above the last one fall in `+Inf`. */
export const LATENCY_DELTA_BUCKETS: readonly number[] = [
  -5, -2.5, -1, -0.5, -0.25, -0.1, -0.05, -0.025, -0.01, -0.005, -0.001,
  0,
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Shadow minus primary, in seconds (both durations measured the same way, e.g. until the body is complete). */
export function latencyDeltaSeconds(primaryMs: number, shadowMs: number): number {
  return (shadowMs - primaryMs) / 1000;
}

/**
 * Index of the bucket `value` falls in: the first bound >= value (Prometheus `le`),
 * or `buckets.length` for `+Inf`.
 */
export function bucketIndex(value: number, buckets: readonly number[] = LATENCY_DELTA_BUCKETS): number {
  let lo = 0;
  let hi = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (buckets[mid] >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The `le` label of the bucket `value` falls in (`"+Inf"` above the last bound). */
export function bucketLabel(value: number, buckets: readonly number[] = LATENCY_DELTA_BUCKETS): string {
  const i = bucketIndex(value, buckets);
  return i === buckets.length ? "+Inf" : String(buckets[i]);
}
