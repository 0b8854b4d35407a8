/** The plain per-request metrics print and aggregate exactly as prom-client's own Counter and Histogram. */
import AggregatorRegistry from "prom-client/lib/cluster.js";
import { PlainCounter, PlainHistogram } from "../../workloads/mirror-proxy/src/plainMetrics.ts";
import { Counter, Histogram, Registry } from "../../workloads/mirror-proxy/src/prom.ts";

const BUCKETS = [0.001, 0.01, 0.1, 1];
const observations = [0, 0.001, 0.0015, 0.01, 0.5, 1, 7, 0.05];

function fill(registers: Registry[], plain: boolean): void {
  const C = plain ? PlainCounter : Counter;
  const H = plain ? PlainHistogram : Histogram;
  const c = new C({ name: "t_requests_total", help: 'Requests, by "route" and class.', labelNames: ["route", "code_class"], registers });
  const h = new H({ name: "t_duration_seconds", help: "Latency.", labelNames: ["upstream"], buckets: BUCKETS, registers });
  const n = new C({ name: "t_plain_total", help: "No labels.", registers });
  const a = c.labels("vs/0", "2xx");
  a.inc();
  a.inc();
  c.labels('we"ird\\route', "5xx").inc(3);
  const u = h.labels("app/v1");
  for (const v of observations) u.observe(v);
  h.labels("app/v2").observe(0.2);
  n.inc();
}

test("the same series give the same exposition text", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  fill([ours], true);
  fill([theirs], false);
  expect(await ours.metrics()).toBe(await theirs.metrics());
  expect(await ours.metrics()).toMatch(/^t_duration_seconds_bucket\{le="0\.01",upstream="app\/v1"\} 4$/m);
});

test("their JSON aggregates across workers like prom-client's (what --workers serves)", async () => {
  const [a, b, c, d] = [new Registry(), new Registry(), new Registry(), new Registry()];
  fill([a], true);
  fill([b], true);
  fill([c], false);
  fill([d], false);
  const ours = AggregatorRegistry.aggregate([await a.getMetricsAsJSON(), await b.getMetricsAsJSON()]);
  const theirs = AggregatorRegistry.aggregate([await c.getMetricsAsJSON(), await d.getMetricsAsJSON()]);
  expect(await ours.metrics()).toBe(await theirs.metrics());
  expect(await ours.metrics()).toMatch(/^t_requests_total\{route="vs\/0",code_class="2xx"\} 4$/m);
});

test("reset clears every series", async () => {
  const r = new Registry();
  fill([r], true);
  r.resetMetrics();
  expect(await r.metrics()).not.toMatch(/^t_requests_total\{/m);
});
