// Promotion on the proxy's comparison metrics (issue 11): an Argo Rollouts
// AnalysisTemplate or Flagger MetricTemplates per compared app, whose
// PromQL reads mirror_proxy_compare_* (summed over every proxy replica), and
// the Grafana dashboard of the proxy's mirror, shadow and compare metrics as a
// ConfigMap (Grafana's dashboard sidecar picks up the label grafana_dashboard).
// The decision rule is `npm run verdict`'s: the difference rate's 95 % Wilson
// interval against maxDiff (lower bound above: fail; upper bound at most, with
// minCompared answers: pass; else inconclusive), shadow errors and the
// latency delta at latencyQuantile (the median by default) against their maximum.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { DEFAULT_THRESHOLDS, PROMOTION_TOOLS, quantileName, type PromotionTool, type VerdictThresholds } from "./verdictThresholds";

export { DEFAULT_THRESHOLDS, PROMOTION_TOOLS, type PromotionTool, type VerdictThresholds };

/** Where the Grafana dashboard JSON lives in the repository. */
export const GRAFANA_DASHBOARD_FILE = path.join(__dirname, "..", "dashboards", "mirror-proxy.json");

// z of a two-sided 95 % interval, as compare/stats.ts wilson().
const Z = 1.959963984540054;

/** Sum over every replica and every route of `app` of a counter's increase in `window`. */
function increase(metric: string, app: string, window: string): string {
  return `(sum(increase(${metric}{route=~"${app}/.*"}[${window}])) or vector(0))`;
}

/** PromQL of the Wilson bound (sign -1 lower, +1 upper) of k / n; n clamped to 1 so it is defined with no traffic. */
export function wilsonPromQL(k: string, n: string, sign: 1 | -1): string {
  const nn = `clamp_min(${n}, 1)`;
  const p = `(${k} / ${nn})`;
  const z2 = String(Z * Z);
  return `((${p} + ${z2} / (2 * ${nn})) ${sign > 0 ? "+" : "-"} ${Z} * sqrt(${p} * (1 - ${p}) / ${nn} + ${z2} / (4 * ${nn} * ${nn}))) / (1 + ${z2} / ${nn})`;
}

export interface PromotionQueries {
  compared: string;
  differingLower: string;
  differingUpper: string;
  shadowErrorRatio: string;
  /** The latency delta at the thresholds' quantile. */
  latencyDelta: string;
}

/** The queries of one app over `window` (a PromQL duration, e.g. `10m`, or Flagger's `{{ interval }}`). */
export function promotionQueries(app: string, window: string, latencyQuantile = DEFAULT_THRESHOLDS.latencyQuantile): PromotionQueries {
  const compared = increase("mirror_proxy_compare_compared_total", app, window);
  const differing = increase("mirror_proxy_compare_differing_total", app, window);
  const mirrored = increase("mirror_proxy_compare_mirrored_total", app, window);
  return {
    compared,
    differingLower: wilsonPromQL(differing, compared, -1),
    differingUpper: wilsonPromQL(differing, compared, 1),
    shadowErrorRatio: `${increase("mirror_proxy_compare_shadow_errors_total", app, window)} / clamp_min(${mirrored}, 1)`,
    latencyDelta: `histogram_quantile(${latencyQuantile}, sum by (le) (rate(mirror_proxy_compare_latency_delta_seconds_bucket{route=~"${app}/.*"}[${window}])))`,
  };
}

export interface TemplateInput {
  app: string;
  namespace: string;
  /** Prometheus base URL, e.g. http://prometheus.monitoring:9090 */
  prometheus: string;
  thresholds: VerdictThresholds;
  /** Range of the queries (default 10m). */
  window?: string;
}

const labels = (app: string) => ({ app, "app.kubernetes.io/managed-by": "traffic-mirroring" });

/**
 * Argo Rollouts AnalysisTemplate `<app>-mirror-verdict`. A metric whose conditions both fail
 * is Inconclusive, which pauses the Rollout: that is "not enough data yet".
 */
export function renderAnalysisTemplate(input: TemplateInput): Record<string, any> {
  const { app, thresholds: t } = input;
  const q = promotionQueries(app, input.window ?? "10m", t.latencyQuantile);
  const metric = (name: string, query: string, successCondition: string, failureCondition: string) => ({
    name,
    interval: "1m",
    successCondition,
    failureCondition,
    provider: { prometheus: { address: input.prometheus, query } },
  });
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AnalysisTemplate",
    metadata: { name: `${app}-mirror-verdict`, namespace: input.namespace, labels: labels(app) },
    spec: {
      metrics: [
        // Enough answers compared (never a failure: fewer is "wait").
        metric("compared", q.compared, `result[0] >= ${t.minCompared}`, "false"),
        // Even the lower bound above maxDiff: v2 differs, whatever more traffic says.
        metric("difference-rate-lower-bound", q.differingLower, `result[0] <= ${t.maxDiff}`, `result[0] > ${t.maxDiff}`),
        // The upper bound at most maxDiff: v2 answers like v1 (inconclusive until then).
        metric("difference-rate-upper-bound", q.differingUpper, `result[0] <= ${t.maxDiff}`, "false"),
        metric("shadow-error-ratio", q.shadowErrorRatio, `result[0] <= ${t.maxShadowErrors}`, `result[0] > ${t.maxShadowErrors}`),
        // NaN (no pairs yet) meets neither condition: inconclusive.
        metric(`latency-delta-${quantileName(t.latencyQuantile)}`, q.latencyDelta, `result[0] <= ${t.maxLatencyDelta}`, `result[0] > ${t.maxLatencyDelta}`),
      ],
    },
  };
}

/**
 * Flagger MetricTemplates `<app>-mirror-<metric>`; a Canary's analysis references them with
 * `thresholdRange` (README). Their range is Flagger's `{{ interval }}`.
 */
export function renderFlaggerTemplates(input: TemplateInput): Array<Record<string, any>> {
  const q = promotionQueries(input.app, "{{ interval }}", input.thresholds.latencyQuantile);
  const templates: Array<[string, string]> = [
    ["compared", q.compared],
    ["difference-rate-upper-bound", q.differingUpper],
    ["shadow-error-ratio", q.shadowErrorRatio],
    [`latency-delta-${quantileName(input.thresholds.latencyQuantile)}`, q.latencyDelta],
  ];
  return templates.map(([name, query]) => ({
    apiVersion: "flagger.app/v1beta1",
    kind: "MetricTemplate",
    metadata: { name: `${input.app}-mirror-${name}`, namespace: input.namespace, labels: labels(input.app) },
    spec: { provider: { type: "prometheus", address: input.prometheus }, query },
  }));
}

/** The thresholdRange a Flagger Canary gives each template (printed in the README's example). */
export function flaggerThresholds(t: VerdictThresholds): Record<string, { min?: number; max?: number }> {
  return {
    compared: { min: t.minCompared },
    "difference-rate-upper-bound": { max: t.maxDiff },
    "shadow-error-ratio": { max: t.maxShadowErrors },
    [`latency-delta-${quantileName(t.latencyQuantile)}`]: { max: t.maxLatencyDelta },
  };
}

/** The Grafana dashboard (mirror, shadow and compare metrics), as committed in dashboards/. */
export function grafanaDashboardJson(): string {
  return readFileSync(GRAFANA_DASHBOARD_FILE, "utf8");
}

export interface PromotionArgs {
  /** Which promotion tool's templates to render. */
  tool: PromotionTool;
  /** Namespace of the templates (the Rollout's or Canary's). */
  namespace: pulumi.Input<string>;
  /** The compared apps (each gets its templates). */
  apps: string[];
  /** Prometheus base URL the templates query. */
  prometheus: string;
  thresholds: VerdictThresholds;
}

/** The templates of the chosen tool for every compared app, and the Grafana dashboard ConfigMap. */
export class Promotion extends pulumi.ComponentResource {
  constructor(name: string, args: PromotionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:promotion:Promotion", name, {}, opts);
    const namespace = pulumi.output(args.namespace);
    for (const app of args.apps) {
      const input = (ns: string): TemplateInput => ({ app, namespace: ns, prometheus: args.prometheus, thresholds: args.thresholds });
      const objects = args.tool === "argo" ? [renderAnalysisTemplate(input("_"))] : renderFlaggerTemplates(input("_"));
      for (const object of objects) {
        new k8s.apiextensions.CustomResource(
          object.metadata.name,
          { apiVersion: object.apiVersion, kind: object.kind, metadata: { ...object.metadata, namespace }, spec: object.spec },
          { parent: this },
        );
      }
    }
    new k8s.core.v1.ConfigMap(
      `${name}-grafana-dashboard`,
      {
        metadata: { name: "mirror-proxy-dashboard", namespace, labels: { grafana_dashboard: "1", "app.kubernetes.io/managed-by": "traffic-mirroring" } },
        data: { "mirror-proxy.json": grafanaDashboardJson() },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
