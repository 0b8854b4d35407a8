/** The mergeable statistics' arithmetic: Wilson interval, histogram quantile, exact merge. */
import { LATENCY_DELTA_BUCKETS } from "../../../workloads/mirror-proxy/src/compare/compareStats.ts";
import { checkStats, emptyRouteStats, figures, histogramQuantile, mergeStats, STATS_FORMAT, wilson, type CompareStats } from "../../../workloads/mirror-proxy/src/compare/stats.ts";

describe("wilson", () => {
  test("matches published values (Newcombe 1998, table I: 81/263, 15/148, 0/20)", () => {
    const close = ([lo, hi]: [number, number], [elo, ehi]: [number, number]) => {
      expect(lo).toBeCloseTo(elo, 4);
      expect(hi).toBeCloseTo(ehi, 4);
    };
    close(wilson(81, 263), [0.2553, 0.3662]);
    close(wilson(15, 148), [0.0624, 0.1605]);
    close(wilson(0, 20), [0, 0.1611]);
  });
  test("nothing compared: the whole range", () => expect(wilson(0, 0)).toEqual([0, 1]));
  test("n of n: the upper bound is 1", () => expect(wilson(50, 50)[1]).toBe(1));
});

describe("histogramQuantile", () => {
  const bounds = [-0.01, 0, 0.01, 0.02];
  test("linear within the bucket, as Prometheus' histogram_quantile", () => {
    // 10 in (0, 0.01], 10 in (0.01, 0.02]: the median is the top of the first, p75 halfway into the second.
    expect(histogramQuantile(0.5, bounds, [0, 0, 10, 10, 0])).toBeCloseTo(0.01, 9);
    expect(histogramQuantile(0.75, bounds, [0, 0, 10, 10, 0])).toBeCloseTo(0.015, 9);
  });
  test("+Inf answers the last bound, the lowest bucket its own bound, empty undefined", () => {
    expect(histogramQuantile(0.9, bounds, [0, 0, 0, 0, 3])).toBe(0.02);
    expect(histogramQuantile(0.5, bounds, [4, 0, 0, 0, 0])).toBe(-0.01);
    expect(histogramQuantile(0.5, bounds, [0, 0, 0, 0, 0])).toBeUndefined();
  });
});

function replica(name: string, counts: { mirrored: number; compared: number; differing: number; errors: number; deltaBucket: number }, time: string): CompareStats {
  const r = emptyRouteStats();
  r.mirrored = counts.mirrored;
  r.compared = counts.compared;
  r.differing = counts.differing;
  r.shadowErrors = counts.errors;
  r.skipped = { noise_warmup: counts.mirrored - counts.compared };
  r.latencyDelta.counts[counts.deltaBucket] = counts.compared;
  r.latencyDelta.sum = counts.compared * 0.002;
  r.latencyDelta.count = counts.compared;
  r.topDifferences = [{ path: "$[*].year", count: counts.differing, overcount: 0, example: { time, request: `GET /${name}`, host: "h", difference: { path: "$[0].year", kind: "changed", primary: 1, shadow: 2 } } }];
  r.noiseLearned = name === "a" ? ["body"] : [];
  return { format: STATS_FORMAT, replicas: [name], latencyDeltaBuckets: [...LATENCY_DELTA_BUCKETS], routes: { "movies/all": r } };
}

describe("mergeStats", () => {
  test("counts, skips, buckets and paths add up exactly; the newest example and the union of noise are kept", () => {
    const a = replica("a", { mirrored: 10, compared: 8, differing: 3, errors: 1, deltaBucket: 12 }, "2026-01-01T00:00:01Z");
    const b = replica("b", { mirrored: 7, compared: 7, differing: 7, errors: 0, deltaBucket: 13 }, "2026-01-01T00:00:02Z");
    const merged = mergeStats([a, b]);
    expect(checkStats(merged)).toBeUndefined();
    expect(merged.replicas).toEqual(["a", "b"]);
    const r = merged.routes["movies/all"];
    expect([r.mirrored, r.compared, r.differing, r.shadowErrors]).toEqual([17, 15, 10, 1]);
    expect(r.skipped).toEqual({ noise_warmup: 2 });
    expect(r.latencyDelta.counts[12]).toBe(8);
    expect(r.latencyDelta.counts[13]).toBe(7);
    expect(r.latencyDelta.count).toBe(15);
    expect(r.topDifferences).toEqual([{ path: "$[*].year", count: 10, overcount: 0, example: b.routes["movies/all"].topDifferences[0].example }]);
    expect(r.noiseLearned).toEqual(["body"]);
    const f = figures(r, merged.latencyDeltaBuckets);
    expect(f.coverage).toBeCloseTo(15 / 17, 12);
    expect(f.differingRate).toBeCloseTo(10 / 15, 12);
    expect(f.differingInterval).toEqual(wilson(10, 15));
  });

  test("refuses replicas whose histograms have other buckets", () => {
    const a = replica("a", { mirrored: 1, compared: 1, differing: 0, errors: 0, deltaBucket: 0 }, "t");
    const b = { ...replica("b", { mirrored: 1, compared: 1, differing: 0, errors: 0, deltaBucket: 0 }, "t"), latencyDeltaBuckets: [0, 1] };
    expect(() => mergeStats([a, b])).toThrow(/replica b has other latency-delta buckets/);
  });

  test("checkStats names what is wrong", () => {
    expect(checkStats({ format: "x" })).toMatch(/format is "x", expected "mirror-proxy-compare-stats\/v1"/);
    expect(checkStats({ format: STATS_FORMAT })).toMatch(/missing/);
  });
});
