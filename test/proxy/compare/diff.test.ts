/** compareAnswers: status, headers, JSON bodies field by field, other bodies by length and hash. */
import { createHash } from "node:crypto";
import { compareAnswers, compileCompareOptions, deepEqual, isJsonContentType, preview, type CompareOptions } from "../../../workloads/mirror-proxy/src/compare/diff.ts";
import { jsonAnswer, movies, textAnswer } from "./helpers.ts";

const OPTIONS: CompareOptions = { headers: ["content-type"] };

describe("compareAnswers", () => {
  test("identical answers match", () => {
    const r = compareAnswers(jsonAnswer(movies("v1")), jsonAnswer(movies("v1")), OPTIONS);
    expect(r).toEqual({ result: "match", differences: [], omitted: 0, patterns: [] });
  });

  test("the same JSON in other bytes (key order, spacing) matches", () => {
    const a = jsonAnswer({ a: 1, b: [1, 2] });
    const b = { ...a, body: Buffer.from('{ "b": [1, 2.0], "a": 1 }') };
    expect(compareAnswers(a, b, OPTIONS).result).toBe("match");
  });

  test("a changed status is reported with both codes", () => {
    const r = compareAnswers(jsonAnswer([], {}, 200), jsonAnswer([], {}, 503), OPTIONS);
    expect(r.differences).toEqual([{ path: "status", kind: "changed", primary: 200, shadow: 503 }]);
    expect(r.result).toBe("mismatch");
  });

  test("configured headers: changed, added and removed; others not compared", () => {
    const opts = { headers: ["content-type", "x-a", "x-b", "x-c"] };
    const p = jsonAnswer(1, { "x-a": "1", "x-b": "gone", "x-other": "p" });
    const s = jsonAnswer(1, { "x-a": "2", "x-c": "new", "x-other": "s", "content-type": "application/json" });
    expect(compareAnswers(p, s, opts).differences).toEqual([
      { path: "headers.content-type", kind: "changed", primary: "application/json; charset=utf-8", shadow: "application/json" },
      { path: "headers.x-a", kind: "changed", primary: "1", shadow: "2" },
      { path: "headers.x-b", kind: "removed", primary: "gone" },
      { path: "headers.x-c", kind: "added", shadow: "new" },
    ]);
  });

  test('headers "*" compares all but framing headers and ignoreHeaders; multi-valued headers joined', () => {
    const p = jsonAnswer(1, { date: "Mon", "content-length": "1", etag: "a", "x-pod": "p1" });
    const s = jsonAnswer(1, { date: "Tue", "content-length": "2", etag: "b", "x-pod": "p2" });
    const r = compareAnswers(p, s, { headers: ["*"], ignoreHeaders: ["x-pod"] });
    expect(r.differences).toEqual([{ path: "headers.etag", kind: "changed", primary: "a", shadow: "b" }]);
    const multi = compareAnswers({ ...p, headers: { "set-cookie": ["a=1", "b=2"] } }, { ...p, headers: { "set-cookie": ["a=1", "b=3"] } }, { headers: ["set-cookie"] });
    expect(multi.differences[0]).toMatchObject({ primary: "a=1, b=2", shadow: "a=1, b=3" });
  });

  test("a changed JSON field, nested and in arrays, with the exact path and both values", () => {
    const r = compareAnswers(
      jsonAnswer({ page: { n: 1 }, movies: movies("v1") }),
      jsonAnswer({ page: { n: 2 }, movies: movies("v1", (m, i) => { if (i === 2) m.title = "Ran (1985)"; }) }),
      OPTIONS,
    );
    expect(r.differences).toEqual([
      { path: "$.page.n", kind: "changed", primary: 1, shadow: 2 },
      { path: "$.movies[2].title", kind: "changed", primary: "Ran", shadow: "Ran (1985)" },
    ]);
    expect(r.patterns).toEqual(["$.page.n", "$.movies[*].title"]);
  });

  test("added and removed keys and array elements", () => {
    const r = compareAnswers(jsonAnswer({ a: 1, gone: { x: 1 }, list: [1, 2, 3] }), jsonAnswer({ a: 1, list: [1, 2], extra: [true] }), OPTIONS);
    expect(r.differences).toEqual([
      { path: "$.gone", kind: "removed", primary: { x: 1 } },
      { path: "$.list[2]", kind: "removed", primary: 3 },
      { path: "$.extra", kind: "added", shadow: [true] },
    ]);
  });

  test("type changes (number vs string, null vs object, array vs object)", () => {
    const r = compareAnswers(jsonAnswer({ n: 1, o: null, l: [] }), jsonAnswer({ n: "1", o: {}, l: {} }), OPTIONS);
    expect(r.differences).toEqual([
      { path: "$.n", kind: "type", primary: 1, shadow: "1" },
      { path: "$.o", kind: "type", primary: null, shadow: {} },
      { path: "$.l", kind: "type", primary: [], shadow: {} },
    ]);
  });

  test("odd keys are quoted in paths", () => {
    const r = compareAnswers(jsonAnswer({ "x-id": 1, "a b": { "it's": 1 } }), jsonAnswer({ "x-id": 2, "a b": { "it's": 2 } }), OPTIONS);
    expect(r.differences.map((d) => d.path)).toEqual(["$['x-id']", "$['a b']['it\\'s']"]);
  });

  test("non-JSON bodies are compared by length and SHA-256", () => {
    const r = compareAnswers(textAnswer("pod-a v1\n"), textAnswer("pod-bb v2\n"), OPTIONS);
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    expect(r.differences).toEqual([
      { path: "body", kind: "changed", primary: { bytes: 9, sha256: sha("pod-a v1\n"), text: "pod-a v1\n" }, shadow: { bytes: 10, sha256: sha("pod-bb v2\n"), text: "pod-bb v2\n" } },
    ]);
    expect(compareAnswers(textAnswer("same"), textAnswer("same"), OPTIONS).result).toBe("match");
    const bin = compareAnswers({ status: 200, headers: {}, body: Buffer.from([1, 2]) }, { status: 200, headers: {}, body: Buffer.from([1, 3]) }, { headers: [] });
    expect(bin.differences[0].primary).toEqual({ bytes: 2, sha256: createHash("sha256").update(Buffer.from([1, 2])).digest("hex") });
  });

  test("JSON content type that does not parse, or JSON on one side only, falls back to bytes", () => {
    const broken = { ...jsonAnswer(1), body: Buffer.from("{oops") };
    expect(compareAnswers(broken, jsonAnswer(1), OPTIONS).differences.map((d) => d.path)).toEqual(["body"]);
    const r = compareAnswers(jsonAnswer({ a: 1 }), textAnswer('{"a":2}'), OPTIONS);
    expect(r.differences.map((d) => d.path)).toEqual(["headers.content-type", "body"]);
  });

  test("+json content types are JSON", () => {
    expect(isJsonContentType("application/problem+json")).toBe(true);
    expect(isJsonContentType("Application/JSON; charset=utf-8")).toBe(true);
    expect(isJsonContentType("text/json-ish")).toBe(false);
    expect(isJsonContentType(undefined)).toBe(false);
  });

  test("ignored paths and headers are not reported (ignoring a node ignores its subtree)", () => {
    const p = jsonAnswer({ generatedAt: 1, meta: { pod: "a", n: 1 }, items: [{ id: 1, v: 1 }, { id: 2, v: 1 }] }, { "x-pod": "a" });
    const s = jsonAnswer({ generatedAt: 2, meta: { pod: "b" }, items: [{ id: 9, v: 1 }, { id: 8, v: 2 }] }, { "x-pod": "b" });
    const r = compareAnswers(p, s, { headers: ["content-type", "x-pod"], ignoreHeaders: ["x-pod"], ignorePaths: ["$.generatedAt", "$.meta", "$[*].id", "$.items[*].id"] });
    expect(r.differences).toEqual([{ path: "$.items[1].v", kind: "changed", primary: 1, shadow: 2 }]);
  });

  test("learned noise (normalized paths) is left out; a real difference is still reported", () => {
    const noise = new Set(["$[*].pod", "headers.x-pod"]);
    const p = jsonAnswer([{ pod: "a", rating: 8 }, { pod: "a", rating: 7 }], { "x-pod": "a" });
    const s = jsonAnswer([{ pod: "b", rating: 8 }, { pod: "b", rating: 9 }], { "x-pod": "b" });
    const r = compareAnswers(p, s, { headers: ["x-pod"] }, noise);
    expect(r.differences).toEqual([{ path: "$[1].rating", kind: "changed", primary: 7, shadow: 9 }]);
    expect(compareAnswers(textAnswer("a"), textAnswer("b"), OPTIONS, new Set(["body"])).result).toBe("match");
  });

  test("the status is compared even when noise lists it", () => {
    expect(compareAnswers(jsonAnswer(1, {}, 200), jsonAnswer(1, {}, 500), OPTIONS, new Set(["status"])).result).toBe("mismatch");
  });

  test("differences are capped; the rest is counted; values are cut", () => {
    const p = jsonAnswer(Array.from({ length: 100 }, (_, i) => ({ n: i, long: "x".repeat(1000) })));
    const s = jsonAnswer(Array.from({ length: 100 }, (_, i) => ({ n: i + 1, long: "y".repeat(1000) })));
    const r = compareAnswers(p, s, { headers: [], maxDifferences: 5, maxValueChars: 10 });
    expect(r.differences).toHaveLength(5);
    expect(r.omitted).toBe(195);
    expect(r.differences[1]).toEqual({ path: "$[0].long", kind: "changed", primary: "xxxxxxxxxx…", shadow: "yyyyyyyyyy…", truncated: true });
    expect(r.patterns).toEqual(["$[*].n", "$[*].long"]);
  });

  test("a big added subtree is previewed, not copied whole", () => {
    const big = Array.from({ length: 10000 }, (_, i) => ({ i }));
    const r = compareAnswers(jsonAnswer({}), jsonAnswer({ big }), { headers: [], maxValueChars: 50 });
    expect(r.differences[0].shadow).toBe(`${JSON.stringify(big).slice(0, 50)}…`);
    expect(r.differences[0].truncated).toBe(true);
  });

  test("nesting deeper than maxDepth is compared as one value; very deep bodies do not overflow the stack", () => {
    const nest = (depth: number, leaf: unknown) => {
      let v: unknown = leaf;
      for (let i = 0; i < depth; i++) v = { a: v };
      return v;
    };
    const r = compareAnswers(jsonAnswer(nest(10, 1)), jsonAnswer(nest(10, 2)), { headers: [], maxDepth: 3 });
    expect(r.differences).toHaveLength(1);
    expect(r.differences[0].path).toBe("$.a.a.a");
    const deepA = { ...jsonAnswer(0), body: Buffer.from(`${"[".repeat(50000)}1${"]".repeat(50000)}`) };
    const deepB = { ...jsonAnswer(0), body: Buffer.from(`${"[".repeat(50000)}2${"]".repeat(50000)}`) };
    expect(compareAnswers(deepA, deepB, { headers: [] }).differences.map((d) => d.path)).toEqual([`$${"[0]".repeat(64)}`]);
  });

  test("a storm of 100k differing fields stays bounded", () => {
    const p: Record<string, number> = {};
    const s: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) {
      p[`k${i}`] = i;
      s[`k${i}`] = -i - 1;
    }
    const r = compareAnswers(jsonAnswer(p), jsonAnswer(s), { headers: [] });
    expect(r.differences).toHaveLength(20);
    expect(r.omitted).toBe(100_000 - 20);
    expect(r.patterns.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(r).length).toBeLessThan(10_000);
  });

  test("compiled options give the same result", () => {
    const p = jsonAnswer({ t: 1, a: 1 });
    const s = jsonAnswer({ t: 2, a: 2 });
    const o = { headers: [], ignorePaths: ["$.t"] };
    expect(compareAnswers(p, s, compileCompareOptions(o))).toEqual(compareAnswers(p, s, o));
  });
});

test("deepEqual and preview", () => {
  expect(deepEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] })).toBe(true);
  expect(deepEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  expect(deepEqual([1], { 0: 1 })).toBe(false);
  expect(preview({ a: 1 }, 100)).toEqual({ value: { a: 1 }, truncated: false });
  expect(preview({ a: "xxxxxxxx" }, 8)).toEqual({ value: '{"a":"xx…', truncated: true });
});
