import { abSummary, buildRows, evaluateTargets, renderAb, renderRoundsTargets, renderText, roundOrder, selectCases, targetsOverRounds, withBaselineTwins, type CaseResult } from "../../bench/report";
import { spawn } from "node:child_process";
import { processCpu } from "../../bench/procs";
import { parseWrkOutput, type WrkResult } from "../../bench/wrk";
import { nginxConfig, nodeFlagsFromDockerfile, proxyConfigYaml } from "../../bench/configs";

import YAML from "yaml";

const WRK_STDOUT = `Running 10s test @ http://127.0.0.1:8080/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.00ms  30.00ms   90.00%
  100000 requests in 10.00s, 12.00MB read
  Non-2xx or 3xx responses: 10
Requests/sec:  10000.00
Transfer/sec:      1.20MB
WRK_JSON {"duration_us":10000000,"requests":100000,"bytes":12000000,"errors":{"connect":0,"read":1,"write":0,"status":10,"timeout":2},"latency_us":{"min":100,"max":30000,"mean":2100.0,"stdev":1000.0,"p50":2000,"p90":3000,"p99":8000,"p999":20000}}
`;

function wrk(rps: number, p50: number, p99: number, non2xx = 0): WrkResult {
  return {
    durationS: 10,
    requests: rps * 10 + non2xx,
    ok: rps * 10,
    non2xx,
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 },
    rps,
    latencyMs: { p50, p90: p99, p99, p999: p99, mean: p50, max: p99 },
  };
}

function result(id: string, w: WrkResult, peakRssMb?: number, serverCpuMs?: number): CaseResult {
  const [kind, shadow, extra] = id === "direct" ? ["direct", "off"] : id.split("-");
  return { id, kind: kind as CaseResult["kind"], shadow: shadow as CaseResult["shadow"], label: id, wrk: w, peakRssMb, serverCpuMs, compare: extra === "compare" || undefined };
}

describe("bench: wrk output", () => {
  it("parses the done() JSON line and counts only non-error responses", () => {
    const r = parseWrkOutput(WRK_STDOUT);
    expect(r.requests).toBe(100000);
    expect(r.ok).toBe(99990);
    expect(r.non2xx).toBe(10);
    expect(r.rps).toBeCloseTo(9999, 5);
    expect(r.latencyMs).toMatchObject({ p50: 2, p90: 3, p99: 8, p999: 20 });
    expect(r.socketErrors).toEqual({ connect: 0, read: 1, write: 0, timeout: 2 });
  });

  it("fails loudly without the JSON line", () => {
    expect(() => parseWrkOutput("Requests/sec: 1\n")).toThrow(/WRK_JSON/);
  });
});

describe("bench: targets", () => {
  const all = [
    result("direct", wrk(30000, 1.0, 3)),
    // CPU ms over the 10 s run: 150,000 requests x 60 ms/1k = 9,000 ms.
    result("proxy-off", wrk(15000, 1.5, 6), 60, 9000),
    result("proxy-fast", wrk(12000, 2.0, 8), 70, 12000),
    result("proxy-slow", wrk(14000, 1.6, 7), 80),
    result("proxy-closed", wrk(13000, 1.7, 7.5), 120),
    result("proxy-fast-compare", wrk(9000, 2.5, 9), 110),
    result("nginx-off", wrk(40000, 0.8, 2), 15, 8000),
    result("nginx-fast", wrk(7000, 4, 15), 16, 3500),
    result("nginx-slow", wrk(250, 201, 205), 16),
    result("nginx-closed", wrk(30000, 1.5, 6), 16),
  ];

  it("evaluates each target of the issue with its measured ratio", () => {
    const t = Object.fromEntries(evaluateTargets(all).map((x) => [x.name, x]));
    expect(t["mirror, fast shadow: req/s >= 1.2 x nginx-fast"]).toMatchObject({ status: "PASS", measured: expect.stringMatching(/^1\.71 x/) });
    expect(t["no mirroring: req/s >= 0.5 x nginx-off"]).toMatchObject({ status: "FAIL", measured: expect.stringMatching(/^0\.38 x/) });
    expect(t["200 ms shadow: req/s >= 0.9 x proxy-off"].status).toBe("PASS");
    expect(t["200 ms shadow: p99 <= 1.2 x proxy-off"].status).toBe("PASS");
    expect(t["closed shadow port: req/s >= 0.9 x proxy-off"]).toMatchObject({ status: "FAIL", measured: expect.stringMatching(/^0\.87 x/) });
    expect(t["closed shadow port: p99 <= 1.2 x proxy-off"].status).toBe("FAIL");
    expect(t["mirror + compare: req/s >= 0.8 x proxy-fast"]).toMatchObject({ status: "FAIL", measured: expect.stringMatching(/^0\.75 x/) });
    expect(t["peak RSS < 100 MB in every proxy case without compare"]).toMatchObject({ status: "FAIL", measured: expect.stringContaining("proxy-closed") });
    expect(t["peak RSS < 120 MB in every proxy case with compare"]).toMatchObject({ status: "PASS", measured: expect.stringContaining("110.0 MB (proxy-fast-compare)") });
    // 12,000 ms / 120,000 requests = 100 ms per 1k; nginx 3,500 / 70,000 = 50: 2.00 x, at the bound.
    expect(t["mirror, fast shadow: proxy CPU per request <= 2 x nginx worker's"]).toMatchObject({ status: "PASS", measured: expect.stringMatching(/^2\.00 x \(100 vs 50 CPU ms/) });
    expect(t["p50 added over direct < 1 ms without mirroring"]).toMatchObject({ status: "PASS", measured: expect.stringMatching(/^\+0\.50 ms/) });
  });

  it("--rounds: each round's targets from its own cases, the verdict by majority", () => {
    // Round 2's nginx-fast was disturbed (slow), so its ratio passes; rounds 1 and 3 fail.
    const round = (r: number, nginxFastRps: number) => all.map((c) => ({ ...c, round: r, ...(c.id === "nginx-fast" ? { wrk: wrk(nginxFastRps, 4, 15) } : {}) }));
    const t = targetsOverRounds([...round(1, 11000), ...round(2, 7000), ...round(3, 10500)], 3);
    const fast = t.find((x) => x.name === "mirror, fast shadow: req/s >= 1.2 x nginx-fast")!;
    expect(fast.perRound.map((r) => r.status)).toEqual(["FAIL", "PASS", "FAIL"]);
    expect(fast.perRound.map((r) => r.measured.slice(0, 6))).toEqual(["1.09 x", "1.71 x", "1.14 x"]);
    expect(fast.status).toBe("FAIL");
    expect(t.find((x) => x.name === "200 ms shadow: req/s >= 0.9 x proxy-off")!.status).toBe("PASS");
    const md = renderRoundsTargets(t);
    expect(md.split("\n")[0]).toBe("| status | target | round 1 | round 2 | round 3 |");
    expect(md).toContain("| FAIL | mirror, fast shadow: req/s >= 1.2 x nginx-fast | FAIL 1.09 x");
  });

  it("reports --workers cases apart: their memory per process, not in the RSS target", () => {
    const w2: CaseResult = { ...result("proxy-fast", wrk(18000, 2, 8), 230, 20000), id: "proxy-fast-w2", workers: 2, rssByProcessMb: { primary: 70, workers: [80, 80] } };
    const t = evaluateTargets([...all, w2]);
    expect(t.find((x) => x.name === "(info) --workers 2: memory and throughput")).toEqual({
      name: "(info) --workers 2: memory and throughput",
      status: "INFO",
      measured: "peak RSS 230.0 MB in all (primary 70.0 MB, workers 80.0 / 80.0 MB), 1.50 x proxy-fast req/s, CPU 111 ms/1k req",
    });
    expect(t.find((x) => x.name.startsWith("peak RSS < 100 MB"))!.measured).not.toContain("w2");
  });

  it("fails the CPU target above 2 x nginx, and skips it without CPU times", () => {
    const more = all.map((r) => (r.id === "proxy-fast" ? { ...r, serverCpuMs: 12100 } : r));
    expect(evaluateTargets(more).find((x) => x.name.includes("CPU per request"))!.status).toBe("FAIL");
    const none = all.map((r) => (r.id === "nginx-fast" ? { ...r, serverCpuMs: undefined } : r));
    expect(evaluateTargets(none).find((x) => x.name.includes("CPU per request"))!.status).toBe("SKIP");
  });

  it("flags a target as noisy when other processes used the CPU", () => {
    const noisy = all.map((r) => (r.id === "nginx-fast" ? { ...r, cpu: { busyPct: 100, otherPct: 45 } } : r));
    const t = evaluateTargets(noisy).find((x) => x.name.startsWith("mirror, fast shadow: req/s"))!;
    expect(t.measured).toMatch(/\[noisy: other processes used 45% CPU in nginx-fast\]$/);
  });

  it("skips targets whose cases did not run", () => {
    const t = evaluateTargets(all.filter((r) => r.kind !== "proxy"));
    expect(t.every((x) => x.status === "SKIP")).toBe(true);
  });

  it("computes the ratios of the table", () => {
    const rows = buildRows(all);
    const fast = rows.find((r) => r.id === "proxy-fast")!;
    expect(fast.vsNginx).toBeCloseTo(12000 / 7000);
    expect(fast.vsProxyOff).toBeCloseTo(0.8);
    expect(fast.cpuPer1k).toBeCloseTo(100);
    expect(fast.cpuVsNginx).toBeCloseTo(2);
    const off = rows.find((r) => r.id === "proxy-off")!;
    expect(off.cpuPer1k).toBeCloseTo(60);
    expect(off.cpuVsNginx).toBeCloseTo(60 / 20);
    expect(rows.find((r) => r.id === "nginx-fast")!.vsNginx).toBeUndefined();
    expect(rows.find((r) => r.id === "nginx-fast")!.cpuPer1k).toBeCloseTo(50);
    expect(rows.find((r) => r.id === "proxy-slow")!.cpuPer1k).toBeUndefined();
    const text = renderText(rows).split("\n");
    expect(text).toHaveLength(11);
    expect(text[0]).toMatch(/req\/s\s+p50 ms\s+p99 ms\s+CPU ms\/1k req\s+CPU x nginx/);
    expect(text.find((l) => l.startsWith("proxy-fast "))).toMatch(/^proxy-fast\s+12,000\s+2\.00\s+8\.00\s+100\s+2\.00\s/);
  });

  it("selects cases by id, kind or shadow", () => {
    expect(selectCases("nginx,direct").map((c) => c.id)).toEqual(["direct", "nginx-off", "nginx-fast", "nginx-slow", "nginx-closed", "direct-1c"]);
    expect(selectCases("slow").map((c) => c.id)).toEqual(["proxy-slow", "nginx-slow"]);
    expect(() => selectCases("bogus")).toThrow(/unknown case/);
    expect(selectCases("proxy-fast-w2,proxy-fast-w4", [2, 4]).map((c) => [c.id, c.workers, c.shadow])).toEqual([
      ["proxy-fast-w2", 2, "fast"],
      ["proxy-fast-w4", 4, "fast"],
    ]);
    expect(() => selectCases("proxy-fast-w2")).toThrow(/unknown case/);
  });
});

describe("bench: generated configs", () => {
  it("nginx mirrors only when a shadow is given", () => {
    const base = { prefix: "/tmp/x", listenPort: 1, primaryPort: 2, runAsRoot: false };
    expect(nginxConfig({ ...base, shadowPort: null })).not.toMatch(/mirror/);
    const m = nginxConfig({ ...base, shadowPort: 3 });
    expect(m).toMatch(/mirror \/__mirror;/);
    expect(m).toMatch(/server 127\.0\.0\.1:3;\s+keepalive 64;/);
    expect(m).toMatch(/worker_processes 1;/);
  });

  it("the proxy config is a VirtualService, a DestinationRule and a MirrorProxy", () => {
    const docs = YAML.parseAllDocuments(proxyConfigYaml({ primaryPort: 2, shadowPort: 3 })).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(["VirtualService", "DestinationRule", "MirrorProxy"]);
    expect(docs[0].spec.http[0]).toMatchObject({ mirror: { host: "bench", subset: "v2" }, mirrorPercentage: { value: 100 } });
    expect(docs[2].spec.upstreams).toEqual({ "bench/v1": "http://127.0.0.1:2", "bench/v2": "http://127.0.0.1:3" });
    const off = YAML.parseAllDocuments(proxyConfigYaml({ primaryPort: 2, shadowPort: null })).map((d) => d.toJS());
    expect(off[0].spec.http[0].mirror).toBeUndefined();
  });
});

describe("bench: proxy node flags from its Dockerfile", () => {
  it("takes the flags between node and the script of the exec-form CMD", () => {
    expect(nodeFlagsFromDockerfile('FROM x\nCMD ["node", "--max-semi-space-size=2", "/app/main.js", "--config", "f"]\n')).toEqual(["--max-semi-space-size=2"]);
    expect(nodeFlagsFromDockerfile('CMD ["node", "/app/main.js"]')).toEqual([]);
    expect(nodeFlagsFromDockerfile("CMD node main.js")).toEqual([]);
  });
});

describe("bench: server CPU time from /proc", () => {
  it("reads the user + system time a real process spends between start and stop", async () => {
    // The child spins until it has used 300 ms of CPU (its own count), then idles until killed.
    const child = spawn(process.execPath, ["-e", "for (let u = process.cpuUsage(); u.user + u.system < 300000; u = process.cpuUsage()); console.log('done'); setInterval(() => {}, 1000);"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const meter = processCpu(() => [child.pid!]);
      await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
      const { ms, pids } = meter.stop();
      expect(pids).toEqual([child.pid]);
      // Its start-up before the first read is not counted; one clock tick of rounding either way.
      expect(ms).toBeGreaterThanOrEqual(150);
      expect(ms).toBeLessThan(1000);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("bench: A/B against a baseline build (--baseline)", () => {
  it("twins every proxy case, and swaps which twin runs first every other round", () => {
    const cases = withBaselineTwins(selectCases("direct,proxy-off,proxy-fast"), "main");
    expect(cases.map((c) => c.id)).toEqual(["direct", "proxy-off", "proxy-off~base", "proxy-fast", "proxy-fast~base", "direct-1c"]);
    expect(cases.find((c) => c.id === "proxy-fast~base")).toMatchObject({ baseline: true, shadow: "fast", label: "mirror-proxy mirror 100% -> fast shadow [baseline main]" });
    expect(roundOrder(cases, 1).map((c) => c.id)).toEqual(cases.map((c) => c.id));
    expect(roundOrder(cases, 2).map((c) => c.id)).toEqual(["direct", "proxy-off~base", "proxy-off", "proxy-fast~base", "proxy-fast", "direct-1c"]);
  });

  it("medians per build over the rounds, the CPU saved and whether B was cheaper in every round", () => {
    const run = (id: string, round: number, rps: number, cpuMs: number): CaseResult => ({ ...result("proxy-fast", wrk(rps, 2, 8), 80, cpuMs), id, round, baseline: id.endsWith("~base") || undefined });
    // 10 s at rps: cpuMs / (rps * 10 / 1000) ms per 1k requests.
    const all = [
      run("proxy-fast~base", 1, 10000, 20000), // 200
      run("proxy-fast", 1, 11000, 17600), // 160
      run("proxy-fast", 2, 10000, 17000), // 170
      run("proxy-fast~base", 2, 9000, 19800), // 220
      run("proxy-fast~base", 3, 10000, 21000), // 210
      run("proxy-fast", 3, 12000, 21600), // 180
    ];
    const [row] = abSummary(all);
    expect(row).toMatchObject({ id: "proxy-fast", rounds: 3, cpuA: 210, cpuB: 170, rpsA: 10000, rpsB: 11000, cpuBetterEveryRound: true });
    // Paired: B/A per round 0.8, 0.773, 0.857 (CPU) and 1.1, 1.111, 1.2 (req/s); their medians.
    expect(row.cpuGain).toBeCloseTo(0.2);
    expect(row.rpsGain).toBeCloseTo(10000 / 9000 - 1);
    expect(renderAb([row], "main")).toMatch(/\| proxy-fast \| 3 \| 210 \| 170 \| \+20\.0 % \| yes \| 10,000 \| 11,000 \| \+11\.1 % \|/);
    const worse = abSummary(all.map((r) => (r.id === "proxy-fast" && r.round === 2 ? { ...r, serverCpuMs: 30000 } : r)))[0];
    expect(worse.cpuBetterEveryRound).toBe(false);
  });
});
