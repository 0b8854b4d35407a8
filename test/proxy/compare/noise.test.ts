/** Noise learned from two primary answers to the same request (Diffy's idea). */
import { compareAnswers, compileCompareOptions } from "../../../workloads/mirror-proxy/src/compare/diff.ts";
import { NoiseLearner, noiseLearningOptions, shouldSampleNoise } from "../../../workloads/mirror-proxy/src/compare/noise.ts";
import { jsonAnswer, textAnswer } from "./helpers.ts";

const ROUTE = "movies/0";
const OPTIONS = compileCompareOptions({ headers: ["content-type", "x-pod"], ignorePaths: ["$.ignored"] });
const LEARNING = noiseLearningOptions(OPTIONS);

/** One v1 answer: a timestamp and the pod name vary from answer to answer, the movies do not. */
let clock = 0;
const v1 = (pod: string) => jsonAnswer({ generatedAt: ++clock, items: [{ pod, title: "Alien", rating: 8 }, { pod, title: "Heat", rating: 7 }] }, { "x-pod": pod });
const v2 = (pod: string) => jsonAnswer({ generatedAt: ++clock, items: [{ pod, title: "Alien", rating: 8 }, { pod, title: "Heat", rating: 9 }] }, { "x-pod": pod });

describe("NoiseLearner", () => {
  test("a timestamp and a pod name learned from primary pairs are then not reported, a real difference still is", () => {
    const noise = new NoiseLearner({ minSamples: 3 });
    const before = compareAnswers(v1("v1-a"), v2("v2-x"), OPTIONS, noise.noiseFor(ROUTE));
    expect(before.differences.map((d) => d.path)).toEqual(["headers.x-pod", "$.generatedAt", "$.items[0].pod", "$.items[1].pod", "$.items[1].rating"]);

    for (let i = 0; i < 3; i++) {
      const pair = noise.learnFromPrimaries(ROUTE, v1("v1-a"), v1("v1-b"), LEARNING);
      expect(pair).toEqual(["headers.x-pod", "$.generatedAt", "$.items[*].pod"]);
    }
    const after = compareAnswers(v1("v1-a"), v2("v2-x"), OPTIONS, noise.noiseFor(ROUTE));
    expect(after.differences).toEqual([{ path: "$.items[1].rating", kind: "changed", primary: 7, shadow: 9 }]);
    expect(noise.isNoise(ROUTE, "$.items[5].pod")).toBe(true);
    expect(noise.isNoise(ROUTE, "$.items[5].rating")).toBe(false);
    expect(noise.isNoise("other/0", "$.generatedAt")).toBe(false);
  });

  test("the learned set is visible, with counts, pairs and not-yet-learned candidates", () => {
    const noise = new NoiseLearner({ minSamples: 2 });
    noise.recordPair(ROUTE, ["$.generatedAt", "$[0].requestId", "$[1].requestId"]);
    noise.recordPair(ROUTE, ["$.generatedAt", "$[3].requestId", "headers.date"]);
    noise.recordPair(ROUTE, ["$.generatedAt"]);
    expect(noise.snapshot()).toEqual({
      minSamples: 2,
      routes: {
        [ROUTE]: {
          pairs: 3,
          learned: [{ path: "$.generatedAt", pairs: 3 }, { path: "$[*].requestId", pairs: 2 }],
          candidates: [{ path: "headers.date", pairs: 1 }],
          evicted: 0,
          notLearnedFull: 0,
        },
      },
    });
  });

  test("a path counts once per pair: many elements differing in one pair are one sample", () => {
    const noise = new NoiseLearner({ minSamples: 2 });
    noise.recordPair(ROUTE, ["$[0].id", "$[1].id", "$[2].id"]);
    expect(noise.isNoise(ROUTE, "$[0].id")).toBe(false);
    noise.recordPair(ROUTE, ["$[7].id"]);
    expect(noise.isNoise(ROUTE, "$[0].id")).toBe(true);
  });

  test("the status is never learned; a text body differing as a whole is", () => {
    const noise = new NoiseLearner({ minSamples: 1 });
    noise.recordPair(ROUTE, ["status"]);
    noise.learnFromPrimaries(ROUTE, textAnswer("hostname-v1-abc v1\n", {}, 200), textAnswer("hostname-v1-def v1\n", {}, 503), LEARNING);
    expect(noise.snapshot().routes[ROUTE].learned.map((l) => l.path)).toEqual(["body"]);
    const r = compareAnswers(textAnswer("hostname-v1-abc v1\n"), textAnswer("hostname-v2-xyz v2\n", {}, 500), OPTIONS, noise.noiseFor(ROUTE));
    expect(r.differences.map((d) => d.path)).toEqual(["status"]);
  });

  test("ignored paths are not learned (they are never compared)", () => {
    const noise = new NoiseLearner({ minSamples: 1 });
    expect(noise.learnFromPrimaries(ROUTE, jsonAnswer({ ignored: 1 }), jsonAnswer({ ignored: 2 }), LEARNING)).toEqual([]);
    expect(noise.snapshot().routes[ROUTE]).toMatchObject({ pairs: 1, learned: [] });
  });

  test("bounded under a storm of 100k distinct differing paths; steady noise is still learned", () => {
    const noise = new NoiseLearner({ minSamples: 5, maxCandidates: 500, maxLearned: 200 });
    for (let i = 0; i < 100_000; i++) noise.recordPair(ROUTE, [`$.junk${i}`, "$.generatedAt"]);
    const r = noise.snapshot().routes[ROUTE];
    expect(r.pairs).toBe(100_000);
    expect(r.learned).toEqual([{ path: "$.generatedAt", pairs: 100_000 }]);
    expect(r.candidates.length).toBeLessThanOrEqual(20);
    expect(r.evicted).toBe(100_000 - 500);
    expect(JSON.stringify(noise.snapshot()).length).toBeLessThan(5_000);

    // Paths that keep differing fill the learned set up to its cap, no further.
    const full = new NoiseLearner({ minSamples: 1, maxLearned: 200 });
    for (let i = 0; i < 100_000; i++) full.recordPair(ROUTE, [`$.k${i}`]);
    expect(full.snapshot().routes[ROUTE].learned).toHaveLength(200);
    expect(full.snapshot().routes[ROUTE].notLearnedFull).toBe(100_000 - 200);
  });
});

test("shouldSampleNoise follows samplePercent", () => {
  expect(shouldSampleNoise(10, 0.05)).toBe(true);
  expect(shouldSampleNoise(10, 0.1)).toBe(false);
  expect(shouldSampleNoise(0, 0)).toBe(false);
  expect(shouldSampleNoise(100, 0.9999)).toBe(true);
});
