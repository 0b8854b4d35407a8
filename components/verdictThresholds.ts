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

// ---------------------------------------------------------------- syntax (flags and stack config alike)

/** `1%`, `0.5 %`, `1` (percent) or a number → a fraction; undefined when not 0–100. */
export function parsePercent(value: string | number): number | undefined {
  const m = typeof value === "number" ? [String(value), String(value)] : /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(value);
  const v = m ? Number(m[1]) : NaN;
  return Number.isFinite(v) && v >= 0 && v <= 100 ? v / 100 : undefined;
}

/** `20ms`, `0.02s`, `20` or a number (ms) → seconds; undefined when not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value / 1000 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(value);
  if (!m) return undefined;
  return m[2] === "s" ? Number(m[1]) : Number(m[1]) / 1000;
}

/** `p90`, `p99.9`, `0.9` → 0.9; undefined unless strictly between 0 and 1. */
export function parseQuantile(value: string | number): number | undefined {
  const m = typeof value === "number" ? [String(value), undefined, String(value)] : /^\s*(?:p(\d+(?:\.\d+)?)|(0?\.\d+))\s*$/i.exec(value);
  const q = m ? (m[1] !== undefined ? Number(m[1]) / 100 : Number(m[2])) : NaN;
  return q > 0 && q < 1 ? q : undefined;
}

/** A whole number ≥ 0; undefined otherwise. */
export function parseCount(value: string | number): number | undefined {
  const n = typeof value === "number" ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export const ALLOWED = {
  percent: "a percentage from 0 to 100, e.g. 1% or 0.5%",
  duration: "a duration such as 20ms or 0.5s",
  quantile: "p50, p90, p99 (any pN with 0 < N < 100) or a fraction such as 0.9",
  count: "a whole number ≥ 0",
};

const PARSERS: Record<keyof VerdictThresholds, [(v: string | number) => number | undefined, string]> = {
  maxDiff: [parsePercent, ALLOWED.percent],
  minCompared: [parseCount, ALLOWED.count],
  maxShadowErrors: [parsePercent, ALLOWED.percent],
  maxLatencyDelta: [parseDuration, ALLOWED.duration],
  latencyQuantile: [parseQuantile, ALLOWED.quantile],
};

export const PROMOTION_TOOLS = ["argo", "flagger"] as const;
export type PromotionTool = (typeof PROMOTION_TOOLS)[number];
export const DEFAULT_PROMETHEUS_URL = "http://prometheus.monitoring:9090";

export interface VerdictConfig {
  /** The stack's thresholds (`verdict.*`), over the defaults. */
  verdict: VerdictThresholds;
  /** Which promotion tool's templates the stack renders (`promotion`), none when absent. */
  promotion?: PromotionTool;
  /** Prometheus the templates query (`prometheusUrl`). */
  prometheusUrl: string;
}

/**
 * The stack config keys `verdict` (an object: maxDiff, minCompared, maxShadowErrors,
 * maxLatencyDelta, latencyQuantile; JSON text as Pulumi hands top-level objects over),
 * `promotion` and `prometheusUrl`. Problems are `key = value: expected ...`, via `problem`.
 */
export function resolveVerdictConfig(
  raw: { verdict?: unknown; promotion?: unknown; prometheusUrl?: unknown },
  problem: (path: PropertyKey[], value: unknown, allowed: string) => string,
): { config: VerdictConfig; problems: string[] } {
  const problems: string[] = [];
  const verdict = { ...DEFAULT_THRESHOLDS };
  let object = raw.verdict;
  if (typeof object === "string") {
    try {
      object = JSON.parse(object);
    } catch {
      problems.push(problem(["verdict"], raw.verdict, "a JSON object, e.g. {\"maxDiff\": \"1%\"} (pulumi config set --path verdict.maxDiff 1%)"));
      object = undefined;
    }
  }
  if (object !== undefined) {
    if (typeof object !== "object" || object === null || Array.isArray(object)) problems.push(problem(["verdict"], object, `an object with ${Object.keys(PARSERS).join(", ")}`));
    else {
      for (const [key, value] of Object.entries(object)) {
        const parser = PARSERS[key as keyof VerdictThresholds];
        if (!parser) {
          problems.push(`${problem(["verdict", key], value, "").replace(/ = .*$/, "")}: unknown key (allowed: ${Object.keys(PARSERS).join(", ")})`);
          continue;
        }
        const parsed = typeof value === "string" || typeof value === "number" ? parser[0](value) : undefined;
        if (parsed === undefined) problems.push(problem(["verdict", key], value, parser[1]));
        else verdict[key as keyof VerdictThresholds] = parsed;
      }
    }
  }
  let promotion: PromotionTool | undefined;
  if (raw.promotion !== undefined && raw.promotion !== "") {
    if ((PROMOTION_TOOLS as readonly unknown[]).includes(raw.promotion)) promotion = raw.promotion as PromotionTool;
    else problems.push(problem(["promotion"], raw.promotion, `one of ${PROMOTION_TOOLS.join(", ")} (or empty for none)`));
  }
  let prometheusUrl = DEFAULT_PROMETHEUS_URL;
  if (raw.prometheusUrl !== undefined && raw.prometheusUrl !== "") {
    if (typeof raw.prometheusUrl === "string" && /^https?:\/\/[^\s/]+(\/\S*)?$/.test(raw.prometheusUrl)) prometheusUrl = raw.prometheusUrl.replace(/\/+$/, "");
    else problems.push(problem(["prometheusUrl"], raw.prometheusUrl, "an http(s) URL, e.g. http://prometheus.monitoring:9090"));
  }
  return { config: { verdict, ...(promotion ? { promotion } : {}), prometheusUrl }, problems };
}
