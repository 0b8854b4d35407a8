// Promotion templates (Argo Rollouts AnalysisTemplate, Flagger MetricTemplate)
// and the Grafana dashboard: the Argo template validated against the real
// Argo Rollouts schema, the PromQL Wilson bound equal to the verdict's, and
// every metric a template or the dashboard queries exported by a real proxy's
// /metrics (scraped over HTTP).
import { readFileSync } from "node:fs";
import http from "node:http";
import { AnalysisTemplate as AnalysisTemplateModel } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate";
import { DEFAULT_THRESHOLDS, GRAFANA_DASHBOARD_FILE, promotionQueries, renderAnalysisTemplate, renderFlaggerTemplates, wilsonPromQL } from "../../components/promotion";
import { wilson } from "../../workloads/mirror-proxy/src/compare/stats";
import { parseStackConfig } from "../../components/config";
import { named, runProgram, T, useMockedMachine } from "../support/pulumiProgram";
import { configText, DR, request, startProxy, startUpstream } from "../proxy/helpers";

// (typed loosely, as in test/support/schemas.ts: node10 resolution cannot see the models' ESM-only base types)
const AnalysisTemplate = AnalysisTemplateModel as unknown as new (data: unknown) => { validate(): void };
const input = { app: "movies", namespace: "mirror-demo", prometheus: "http://prometheus.monitoring:9090", thresholds: DEFAULT_THRESHOLDS };

test("the AnalysisTemplate is valid for Argo Rollouts' own schema, one metric per verdict criterion", () => {
  const template = renderAnalysisTemplate(input);
  expect(() => new AnalysisTemplate(template).validate()).not.toThrow();
  expect(template.spec.metrics.map((m: { name: string }) => m.name)).toEqual(["compared", "difference-rate-lower-bound", "difference-rate-upper-bound", "shadow-error-ratio", "latency-delta-p50"]);
  expect(template.spec.metrics[0]).toMatchObject({ successCondition: "result[0] >= 200", failureCondition: "false" });
  expect(template.spec.metrics[1]).toMatchObject({ successCondition: "result[0] <= 0.01", failureCondition: "result[0] > 0.01" });
  // The schema catches a broken one (so the check above can fail).
  const broken = { ...template, spec: { metrics: [{ name: "x", provider: { prometheus: { address: 5 } } }] } };
  expect(() => new AnalysisTemplate(broken).validate()).toThrow();
});

test("Flagger MetricTemplates: prometheus provider, Flagger's {{ interval }} as the range", () => {
  const templates = renderFlaggerTemplates(input);
  expect(templates.map((t) => t.metadata.name)).toEqual(["movies-mirror-compared", "movies-mirror-difference-rate-upper-bound", "movies-mirror-shadow-error-ratio", "movies-mirror-latency-delta-p50"]);
  for (const t of templates) {
    expect(t).toMatchObject({ apiVersion: "flagger.app/v1beta1", kind: "MetricTemplate", spec: { provider: { type: "prometheus", address: input.prometheus } } });
    expect(t.spec.query).toContain("[{{ interval }}]");
  }
});

test("the PromQL Wilson bounds compute what the verdict computes", () => {
  const evaluate = (k: number, n: number, sign: 1 | -1) =>
    new Function("clamp_min", "sqrt", `return ${wilsonPromQL("K", "N", sign).replace(/\bK\b/g, String(k)).replace(/\bN\b/g, String(n))};`)(Math.max, Math.sqrt) as number;
  for (const [k, n] of [[0, 400], [3, 200], [46, 46], [81, 263]]) {
    const [lo, hi] = wilson(k, n);
    expect(evaluate(k, n, -1)).toBeCloseTo(lo, 9);
    expect(evaluate(k, n, 1)).toBeCloseTo(hi, 9);
  }
});

/** Every mirror_proxy_* series name a PromQL expression reads. */
function metricNames(exprs: string[]): string[] {
  return [...new Set(exprs.flatMap((e) => e.match(/\bmirror_proxy_[a-z_]+/g) ?? []))].sort();
}

test("every metric a template or the Grafana dashboard queries is one a real proxy exports", async () => {
  const dashboard = JSON.parse(readFileSync(GRAFANA_DASHBOARD_FILE, "utf8")) as { panels: Array<{ targets?: Array<{ expr: string }> }>; templating: { list: Array<{ query?: string }> } };
  const exprs = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => v.query ?? ""),
    ...Object.values(promotionQueries("movies", "10m")),
    ...renderAnalysisTemplate(input).spec.metrics.map((m: { provider: { prometheus: { query: string } } }) => m.provider.prometheus.query),
    ...renderFlaggerTemplates(input).map((t) => t.spec.query as string),
  ];
  const wanted = metricNames(exprs);
  expect(wanted).toEqual(expect.arrayContaining(["mirror_proxy_compare_compared_total", "mirror_proxy_compare_latency_delta_seconds_bucket", "mirror_proxy_shadow_duration_seconds_bucket", "mirror_proxy_mirror_copies_sent_total"]));

  const v1 = await startUpstream("v1");
  const v2 = await startUpstream("v2");
  const proxy = await startProxy(
    configText({
      vs: `  hosts: ["*"]\n  http:\n    - name: all\n      route: [{ destination: { host: app, subset: v1 } }]\n      mirror: { host: app, subset: v2 }\n`,
      drs: DR("app", "app"),
      upstreams: { "app/v1": v1.url, "app/v2": v2.url },
      proxy: "  compare: { routes: [\"*\"] }\n",
    }),
  );
  try {
    await request(proxy.port, { headers: { host: "h" } });
    // Scraped over HTTP, as Prometheus does.
    const text = await new Promise<string>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port: proxy.adminPort, path: "/metrics" }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        res.on("end", () => resolve(body));
      }).on("error", reject);
    });
    // A family is exported once declared (# TYPE), even before its first sample; a histogram's series are _bucket, _sum, _count.
    const exported = new Set<string>();
    for (const [, name, type] of text.matchAll(/^# TYPE ([a-z_]+) ([a-z]+)$/gm)) {
      exported.add(name);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(name + suffix);
    }
    expect(wanted.filter((name) => !exported.has(name))).toEqual([]);
  } finally {
    await proxy.close();
    await Promise.all([v1.close(), v2.close()]);
  }
});

describe("stack config: verdict thresholds, promotion, prometheusUrl", () => {
  test("verdict.* in the verdict's own syntax, over the defaults; promotion and prometheusUrl", () => {
    const config = parseStackConfig({ verdict: JSON.stringify({ maxDiff: "2%", minCompared: 50, maxLatencyDelta: "0.1s", latencyQuantile: "p90" }), promotion: "argo", prometheusUrl: "http://prom:9090/" });
    expect(config.verdict).toEqual({ maxDiff: 0.02, minCompared: 50, maxShadowErrors: 0.005, maxLatencyDelta: 0.1, latencyQuantile: 0.9 });
    expect(config.promotion).toBe("argo");
    expect(config.prometheusUrl).toBe("http://prom:9090");
    expect(parseStackConfig({})).toMatchObject({ verdict: DEFAULT_THRESHOLDS, prometheusUrl: "http://prometheus.monitoring:9090" });
    expect(parseStackConfig({}).promotion).toBeUndefined();
  });

  test("bad values name the key, the value and what is allowed", () => {
    expect(() => parseStackConfig({ verdict: JSON.stringify({ maxDiff: "lots", speed: 1 }), promotion: "spinnaker", prometheusUrl: "prom" })).toThrow(
      [
        "invalid stack config:",
        '  - traffic-mirroring:verdict.maxDiff = "lots": expected a percentage from 0 to 100, e.g. 1% or 0.5%',
        "  - traffic-mirroring:verdict.speed: unknown key (allowed: maxDiff, minCompared, maxShadowErrors, maxLatencyDelta, latencyQuantile)",
        '  - traffic-mirroring:promotion = "spinnaker": expected one of argo, flagger (or empty for none)',
        '  - traffic-mirroring:prometheusUrl = "prom": expected an http(s) URL, e.g. http://prometheus.monitoring:9090',
      ].join("\n"),
    );
  });
});

describe("the stack renders the templates on request (promotion: argo | flagger)", () => {
  beforeAll(useMockedMachine);
  const ARGO = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate";
  const FLAGGER = "kubernetes:flagger.app/v1beta1:MetricTemplate";

  test("argo: an AnalysisTemplate per compared app (valid for Argo's schema) with the stack's thresholds, and the Grafana dashboard ConfigMap", async () => {
    const run = await runProgram({ nodeIp: "192.168.49.2", mesh: "proxy", compare: "true", promotion: "argo", verdict: JSON.stringify({ maxDiff: "2%" }) });
    const templates = run.resources.filter((r) => r.type === ARGO);
    expect(templates.map((t) => t.inputs.metadata.name).sort()).toEqual(["hostname-mirror-verdict", "movies-mirror-verdict"]);
    for (const t of templates) {
      expect(() => new AnalysisTemplate({ apiVersion: t.inputs.apiVersion, kind: t.inputs.kind, metadata: t.inputs.metadata, spec: t.inputs.spec }).validate()).not.toThrow();
      expect(t.inputs.metadata.namespace).toBe("mirror-demo");
      expect(t.inputs.spec.metrics[1].failureCondition).toBe("result[0] > 0.02");
    }
    const dashboard = named(run, T.configMap, "mirror-proxy-dashboard").inputs;
    expect(dashboard.metadata.labels.grafana_dashboard).toBe("1");
    expect(dashboard.data["mirror-proxy.json"]).toBe(readFileSync(GRAFANA_DASHBOARD_FILE, "utf8"));
    expect(run.resources.filter((r) => r.type === FLAGGER)).toEqual([]);
  });

  test("flagger: MetricTemplates; none at all without promotion, or with mesh istio (no compare metrics there)", async () => {
    const flagger = await runProgram({ nodeIp: "192.168.49.2", mesh: "proxy", compare: "true", promotion: "flagger" });
    expect(flagger.resources.filter((r) => r.type === FLAGGER)).toHaveLength(8);
    const none = await runProgram({ nodeIp: "192.168.49.2", mesh: "proxy", compare: "true" });
    expect(none.resources.filter((r) => r.type === ARGO || r.type === FLAGGER)).toEqual([]);
    const istio = await runProgram({ nodeIp: "192.168.49.2", mesh: "istio", compare: "true", promotion: "argo" });
    expect(istio.resources.filter((r) => r.type === ARGO)).toEqual([]);
  });
});
