import { buildRows, evaluateTargets, renderText, selectCases, type CaseResult } from "../../bench/report";
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

function result(id: string, w: WrkResult, peakRssMb?: number): CaseResult {
  const [kind, shadow] = id === "direct" ? ["direct", "off"] : id.split("-");
  return { id, kind: kind as CaseResult["kind"], shadow: shadow as CaseResult["shadow"], label: id, wrk: w, peakRssMb };
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
    result("proxy-off", wrk(15000, 1.5, 6), 60),
    result("proxy-fast", wrk(12000, 2.0, 8), 70),
    result("proxy-slow", wrk(14000, 1.6, 7), 80),
    result("proxy-closed", wrk(13000, 1.7, 7.5), 120),
    result("nginx-off", wrk(40000, 0.8, 2), 15),
    result("nginx-fast", wrk(7000, 4, 15), 16),
    result("nginx-slow", wrk(250, 201, 205), 16),
    result("nginx-closed", wrk(30000, 1.5, 6), 16),
  ];

  it("evaluates each target of the issue with its measured ratio", () => {
    const t = Object.fromEntries(evaluateTargets(all).map((x) => [x.name, x]));
    expect(t["mirroring to a fast shadow: req/s >= 1.5 x nginx"]).toMatchObject({ status: "PASS", measured: expect.stringMatching(/^1\.71 x/) });
    expect(t["200 ms shadow: req/s >= 0.9 x proxy no mirroring"].status).toBe("PASS");
    expect(t["200 ms shadow: p99 <= 1.2 x proxy no mirroring"].status).toBe("PASS");
    expect(t["closed shadow port: req/s >= 0.9 x proxy no mirroring"]).toMatchObject({ status: "FAIL", measured: expect.stringMatching(/^0\.87 x/) });
    expect(t["closed shadow port: p99 <= 1.2 x proxy no mirroring"].status).toBe("FAIL");
    expect(t["peak RSS < 100 MB in every proxy case"]).toMatchObject({ status: "FAIL", measured: expect.stringContaining("proxy-closed") });
    expect(t["p50 added over direct < 1 ms without mirroring"]).toMatchObject({ status: "PASS", measured: expect.stringMatching(/^\+0\.50 ms/) });
  });

  it("flags a target as noisy when other processes used the CPU", () => {
    const noisy = all.map((r) => (r.id === "nginx-fast" ? { ...r, cpu: { busyPct: 100, otherPct: 45 } } : r));
    const t = evaluateTargets(noisy).find((x) => x.name.startsWith("mirroring to a fast shadow"))!;
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
    expect(rows.find((r) => r.id === "nginx-fast")!.vsNginx).toBeUndefined();
    expect(renderText(rows).split("\n")).toHaveLength(10);
  });

  it("selects cases by id, kind or shadow", () => {
    expect(selectCases("nginx,direct").map((c) => c.id)).toEqual(["direct", "nginx-off", "nginx-fast", "nginx-slow", "nginx-closed", "direct-1c"]);
    expect(selectCases("slow").map((c) => c.id)).toEqual(["proxy-slow", "nginx-slow"]);
    expect(() => selectCases("bogus")).toThrow(/unknown case/);
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
