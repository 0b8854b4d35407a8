/**
 * Prometheus metrics of one proxy instance, in its own registry (so several instances can
 * live in one process, as in the tests). Label children are cached: the hot path does a
 * Map lookup instead of prom-client's label hashing.
 */
import { LATENCY_DELTA_BUCKETS } from "./compare/compareStats.ts";
import { SKIP_REASONS, type SkipReason } from "./compare/report.ts";
import { PlainCounter, PlainHistogram } from "./plainMetrics.ts";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "./prom.ts";

export type DropReason = "in_flight_limit" | "body_too_large" | "shadow_down" | "timeout" | "upgrade" | "answer_too_large";
export type FailReason = "connect" | "reset" | "error";
export type UpstreamErrorReason = "connect" | "timeout" | "reset";

// Indexed by classIndex(status), 1..5; entry 0 repeats 1xx so the index needs no offset.
const CLASSES = ["1xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Index into CLASSES of a status code's class (clamped to 1xx..5xx). */
function classIndex(status: number): number {
  return Math.min(5, Math.max(1, Math.floor(status / 100)));
}

/**
 * The child of `counter` for (upstream, reason): per upstream one child per reason, made on
 * the reason's first use, so an event on the hot path (a copy dropped while a shadow is down
 * or saturated) builds no key string.
 */
function perReason<R extends string>(counter: { labels(...values: string[]): CounterChild }): (upstream: string, reason: R) => CounterChild {
  const byUpstream = cached((): Partial<Record<R, CounterChild>> => ({}));
  return (u, reason) => {
    const byReason = byUpstream(u);
    return (byReason[reason] ??= counter.labels(u, reason));
  };
}

function cached<T>(make: (key: string) => T): (key: string) => T {
  const m = new Map<string, T>();
  return (key) => {
    let v = m.get(key);
    if (v === undefined) {
      v = make(key);
      m.set(key, v);
    }
    return v;
  };
}

/** Increments one series; a child bound to its labels once (no label hashing per event). */
export interface CounterChild {
  inc(value?: number): void;
}

/**
 * The comparison series of one route (the compare label, see compare/runtime.ts), bound
 * once per label for the life of the process: the hot path increments children directly.
 */
export interface CompareRouteMetrics {
  /** Copies sampled for comparison; each ends compared or skipped. */
  mirrored: CounterChild;
  compared: CounterChild;
  /** Compared answers that differ, net of ignorePaths and learned noise. */
  differing: CounterChild;
  skipped: Record<SkipReason, CounterChild>;
  /** Copies whose shadow gave no complete answer (connect error, reset, timeout, down) or answered 5xx. */
  shadowErrors: CounterChild;
  /** Shadow minus primary, both until the answer was complete (seconds; negative = v2 faster). */
  latencyDelta: { observe(seconds: number): void };
}

export interface ProxyMetrics {
  registry: Registry;
  request(route: string, status: number): void;
  upstreamLatency(upstream: string, seconds: number): void;
  upstreamError(upstream: string, reason: UpstreamErrorReason): void;
  clientAbort(): void;
  copySent(upstream: string): void;
  copyDropped(upstream: string, reason: DropReason): void;
  copyFailed(upstream: string, reason: FailReason): void;
  shadowResponse(upstream: string, status: number, seconds: number): void;
  reload(ok: boolean): void;
  /** The comparison series of a route, created (every one at 0) on the first call for that label. */
  compareRoute(route: string): CompareRouteMetrics;
  /** Traffic policy and route actions (DestinationRule / VirtualService features, see policyMetrics). */
  policy: PolicyMetrics;
}

/** Counters of the Istio features the proxy implements: each counted where it acts. */
export interface PolicyMetrics {
  /** connectionPool: a request answered 503 because the pool and its pending queue were full. */
  overflow(upstream: string): void;
  /** outlierDetection: a member ejected / brought back. */
  ejected(upstream: string): void;
  restored(upstream: string): void;
  /** retries: one more attempt sent. */
  retry(upstream: string): void;
  /** fault: a request delayed or aborted. */
  fault(route: string, kind: "delay" | "abort"): void;
}

function createPolicyMetrics(registry: Registry): PolicyMetrics {
  const overflow = new Counter({ name: "mirror_proxy_upstream_overflow_total", help: "Requests answered 503 because the DestinationRule connectionPool (connections and pending requests) was full.", labelNames: ["upstream"], registers: [registry] });
  const ejections = new Counter({ name: "mirror_proxy_outlier_ejections_total", help: "Upstream members ejected by DestinationRule outlierDetection.", labelNames: ["upstream"], registers: [registry] });
  const restored = new Counter({ name: "mirror_proxy_outlier_restored_total", help: "Ejected upstream members brought back after their ejection time.", labelNames: ["upstream"], registers: [registry] });
  const retries = new Counter({ name: "mirror_proxy_retries_total", help: "Retry attempts sent to primaries (VirtualService retries).", labelNames: ["upstream"], registers: [registry] });
  const faults = new Counter({ name: "mirror_proxy_faults_total", help: "Requests delayed or aborted by VirtualService fault injection.", labelNames: ["route", "kind"], registers: [registry] });
  return {
    overflow: (u) => overflow.labels(u).inc(),
    ejected: (u) => ejections.labels(u).inc(),
    restored: (u) => restored.labels(u).inc(),
    retry: (u) => retries.labels(u).inc(),
    fault: (route, kind) => faults.labels(route, kind).inc(),
  };
}

export function createMetrics(gauges: { primaryInFlight: () => number; shadowInFlight: () => number; compareInFlight: () => number }): ProxyMetrics {
  const registry = new Registry();
  collectDefaultMetrics(registry);

  // Per-request series: plain counters (plainMetrics.ts), turned into Prometheus text at scrape time.
  const requests = new PlainCounter({ name: "mirror_proxy_requests_total", help: "Requests answered on the traffic port, by route (`<VirtualService>/<route name or index>`, `none` when no route matched) and status class.", labelNames: ["route", "code_class"], registers: [registry] });
  const upstreamDuration = new PlainHistogram({ name: "mirror_proxy_upstream_duration_seconds", help: "Primary upstream latency until response headers.", labelNames: ["upstream"], buckets: LATENCY_BUCKETS, registers: [registry] });
  const upstreamErrors = new Counter({ name: "mirror_proxy_upstream_errors_total", help: "Primary upstream failures answered with 503/504 (or a reset when headers were already sent).", labelNames: ["upstream", "reason"], registers: [registry] });
  const clientAborts = new Counter({ name: "mirror_proxy_client_aborts_total", help: "Client connections closed before the response finished.", registers: [registry] });
  const sent = new PlainCounter({ name: "mirror_proxy_mirror_copies_sent_total", help: "Mirror copies sent to a shadow upstream.", labelNames: ["upstream"], registers: [registry] });
  const dropped = new PlainCounter({ name: "mirror_proxy_mirror_copies_dropped_total", help: "Mirror copies not sent or abandoned, by reason (in_flight_limit, body_too_large, shadow_down, timeout, upgrade, answer_too_large).", labelNames: ["upstream", "reason"], registers: [registry] });
  const failed = new PlainCounter({ name: "mirror_proxy_mirror_copies_failed_total", help: "Mirror copies that failed with a connection error.", labelNames: ["upstream", "reason"], registers: [registry] });
  const shadowResponses = new PlainCounter({ name: "mirror_proxy_shadow_responses_total", help: "Shadow responses (drained and discarded), by status class.", labelNames: ["upstream", "code_class"], registers: [registry] });
  const shadowDuration = new PlainHistogram({ name: "mirror_proxy_shadow_duration_seconds", help: "Shadow latency until the response was fully drained.", labelNames: ["upstream"], buckets: LATENCY_BUCKETS, registers: [registry] });
  const reloads = new Counter({ name: "mirror_proxy_config_reloads_total", help: "Config reloads, by result (success, failure).", labelNames: ["result"], registers: [registry] });
  const cmpMirrored = new PlainCounter({ name: "mirror_proxy_compare_mirrored_total", help: "Mirror copies sampled for comparison on a compared route; each ends compared or skipped (coverage = compared / mirrored).", labelNames: ["route"], registers: [registry] });
  const cmpCompared = new PlainCounter({ name: "mirror_proxy_compare_compared_total", help: "Shadow answers compared with the primary's.", labelNames: ["route"], registers: [registry] });
  const cmpDiffering = new PlainCounter({ name: "mirror_proxy_compare_differing_total", help: "Compared shadow answers that differ from the primary's, net of ignored paths and learned noise.", labelNames: ["route"], registers: [registry] });
  const cmpSkipped = new PlainCounter({ name: "mirror_proxy_compare_skipped_total", help: `Copies sampled for comparison but not compared, by reason (${SKIP_REASONS.join(", ")}).`, labelNames: ["route", "reason"], registers: [registry] });
  const cmpShadowErrors = new PlainCounter({ name: "mirror_proxy_compare_shadow_errors_total", help: "Copies sampled for comparison whose shadow gave no complete answer (connect error, reset, timeout, down) or answered 5xx.", labelNames: ["route"], registers: [registry] });
  const compareDelta = new Histogram({ name: "mirror_proxy_compare_latency_delta_seconds", help: "Shadow minus primary latency to the same request, each until its answer was complete (negative: the shadow was faster).", labelNames: ["route"], buckets: [...LATENCY_DELTA_BUCKETS], registers: [registry] });
  new Gauge({ name: "mirror_proxy_compare_in_flight", help: "Comparisons holding answers (bounded by compare.maxInFlight).", registers: [registry], collect() { this.set(gauges.compareInFlight()); } });
  new Gauge({ name: "mirror_proxy_requests_in_flight", help: "Primary requests in flight.", registers: [registry], collect() { this.set(gauges.primaryInFlight()); } });
  new Gauge({ name: "mirror_proxy_shadow_in_flight", help: "Mirror copies in flight (bounded by maxShadowInFlight).", registers: [registry], collect() { this.set(gauges.shadowInFlight()); } });

  const byRoute = cached((route) => CLASSES.map((c) => requests.labels(route, c)));
  const latency = cached((u) => upstreamDuration.labels(u));
  const upErr = perReason<UpstreamErrorReason>(upstreamErrors);
  const sentC = cached((u) => sent.labels(u));
  const dropC = perReason<DropReason>(dropped);
  const failC = perReason<FailReason>(failed);
  const shadowC = cached((u) => CLASSES.map((c) => shadowResponses.labels(u, c)));
  const shadowL = cached((u) => shadowDuration.labels(u));
  // Every series of a route is created at 0 (inc(0), zero()), so rates and ratios exist before the first event.
  const zeroed = (c: CounterChild) => (c.inc(0), c);
  const compareRoute = cached((route): CompareRouteMetrics => {
    compareDelta.zero({ route });
    return {
      mirrored: zeroed(cmpMirrored.labels(route)),
      compared: zeroed(cmpCompared.labels(route)),
      differing: zeroed(cmpDiffering.labels(route)),
      skipped: Object.fromEntries(SKIP_REASONS.map((reason) => [reason, zeroed(cmpSkipped.labels(route, reason))])) as Record<SkipReason, CounterChild>,
      shadowErrors: zeroed(cmpShadowErrors.labels(route)),
      latencyDelta: compareDelta.labels(route),
    };
  });


  return {
    registry,
    request: (route, status) => byRoute(route)[classIndex(status)].inc(),
    upstreamLatency: (u, s) => latency(u).observe(s),
    upstreamError: (u, reason) => upErr(u, reason).inc(),
    clientAbort: () => clientAborts.inc(),
    copySent: (u) => sentC(u).inc(),
    copyDropped: (u, reason) => dropC(u, reason).inc(),
    copyFailed: (u, reason) => failC(u, reason).inc(),
    shadowResponse: (u, status, s) => {
      shadowC(u)[classIndex(status)].inc();
      shadowL(u).observe(s);
    },
    reload: (ok) => reloads.labels(ok ? "success" : "failure").inc(),
    compareRoute,
    policy: createPolicyMetrics(registry),
  };
}
