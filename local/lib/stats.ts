// Small numeric helpers: latency percentiles, and how far a mirrored share may
// stray from mirrorPercent before it says something is wrong.

/** Nearest-rank percentile (q in 0–100) of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((q / 100) * sorted.length)));
  return sorted[rank - 1];
}

function logFactorials(n: number): Float64Array {
  const table = new Float64Array(n + 1);
  for (let k = 2; k <= n; k++) table[k] = table[k - 1] + Math.log(k);
  return table;
}

/** P(X = k) for X ~ Binomial(n, p), for every k. */
export function binomialPmf(n: number, p: number): number[] {
  if (p <= 0) return Array.from({ length: n + 1 }, (_, k) => (k === 0 ? 1 : 0));
  if (p >= 1) return Array.from({ length: n + 1 }, (_, k) => (k === n ? 1 : 0));
  const logFact = logFactorials(n);
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  return Array.from({ length: n + 1 }, (_, k) => Math.exp(logFact[n] - logFact[k] - logFact[n - k] + k * logP + (n - k) * logQ));
}

/**
 * The range [low, high] that X ~ Binomial(n, percent/100) falls outside of with
 * probability at most `failureProbability` (half of it on each side, exact
 * tails). 100 % gives [n, n] and 0 % gives [0, 0].
 */
export function binomialAcceptance(n: number, percent: number, failureProbability: number): { low: number; high: number } {
  if (!Number.isInteger(n) || n < 0) throw new Error(`n must be a whole number ≥ 0, got ${n}`);
  if (!(percent >= 0 && percent <= 100)) throw new Error(`percent must be 0–100, got ${percent}`);
  const pmf = binomialPmf(n, percent / 100);
  const perSide = failureProbability / 2;
  let low = 0;
  for (let below = 0; low < n && below + pmf[low] <= perSide; low++) below += pmf[low];
  let high = n;
  for (let above = 0; high > 0 && above + pmf[high] <= perSide; high--) above += pmf[high];
  return { low, high };
}

/** "12.3 ms" (or "—" for no value). */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  return ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

/** 49 of 50 → "98 %". */
export function formatShare(part: number, whole: number): string {
  if (whole === 0) return "—";
  const share = (100 * part) / whole;
  return `${Number.isInteger(share) ? share : share.toFixed(1)} %`;
}
