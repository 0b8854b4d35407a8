// The pure pieces of the local stack and the operator tools: flags, log
// lines, counting, percentiles, the statistical bound, progress, URL choice.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { collectSetting, parseDemoArgs, parseLogsArgs, parseTrafficArgs, UsageError } from "../../local/lib/cli.ts";
import { metricSum, waitForSettledCounts, type VersionCounts } from "../../local/lib/mirrorCounts.ts";
import { isMilestone, progressReporter, renderProgressBar } from "../../local/lib/progress.ts";
import { byLogTime, completeLines, labelLine, readLinesFrom, requestsIn } from "../../local/lib/requestLog.ts";
import { binomialAcceptance, binomialPmf, formatShare, percentile } from "../../local/lib/stats.ts";
import { formatSummary, resolveTargetUrl, summarize } from "../../local/lib/traffic.ts";
import { parseRequestLogLine } from "../../workloads/shared/log.ts";
import { originalHost } from "../../workloads/shared/mirror.ts";

const V1 = "2026-11-23T13:00:00.000Z method=GET path=/version/ host=hostname.example.com version=v1 mirrored=false status=200";
const V2 = "2026-11-23T13:00:00.004Z method=GET path=/version/ host=hostname.example.com-shadow version=v2 mirrored=true status=200";
const LISTENING = "2026-11-23T12:59:59.000Z event=listening app=hostname version=v1 pod=p url=http://127.0.0.1:1";

describe("flags", () => {
  test("demo: defaults, repeated --set (plain or namespaced keys), --once", () => {
    expect(parseDemoArgs([])).toEqual({ stack: "dev", set: {}, once: false, port: 0, requests: 50 });
    expect(parseDemoArgs(["--set", "mirrorPercent=50", "--set", "traffic-mirroring:namespace=x", "--once", "--stack", "ci"])).toEqual({
      stack: "ci",
      set: { mirrorPercent: "50", namespace: "x" },
      once: true,
      port: 0,
      requests: 50,
    });
  });

  test("bad flags are UsageErrors naming the flag and the value", () => {
    expect(() => parseDemoArgs(["--set", "mirrorPercent"])).toThrow(/key=value.*"mirrorPercent"/);
    expect(() => parseDemoArgs(["--port", "70000"])).toThrow(/--port must be at most 65535/);
    expect(() => parseDemoArgs(["--requests", "-3"])).toThrow(UsageError);
    expect(() => parseDemoArgs(["--bogus"])).toThrow(/unknown option '--bogus'/);
    expect(() => parseTrafficArgs(["--app", "nope"])).toThrow(/unknown app "nope"; the apps are hostname, movies/);
    expect(() => parseTrafficArgs([])).toThrow(/--app/);
    expect(() => parseTrafficArgs(["--app", "movies", "--url", "ftp://x"])).toThrow(/http\(s\) URL/);
    expect(() => parseTrafficArgs(["--app", "movies", "--cookie", "user"])).toThrow(/name=value/);
    expect(() => parseLogsArgs(["films"])).toThrow(/unknown app "films"/);
    expect(() => parseLogsArgs(["--kubernetes", "--local"])).toThrow(UsageError);
  });

  test("--help is a UsageError with exit code 0 and writes the help", () => {
    let help = "";
    let caught: unknown;
    try {
      parseTrafficArgs(["--help"], (text) => (help += text));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(0);
    expect(help).toContain("--concurrency");
  });

  test("traffic and logs", () => {
    expect(parseTrafficArgs(["--app", "movies", "--count", "7", "--cookie", "user=test", "--url", "http://127.0.0.1:8080/"])).toEqual({
      app: "movies",
      count: 7,
      cookie: "user=test",
      url: "http://127.0.0.1:8080",
      concurrency: 4,
      timeout: 5000,
      stack: "dev",
    });
    expect(parseLogsArgs([])).toEqual({ apps: ["hostname", "movies"], tail: 3, follow: false, kubernetes: false, local: false, stack: "dev" });
    expect(parseLogsArgs(["movies", "--tail", "10", "-f", "--kubernetes"])).toMatchObject({ apps: ["movies"], tail: 10, follow: true, kubernetes: true });
  });

  test("collectSetting keeps earlier settings", () => {
    expect(collectSetting("b=2", { a: "1" })).toEqual({ a: "1", b: "2" });
    expect(collectSetting("mirrorCookie=user=test", {})).toEqual({ mirrorCookie: "user=test" });
  });
});

describe("request log lines", () => {
  test("parses request lines, skips lifecycle and foreign lines", () => {
    expect(parseRequestLogLine(V2)).toEqual({
      time: "2026-11-23T13:00:00.004Z",
      method: "GET",
      path: "/version/",
      host: "hostname.example.com-shadow",
      version: "v2",
      mirrored: true,
      status: 200,
    });
    expect(parseRequestLogLine(LISTENING)).toBeUndefined();
    expect(parseRequestLogLine("mirror-proxy listening on http://127.0.0.1:1")).toBeUndefined();
    expect(parseRequestLogLine('2026-11-23T13:00:00.000Z method=GET path="/a b" host="" version=v1 mirrored=false status=404')).toMatchObject({
      path: "/a b",
      host: "",
      status: 404,
    });
  });

  test("filters by original Host (shadow suffix and port ignored), mirrored, time", () => {
    expect(originalHost("127.0.0.1-shadow:8080")).toBe("127.0.0.1");
    expect(originalHost("movies:3000-shadow")).toBe("movies");
    expect(originalHost("Hostname.Example.com-shadow")).toBe("hostname.example.com");
    const lines = [LISTENING, V1, V2];
    expect(requestsIn(lines)).toHaveLength(2);
    expect(requestsIn(lines, { host: "hostname.example.com", mirrored: true })).toHaveLength(1);
    expect(requestsIn(lines, { since: "2026-11-23T13:00:00.001Z" })).toHaveLength(1);
    expect(requestsIn(lines, { path: "/" })).toHaveLength(0);
  });

  test("labels, time order, partial lines", () => {
    expect(labelLine("hostname v1", "x")).toBe("hostname v1 | x");
    expect(byLogTime([V2, V1, LISTENING])).toEqual([LISTENING, V1, V2]);
    expect(completeLines("a\nb\nhalf")).toEqual(["a", "b"]);
    expect(completeLines("half")).toEqual([]);
  });

  test("readLinesFrom returns complete lines and the offset after them", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "mirror-tools-"));
    const file = path.join(dir, "x.log");
    try {
      expect(readLinesFrom(file)).toEqual({ lines: [], next: 0 });
      writeFileSync(file, "ünï\nsecond\npart");
      const first = readLinesFrom(file);
      expect(first.lines).toEqual(["ünï", "second"]);
      writeFileSync(file, "ünï\nsecond\npartial\nnext\n");
      expect(readLinesFrom(file, first.next).lines).toEqual(["partial", "next"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("numbers", () => {
  test("nearest-rank percentiles", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 90)).toBe(90);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  test("binomial acceptance: exact at 0 and 100 %, tails below the failure probability", () => {
    expect(binomialAcceptance(200, 100, 1e-6)).toEqual({ low: 200, high: 200 });
    expect(binomialAcceptance(200, 0, 1e-6)).toEqual({ low: 0, high: 0 });
    for (const [n, percent] of [[200, 50], [200, 10], [1000, 50], [50, 1]]) {
      const { low, high } = binomialAcceptance(n, percent, 1e-6);
      const pmf = binomialPmf(n, percent / 100);
      const outside = pmf.reduce((sum, p, k) => (k < low || k > high ? sum + p : sum), 0);
      expect(outside).toBeLessThan(1e-6);
      // Tight: widening was needed, one step narrower on either side would exceed half the budget.
      expect(pmf.slice(0, low + 1).reduce((a, b) => a + b, 0)).toBeGreaterThan(0.5e-6);
    }
    expect(binomialAcceptance(200, 50, 1e-6)).toEqual({ low: 66, high: 134 });
    expect(binomialPmf(10, 0.3).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  test("shares", () => {
    expect(formatShare(49, 50)).toBe("98 %");
    expect(formatShare(1, 3)).toBe("33.3 %");
    expect(formatShare(0, 0)).toBe("—");
  });

  test("/metrics: a metric's series are summed", () => {
    const text = [
      "# HELP mirror_proxy_shadow_in_flight x",
      "mirror_proxy_shadow_in_flight 2",
      'mirror_proxy_mirror_copies_sent_total{upstream="a"} 3',
      'mirror_proxy_mirror_copies_sent_total{upstream="b"} 4',
    ].join("\n");
    expect(metricSum(text, "mirror_proxy_shadow_in_flight")).toBe(2);
    expect(metricSum(text, "mirror_proxy_mirror_copies_sent_total")).toBe(7);
    expect(metricSum(text, "absent")).toBeUndefined();
  });
});

describe("progress", () => {
  test("bar and milestones", () => {
    expect(renderProgressBar(0, 50, 10)).toBe("[··········]  0/50");
    expect(renderProgressBar(25, 50, 10)).toBe("[#####·····] 25/50");
    expect(renderProgressBar(50, 50, 10)).toBe("[##########] 50/50");
    expect([1, 5, 10, 49, 50].map((done) => isMilestone(done, 50))).toEqual([false, true, true, false, true]);
  });

  test("a terminal gets one redrawn line; a pipe gets periodic lines", () => {
    const tty: string[] = [];
    const bar = progressReporter("movies", 4, { isTTY: true, write: (text) => tty.push(text) });
    for (let done = 1; done <= 4; done++) bar.tick(done);
    bar.finish();
    expect(tty.every((text) => text.startsWith("\r") || text === "\n")).toBe(true);
    expect(tty.at(-2)).toContain("4/4");
    const pipe: string[] = [];
    const lines = progressReporter("movies", 50, { isTTY: false, write: (text) => pipe.push(text) });
    for (let done = 1; done <= 50; done++) lines.tick(done);
    lines.finish();
    expect(pipe).toHaveLength(10);
    expect(pipe.at(-1)).toBe("movies 50/50\n");
  });
});

describe("traffic summary", () => {
  test("status codes, errors and latency percentiles", () => {
    const summary = summarize([
      { status: 200, ms: 1 },
      { status: 200, ms: 3 },
      { status: 503, ms: 2 },
      { error: "ECONNREFUSED", ms: 0.5 },
    ]);
    expect(summary).toMatchObject({ count: 4, outcomes: { "200": 2, "503": 1, ECONNREFUSED: 1 }, p50: 2, p99: 3, max: 3, failures: 2 });
    const [counts, latency] = formatSummary(summary, 0.5);
    expect(counts).toBe("4 requests in 0.50 s (8 req/s): HTTP 200 ×2, HTTP 503 ×1, ECONNREFUSED ×1");
    expect(latency).toBe("latency p50 2.0 ms, p90 3.0 ms, p99 3.0 ms, max 3.0 ms");
  });

  test("target URL: --url, then INGRESS_URL, then pulumi, then the local stack; else every reason", async () => {
    const base = { env: {}, stack: "dev", projectDir: "/nowhere", stateFile: "/nowhere/.tmp/local-stack.json" };
    const noPulumi = async () => ({ why: "no pulumi CLI on PATH" });
    await expect(resolveTargetUrl({ ...base, flag: "http://a:1", pulumiOutput: noPulumi })).resolves.toEqual({ url: "http://a:1", source: "--url" });
    await expect(resolveTargetUrl({ ...base, env: { INGRESS_URL: "http://b:2/" }, pulumiOutput: noPulumi })).resolves.toEqual({
      url: "http://b:2",
      source: "$INGRESS_URL",
    });
    await expect(resolveTargetUrl({ ...base, pulumiOutput: async () => ({ url: "http://c:3", why: "" }) })).resolves.toMatchObject({ url: "http://c:3" });
    await expect(resolveTargetUrl({ ...base, pulumiOutput: noPulumi })).rejects.toThrow(
      /no --url; INGRESS_URL is not set; no pulumi CLI on PATH; no local stack is running/,
    );
  });
});

describe("waiting for the copies to land", () => {
  test("settles once v1 has every primary and the proxy has nothing in flight", async () => {
    const seen: VersionCounts[] = [{ v1: 1, v2: 0 }, { v1: 3, v2: 1 }, { v1: 3, v2: 2 }, { v1: 3, v2: 2 }];
    let reads = 0;
    let inFlight = 1;
    const result = await waitForSettledCounts(() => seen[Math.min(reads++, seen.length - 1)], {
      primaries: 3,
      inFlight: async () => inFlight--,
      pollMs: 1,
    });
    expect(result).toEqual({ v1: 3, v2: 2, settled: true });
  });

  test("without an in-flight figure: counts must hold for quietMs; a deadline ends the wait", async () => {
    await expect(waitForSettledCounts(() => ({ v1: 2, v2: 1 }), { primaries: 2, quietMs: 20, pollMs: 5 })).resolves.toEqual({ v1: 2, v2: 1, settled: true });
    await expect(waitForSettledCounts(() => ({ v1: 1, v2: 0 }), { primaries: 2, deadlineMs: 30, pollMs: 5 })).resolves.toEqual({ v1: 1, v2: 0, settled: false });
  });
});
