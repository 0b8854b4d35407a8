// The local stack under the dev stack's config, which compares both apps: two
// v1 processes per app (two pods, for noise learning), the proxy's admin
// `/compare` after real traffic: movies' v2 differences reported with both
// values, hostname's pod name learned as noise and not reported.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { demoApp } from "../../components/apps";
import { COMPARE_NOISE } from "../../components/proxyConfig";
import {
  accountedFor,
  appRoutes,
  fetchCompare,
  formatCompareReport,
  learnedNoise,
  noisePairs,
  waitForCompared,
  type CompareReport,
} from "../../local/lib/compareReport.ts";
import { hostnameCookieRequests } from "../../local/lib/demo.ts";
import { markLogs, settledCountsSince } from "../../local/lib/mirrorCounts.ts";
import { isAlive } from "../../local/lib/processes.ts";
import { startLocalStack, type LocalStack } from "../../local/lib/stack.ts";
import { requestFor, sendRequest, sendRequests } from "../../local/lib/traffic.ts";
import { REPO_ROOT } from "./helpers";

const MOVIES_REQUESTS = 20;

describe("local stack, dev config (compare: true): the proxy's /compare", () => {
  const runDir = mkdtempSync(path.join(os.tmpdir(), "mirror-compare-"));
  let stack: LocalStack;

  beforeAll(async () => {
    // The dev stack file as it is, at 100 % so every movies request is compared.
    stack = await startLocalStack({ projectDir: REPO_ROOT, stack: "dev", overrides: { mirrorPercent: "100" }, runDir });
  }, 30_000);

  afterAll(async () => {
    if (!stack) return;
    const pids = stack.processes.map((proc) => proc.pid);
    const results = await stack.stop();
    rmSync(runDir, { recursive: true, force: true });
    expect(results.map((result) => result.name).sort()).toEqual([
      "hostname-v1",
      "hostname-v1-2",
      "hostname-v2",
      "mirror-proxy",
      "movies-v1",
      "movies-v1-2",
      "movies-v2",
    ]);
    expect(results.filter((result) => result.killed || result.exit.code !== 0)).toEqual([]);
    expect(pids.filter(isAlive)).toEqual([]);
  }, 30_000);

  test("two v1 processes per compared app, as two pods, both in the routing's v1 upstream list", () => {
    expect(stack.config.apps).toMatchObject({ hostname: { compare: true }, movies: { compare: true } });
    for (const app of ["hostname", "movies"] as const) {
      expect(stack.services(app, "v1").map((proc) => [proc.name, proc.pod])).toEqual([
        [`${app}-v1`, `${app}-v1-local`],
        [`${app}-v1-2`, `${app}-v1-2-local`],
      ]);
      expect(stack.services(app, "v2")).toHaveLength(1);
    }
    const docs = parseAllDocuments(readFileSync(stack.routingFile, "utf8")).map((doc) => doc.toJS());
    const spec = docs.find((doc) => doc?.kind === "MirrorProxy").spec;
    expect(spec.compare).toMatchObject({ noise: COMPARE_NOISE, ignorePaths: ["$[*].version"] });
    const v1Lists = Object.entries(spec.upstreams).filter(([key]) => key.endsWith("/v1"));
    expect(v1Lists.map(([, urls]) => (urls as string[]).length)).toEqual([2, 2]);
  });

  test("hostname: past the warm-up its pod name is learned as noise (body) and no mismatch is reported", async () => {
    const app = demoApp("hostname");
    const settings = stack.config.apps.hostname;
    const spec = requestFor(stack.url, app, settings, { cookie: `${stack.config.mirrorCookie.name}=${stack.config.mirrorCookie.value}` });
    const requests = hostnameCookieRequests(true);
    expect(requests).toBeGreaterThan(COMPARE_NOISE.minSamples);
    const marks = markLogs(stack, "hostname");
    const bodies = new Set<string>();
    // One at a time, each compared (or skipped) before the next, as the demo does.
    for (let sent = 1; sent <= requests; sent++) {
      const result = await sendRequest(spec, undefined, true);
      expect(result.status).toBe(200);
      bodies.add((result.body ?? "").trim());
      expect((await waitForCompared(stack.adminUrl, { hostname: sent })).settled).toBe(true);
    }
    // Round-robin over the two v1 pods: both answered.
    expect([...bodies].sort()).toEqual(["hostname-v1-2-local v1", "hostname-v1-local v1"]);

    const counts = await settledCountsSince(stack, "hostname", marks, requests);
    const report = (await fetchCompare(stack.adminUrl)) as CompareReport;
    // Client requests and v2 copies counted exactly; the noise copies v1 got are the pairs the proxy learned from.
    expect(counts).toEqual({ v1: requests, v2: requests, v1Noise: noisePairs(report, "hostname"), settled: true });
    expect(counts.v1Noise).toBeGreaterThanOrEqual(COMPARE_NOISE.minSamples);

    expect(learnedNoise(report, "hostname")).toEqual(["body"]);
    const routes = appRoutes(report, "hostname");
    expect(routes).toHaveLength(1);
    const [, route] = routes[0];
    expect(route.compared + route.skipped.noise_warmup).toBe(requests);
    expect(route.skipped.noise_warmup).toBeLessThan(COMPARE_NOISE.minSamples);
    expect(route.compared).toBeGreaterThanOrEqual(requests - COMPARE_NOISE.minSamples);
    expect({ mismatch: route.mismatch, topDifferences: route.topDifferences }).toEqual({ mismatch: 0, topDifferences: [] });
    expect(report.lastMismatches.filter((record) => record.route.startsWith("hostname/"))).toEqual([]);
  });

  test("movies: v2's $[*].rating and $[*].year reported with both values; $[*].version ignored; no noise", async () => {
    const app = demoApp("movies");
    const marks = markLogs(stack, "movies");
    const results = await sendRequests(requestFor(stack.url, app, stack.config.apps.movies), MOVIES_REQUESTS, 2);
    expect(results.filter((result) => result.status !== 200)).toEqual([]);
    const counts = await settledCountsSince(stack, "movies", marks, MOVIES_REQUESTS);
    expect({ v1: counts.v1, v2: counts.v2, settled: counts.settled }).toEqual({ v1: MOVIES_REQUESTS, v2: MOVIES_REQUESTS, settled: true });
    const { report, settled } = await waitForCompared(stack.adminUrl, { movies: MOVIES_REQUESTS });
    expect(settled).toBe(true);
    if (!report) throw new Error("no /compare report");
    expect(accountedFor(report, "movies")).toBe(MOVIES_REQUESTS);
    expect(counts.v1Noise).toBeGreaterThanOrEqual(noisePairs(report, "movies"));
    expect(noisePairs(report, "movies")).toBeGreaterThanOrEqual(COMPARE_NOISE.minSamples);

    const [[routeName, route]] = appRoutes(report, "movies");
    expect(route.compared).toBeGreaterThan(0);
    expect(route.mismatch).toBe(route.compared);
    expect(route.topDifferences.map((entry) => [entry.path, entry.count]).sort()).toEqual([
      ["$[*].rating", route.compared],
      ["$[*].year", route.compared],
    ]);
    expect(learnedNoise(report, "movies")).toEqual([]);

    const mismatch = report.lastMismatches.find((record) => record.route === routeName);
    expect(mismatch).toMatchObject({ request: "GET /" });
    expect(mismatch?.differences).toEqual(
      expect.arrayContaining([
        { path: "$[3].year", kind: "changed", primary: 1999, shadow: 2000 },
        { path: "$[0].rating", kind: "added", shadow: 8.3 },
        { path: "$[3].rating", kind: "added", shadow: 8.7 },
      ]),
    );
    expect(mismatch?.differences.filter((difference) => difference.path.endsWith(".version"))).toEqual([]);

    // The demo's closing block, from this report.
    const text = formatCompareReport(report, {
      compared: ["hostname", "movies"],
      v1Pods: (name) => stack.services(name, "v1").map((proc) => proc.pod ?? proc.name),
      adminUrl: stack.adminUrl,
      settled: true,
    }).join("\n");
    expect(text).toMatch(/^comparison of v2 with v1: \d+ compared, \d+ differ \([\d.]+ %\), top differences: \$\[\*\]\.(rating|year) \(\d+\), \$\[\*\]\.(rating|year) \(\d+\); skipped: noise_warmup \d+; noise learned: hostname: body$/m);
    expect(text).toContain("  $[3].year: 1999 → 2000");
    expect(text).toContain("  $[0].rating: (absent in v1) → 8.3");
  });
});
