// The verdict's decision rule and flags, as pure functions: hold / promote /
// not enough data from merged statistics, and the thresholds' syntax.
import { LATENCY_DELTA_BUCKETS } from "../../workloads/mirror-proxy/src/compare/compareStats.ts";
import { emptyRouteStats, type RouteStats } from "../../workloads/mirror-proxy/src/compare/stats.ts";
import { decideApp, DEFAULT_THRESHOLDS } from "../../local/lib/verdictDecision.ts";
import { parseVerdictArgs } from "../../local/lib/verdict.ts";
import { requestsForVerdict } from "../../local/lib/demoVerdict.ts";

const B = LATENCY_DELTA_BUCKETS;
const bucketOf = (seconds: number) => B.findIndex((b) => b >= seconds);

function route(o: { mirrored: number; compared: number; differing?: number; errors?: number; delta?: number }): RouteStats {
  const r = emptyRouteStats();
  r.mirrored = o.mirrored;
  r.compared = o.compared;
  r.differing = o.differing ?? 0;
  r.shadowErrors = o.errors ?? 0;
  r.skipped = o.mirrored > o.compared ? { shadow_failed: o.mirrored - o.compared } : {};
  if (o.compared > 0) {
    r.latencyDelta.counts[bucketOf(o.delta ?? 0.0005)] = o.compared;
    r.latencyDelta.count = o.compared;
  }
  return r;
}

const decide = (...routes: RouteStats[]) => decideApp("app", routes.map((r, i) => [`app/r${i}`, r]), B, DEFAULT_THRESHOLDS);

describe("decideApp", () => {
  test("0 differences in 400: the interval's upper bound is under 1 %: promote", () => {
    const v = decide(route({ mirrored: 400, compared: 400 }));
    expect(v.decision).toBe("promote");
    expect(v.passed[0]).toMatch(/difference rate 0 % \(0 of 400, 95 % CI 0 %–0\.9\d+ %\) ≤ 1 %/);
  });

  test("0 differences in 250: more than --min-compared, but the interval still reaches 1.5 %: not enough data", () => {
    const v = decide(route({ mirrored: 250, compared: 250 }));
    expect(v.decision).toBe("not_enough_data");
    expect(v.reasons[0]).toContain("the interval still reaches above --max-diff 1 %");
  });

  test("everything differs in 20: hold before --min-compared (the lower bound is far above 1 %)", () => {
    expect(decide(route({ mirrored: 20, compared: 20, differing: 20 })).decision).toBe("hold");
  });

  test("routes of one app add up (two routes of 200 and 200: 400)", () => {
    expect(decide(route({ mirrored: 200, compared: 200 }), route({ mirrored: 200, compared: 200 })).decision).toBe("promote");
  });

  test("a v2 that is down compares nothing, but its errors hold it", () => {
    const v = decide(route({ mirrored: 300, compared: 0, errors: 300 }));
    expect(v.decision).toBe("hold");
    expect(v.reasons).toContain("shadow errors 100 % (300 of 300) above --max-shadow-errors 0.5 %");
  });

  test("slower by 50 ms (median): hold; 10 % of requests 50 ms slower: hold at p90 only", () => {
    const v = decide(route({ mirrored: 500, compared: 500, delta: 0.05 }));
    expect(v.decision).toBe("hold");
    expect(v.reasons.join()).toMatch(/p50 latency delta \+\d+ ms above --max-latency-delta \+20 ms/);
    const tail = route({ mirrored: 500, compared: 500 });
    tail.latencyDelta.counts[bucketOf(0.0005)] = 440;
    tail.latencyDelta.counts[bucketOf(0.05)] = 60;
    expect(decideApp("app", [["app/r", tail]], B, DEFAULT_THRESHOLDS).decision).toBe("promote");
    expect(decideApp("app", [["app/r", tail]], B, { ...DEFAULT_THRESHOLDS, latencyQuantile: 0.9 }).decision).toBe("hold");
  });

  test("no route at all: not enough data", () => {
    expect(decideApp("app", [], B, DEFAULT_THRESHOLDS).decision).toBe("not_enough_data");
  });
});

describe("flags", () => {
  test("thresholds: percentages with or without %, durations in ms or s", () => {
    const o = parseVerdictArgs(["--max-diff", "2%", "--max-shadow-errors", "0.5", "--max-latency-delta", "0.05s", "--min-compared", "10", "--admin", "http://127.0.0.1:9901/", "--no-local", "--no-kubernetes"]);
    expect(o.thresholds).toEqual({ maxDiff: 0.02, maxShadowErrors: 0.005, maxLatencyDelta: 0.05, minCompared: 10 });
    expect(parseVerdictArgs(["--latency-quantile", "p99"]).thresholds).toEqual({ latencyQuantile: 0.99 });
    expect(parseVerdictArgs(["--latency-quantile", "0.9"]).thresholds).toEqual({ latencyQuantile: 0.9 });
    expect(() => parseVerdictArgs(["--latency-quantile", "p100"])).toThrow(/--latency-quantile must be p50, p90, p99/);
    expect(o).toMatchObject({ admin: ["http://127.0.0.1:9901"], local: false, kubernetes: "off" });
    expect(parseVerdictArgs([]).kubernetes).toBe("auto");
    expect(parseVerdictArgs(["--kubernetes"]).kubernetes).toBe("on");
  });

  test("bad values name the flag and the value", () => {
    expect(() => parseVerdictArgs(["--max-diff", "150%"])).toThrow(/--max-diff must be a percentage from 0 to 100, e.g. 1% or 0.5%, got "150%"/);
    expect(() => parseVerdictArgs(["--max-latency-delta", "fast"])).toThrow(/--max-latency-delta must be a duration such as 20ms or 0.5s, got "fast"/);
    expect(() => parseVerdictArgs(["--admin", "ftp://x"])).toThrow(/expected an http\(s\) URL, got "ftp:\/\/x"/);
  });
});

test("the demo sends enough requests for 0 differences to promote at the defaults", () => {
  const n = requestsForVerdict(DEFAULT_THRESHOLDS);
  expect(n).toBe(420); // 381 needed (0 of 381: upper bound 0.998 %), + 10 %, rounded up to 10
});
