/** JSON paths: parsing, canonical formatting, wildcards, index normalization. */
import {
  appendIndex,
  appendKey,
  checkJsonPath,
  compilePathMatcher,
  formatJsonPath,
  matchesPath,
  normalizeIndices,
  parseJsonPath,
} from "../../../workloads/mirror-proxy/src/compare/jsonPath.ts";

describe("parseJsonPath / formatJsonPath", () => {
  test.each([
    ["$", []],
    ["$.movies[2].title", [{ type: "key", key: "movies" }, { type: "index", index: 2 }, { type: "key", key: "title" }]],
    ["$['quoted key'][*]", [{ type: "key", key: "quoted key" }, { type: "any" }]],
    ['$["dq"].*', [{ type: "key", key: "dq" }, { type: "any" }]],
    ["$.x-request-id", [{ type: "key", key: "x-request-id" }]],
    ["$['it\\'s']", [{ type: "key", key: "it's" }]],
  ])("%s", (text, segments) => {
    expect(parseJsonPath(text)).toEqual(segments);
  });

  test("formats canonically: identifiers with a dot, anything else quoted", () => {
    expect(formatJsonPath(parseJsonPath('$["a"].b-c[0][*].*'))).toBe("$.a['b-c'][0][*][*]");
    expect(appendKey(appendIndex("$", 3), "it's")).toBe("$[3]['it\\'s']");
    expect(formatJsonPath(parseJsonPath(appendKey("$", "a'b\\c")))).toBe(appendKey("$", "a'b\\c"));
  });

  test.each([
    ["a.b", "must start with $"],
    ["$..a", "recursive descent"],
    ["$.a[", "expected [n], [*] or ['key']"],
    ["$['a", "unterminated quoted key"],
    ["$[01]", "expected [n]"],
    ["$.", "empty key"],
    ["$a", 'unexpected "a"'],
  ])("rejects %s", (text, why) => {
    expect(checkJsonPath(text)).toContain(why);
  });
  test("accepts a valid path", () => expect(checkJsonPath("$[*].id")).toBeUndefined());
});

describe("matching", () => {
  test("exact keys and indices", () => {
    expect(matchesPath("$.generatedAt", "$.generatedAt")).toBe(true);
    expect(matchesPath("$.generatedAt", "$.generatedAtX")).toBe(false);
    expect(matchesPath("$.a[1]", "$.a[1]")).toBe(true);
    expect(matchesPath("$.a[1]", "$.a[10]")).toBe(false);
  });

  test("[*] and .* match one step, any index or key", () => {
    expect(matchesPath("$[*].id", "$[7].id")).toBe(true);
    expect(matchesPath("$[*].id", "$.x.id")).toBe(true);
    expect(matchesPath("$.*.id", "$['odd key'].id")).toBe(true);
    expect(matchesPath("$[*].id", "$[7].meta.id")).toBe(false);
    expect(matchesPath("$[*].id", "$[7]")).toBe(false);
  });

  test("quoted keys match whatever the spelling; regex characters are literal", () => {
    expect(matchesPath("$['a.b']", '$["a.b"]')).toBe(true);
    expect(matchesPath("$['a.b']", "$.a.b")).toBe(false);
    expect(matchesPath("$['(x)+']", "$['(x)+']")).toBe(true);
  });

  test("one compiled matcher for several patterns", () => {
    const m = compilePathMatcher(["$.generatedAt", "$[*].id"]);
    expect(["$.generatedAt", "$[0].id", "$[12].id"].every(m)).toBe(true);
    expect(["$.id", "$[0].name", "$"].some(m)).toBe(false);
    expect(compilePathMatcher([])("$")).toBe(false);
  });
});

test("normalizeIndices folds every index to [*], leaves keys and non-JSON paths alone", () => {
  expect(normalizeIndices("$[3].requestId")).toBe("$[*].requestId");
  expect(normalizeIndices("$.a[0].b[12]")).toBe("$.a[*].b[*]");
  expect(normalizeIndices("$['k[3]'][4]")).toBe("$['k[3]'][*]");
  expect(normalizeIndices("headers.etag")).toBe("headers.etag");
  expect(normalizeIndices("status")).toBe("status");
});
