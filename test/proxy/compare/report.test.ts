/** CompareReport: totals, top differing paths, last mismatches, /compare JSON and the summary line. */
import { compareAnswers, type CompareResult } from "../../../workloads/mirror-proxy/src/compare/diff.ts";
import { NoiseLearner } from "../../../workloads/mirror-proxy/src/compare/noise.ts";
import { CompareReport } from "../../../workloads/mirror-proxy/src/compare/report.ts";
import { jsonAnswer, movies } from "./helpers.ts";

const ROUTE = "movies/movies-mirror-all";
const REQ = { method: "GET", path: "/?page=1", host: "movies.example.com" };
const fixedNow = () => new Date("2025-01-02T03:04:05.000Z");
const OPTIONS = { headers: ["content-type"] };

const same = () => compareAnswers(jsonAnswer(movies("v1")), jsonAnswer(movies("v1")), OPTIONS);
const versionDiffers = () => compareAnswers(jsonAnswer(movies("v1")), jsonAnswer(movies("v2")), OPTIONS);
const ratingAndVersionDiffer = () => compareAnswers(jsonAnswer(movies("v1")), jsonAnswer(movies("v2", (m) => void (m.rating = 9))), OPTIONS);

describe("CompareReport", () => {
  test("totals, mismatch rate, top paths (once per comparison) and skips per route", () => {
    const report = new CompareReport({ lastMismatches: 10, now: fixedNow });
    for (let i = 0; i < 6; i++) report.record(ROUTE, REQ, same());
    for (let i = 0; i < 2; i++) report.record(ROUTE, REQ, versionDiffers());
    report.record(ROUTE, REQ, ratingAndVersionDiffer());
    report.skip(ROUTE, "body_too_large");
    report.skip(ROUTE, "in_flight_limit");
    report.skip("hostname/0", "shadow_failed");
    report.record("hostname/0", REQ, same());

    expect(report.totals(ROUTE)).toEqual({ compared: 9, match: 6, mismatch: 3, mismatchRate: 0.3333, skipped: { body_too_large: 1, in_flight_limit: 1 } });
    expect(report.totals()).toEqual({ compared: 10, match: 7, mismatch: 3, mismatchRate: 0.3, skipped: { body_too_large: 1, in_flight_limit: 1, shadow_failed: 1 } });
    expect(report.topDifferences()).toEqual([{ path: "$[*].version", count: 3 }, { path: "$[*].rating", count: 1 }]);
    expect(report.summaryLine()).toBe("10 compared, 3 differ (30.0 %), top differences: $[*].version (3), $[*].rating (1); 3 skipped (body_too_large 1, in_flight_limit 1, shadow_failed 1)");
  });

  test("toJSON is the /compare document: last mismatches newest first with request line, host and both values", () => {
    const report = new CompareReport({ lastMismatches: 2, now: fixedNow });
    report.record(ROUTE, { ...REQ, path: "/first" }, versionDiffers());
    report.record(ROUTE, { ...REQ, path: "/second" }, versionDiffers());
    report.record(ROUTE, { ...REQ, path: "/third" }, compareAnswers(jsonAnswer({ a: 1 }), jsonAnswer({ a: 2 }), OPTIONS));
    report.record(ROUTE, REQ, same());
    const json = JSON.parse(JSON.stringify(report));
    expect(json).toEqual({
      totals: { compared: 4, match: 1, mismatch: 3, mismatchRate: 0.75, skipped: {} },
      topDifferences: [{ path: "$[*].version", count: 2 }, { path: "$.a", count: 1 }],
      routes: {
        [ROUTE]: {
          compared: 4, match: 1, mismatch: 3, mismatchRate: 0.75, skipped: {},
          topDifferences: [{ path: "$[*].version", count: 2 }, { path: "$.a", count: 1 }],
          evictedPaths: 0,
        },
      },
      lastMismatches: [
        { time: "2025-01-02T03:04:05.000Z", route: ROUTE, request: "GET /third", host: "movies.example.com", differences: [{ path: "$.a", kind: "changed", primary: 1, shadow: 2 }], omitted: 0 },
        {
          time: "2025-01-02T03:04:05.000Z", route: ROUTE, request: "GET /second", host: "movies.example.com", omitted: 0,
          differences: [0, 1, 2].map((i) => ({ path: `$[${i}].version`, kind: "changed", primary: "v1", shadow: "v2" })),
        },
      ],
    });
  });

  test("includes the learned noise when given a learner, and names it in the summary", () => {
    const noise = new NoiseLearner({ minSamples: 1 });
    noise.recordPair(ROUTE, ["$.generatedAt", "headers.x-pod"]);
    const report = new CompareReport({ lastMismatches: 0, noise });
    report.record(ROUTE, REQ, same());
    expect(report.toJSON().noise?.routes[ROUTE].learned.map((l) => l.path)).toEqual(["$.generatedAt", "headers.x-pod"]);
    expect(report.toJSON().lastMismatches).toEqual([]);
    expect(report.summaryLine()).toBe("1 compared, 0 differ (0.0 %); noise learned: $.generatedAt, headers.x-pod");
  });

  test("an empty report", () => {
    const report = new CompareReport({ lastMismatches: 5 });
    expect(report.summaryLine()).toBe("0 compared, 0 differ (0.0 %)");
    expect(report.toJSON()).toEqual({ totals: { compared: 0, match: 0, mismatch: 0, mismatchRate: 0, skipped: {} }, topDifferences: [], routes: {}, lastMismatches: [] });
  });

  test("bounded under a storm of 100k distinct mismatching paths; a frequent path still ranks first", () => {
    const report = new CompareReport({ lastMismatches: 50, maxPaths: 200 });
    // Real diff results (values cut by diff.ts), re-labelled with a new path each time.
    const withRating = compareAnswers(jsonAnswer({ k: "x".repeat(300), rating: 1 }), jsonAnswer({ k: "y".repeat(300), rating: 2 }), OPTIONS);
    const withoutRating = compareAnswers(jsonAnswer({ k: "x".repeat(300) }), jsonAnswer({ k: "y".repeat(300) }), OPTIONS);
    const junk = (i: number): CompareResult => {
      const base = i % 2 ? withoutRating : withRating;
      return { ...base, differences: base.differences.map((d) => (d.path === "$.k" ? { ...d, path: `$.k${i}` } : d)), patterns: base.patterns.map((p) => (p === "$.k" ? `$.k${i}` : p)) };
    };
    for (let i = 0; i < 100_000; i++) report.record(ROUTE, { ...REQ, path: `/${"p".repeat(1000)}${i}` }, junk(i));
    const json = report.toJSON();
    expect(json.totals.mismatch).toBe(100_000);
    expect(json.routes[ROUTE].topDifferences.length).toBeLessThanOrEqual(20);
    expect(json.routes[ROUTE].evictedPaths).toBeGreaterThan(99_000);
    expect(json.topDifferences[0]).toMatchObject({ path: "$.rating", count: 50_000 });
    expect(json.lastMismatches).toHaveLength(50);
    expect(json.lastMismatches[0].request.length).toBeLessThanOrEqual(301);
    // Size of the whole structure: ring of 50 x (a few cut values) + 200 counted paths.
    expect(JSON.stringify(json).length).toBeLessThan(150_000);
  });
});
