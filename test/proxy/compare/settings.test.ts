/** The spec.compare block: defaults, problems naming the field and the value, route cross-checks. */
import { parseDocument } from "yaml";
import { formatProblem, type VirtualService } from "../../../workloads/mirror-proxy/src/config.ts";
import { checkCompareRoutes, compareOptionsFrom, compileRouteSelector, validateCompareSettings } from "../../../workloads/mirror-proxy/src/compare/settings.ts";
import { compareAnswers } from "../../../workloads/mirror-proxy/src/compare/diff.ts";
import { DEFAULT_REDACT } from "../../../workloads/mirror-proxy/src/compare/redact.ts";
import { jsonAnswer } from "./helpers.ts";

const EXAMPLE = `
routes: ["movies-mirror-all"]
headers: [content-type]
ignoreHeaders: [date]
ignorePaths: ["$.generatedAt", "$[*].id"]
maxBodyBytes: 262144
maxInFlight: 64
noise: { samplePercent: 10, minSamples: 5 }
lastMismatches: 50
`;

const problems = (raw: unknown) => validateCompareSettings(raw).problems.map(formatProblem);

describe("validateCompareSettings", () => {
  test("the documented example is accepted as written", () => {
    const v = validateCompareSettings(parseDocument(EXAMPLE).toJS());
    expect(v.problems).toEqual([]);
    expect(v.settings).toEqual({
      routes: ["movies-mirror-all"], headers: ["content-type"], ignoreHeaders: ["date"], ignorePaths: ["$.generatedAt", "$[*].id"],
      maxBodyBytes: 262144, maxInFlight: 64, noise: { samplePercent: 10, minSamples: 5 }, lastMismatches: 50,
      redact: DEFAULT_REDACT,
    });
  });

  test("absent: comparison off; empty: every default", () => {
    expect(validateCompareSettings(undefined)).toEqual({ settings: undefined, problems: [] });
    expect(validateCompareSettings({}).settings).toEqual({
      routes: ["*"], headers: ["content-type"], ignoreHeaders: [], ignorePaths: [], maxBodyBytes: 262144, maxInFlight: 64, lastMismatches: 50,
      redact: DEFAULT_REDACT,
    });
    expect(validateCompareSettings({ noise: {} }).settings?.noise).toEqual({ samplePercent: 10, minSamples: 5 });
  });

  test("every problem names the field and the value", () => {
    expect(problems({
      routes: [], headers: ["Content-Type"], ignoreHeaders: "date", ignorePaths: ["$..id", "id"], maxBodyBytes: -1, maxInFlight: 1.5,
      noise: { samplePercent: 150, minSamples: 0, every: 3 }, lastMismatches: "50", diffy: true,
    })).toEqual([
      'MirrorProxy: spec.compare.routes: must list at least one route name, or "*" for every mirrored route (got [])',
      "MirrorProxy: spec.compare.headers[0]: must be a lower-case header name (got Content-Type)",
      "MirrorProxy: spec.compare.ignoreHeaders: must be a list (got date)",
      "MirrorProxy: spec.compare.ignorePaths[0]: not a supported JSON path: recursive descent (..) is not supported at position 1 (got $..id)",
      "MirrorProxy: spec.compare.ignorePaths[1]: not a supported JSON path: must start with $ at position 0 (got id)",
      "MirrorProxy: spec.compare.maxBodyBytes: must be at least 0 (got -1)",
      "MirrorProxy: spec.compare.maxInFlight: must be an integer (got 1.5)",
      "MirrorProxy: spec.compare.noise.samplePercent: must be between 0 and 100 (got 150)",
      "MirrorProxy: spec.compare.noise.minSamples: must be at least 1 (got 0)",
      "MirrorProxy: spec.compare.noise.every: unknown field (got 3)",
      'MirrorProxy: spec.compare.lastMismatches: must be a number (got 50)',
      "MirrorProxy: spec.compare.diffy: unknown field (got true)",
    ]);
  });

  test("not a mapping; contradictions between headers and ignoreHeaders", () => {
    expect(problems(true)).toEqual(["MirrorProxy: spec.compare: must be a mapping (got true)"]);
    expect(problems({ headers: ["etag", "date"], ignoreHeaders: ["date"] })).toEqual(["MirrorProxy: spec.compare.headers[1]: also listed in ignoreHeaders; list it in one of them (got date)"]);
    expect(problems({ headers: ["*", "etag"] })).toEqual(['MirrorProxy: spec.compare.headers: "*" already compares every header; list it alone (got ["*","etag"])']);
    expect(problems({ headers: ["*"], ignoreHeaders: ["x-pod"] })).toEqual([]);
  });

  test("the document and the path prefix can be chosen by the caller", () => {
    expect(validateCompareSettings({ maxInFlight: -1 }, "MirrorProxy/edge", "spec.compare").problems[0]).toEqual({ document: "MirrorProxy/edge", path: "spec.compare.maxInFlight", problem: "must be at least 0", value: -1 });
  });

  test("the settings drive the diff", () => {
    const settings = validateCompareSettings(parseDocument(EXAMPLE).toJS()).settings!;
    const r = compareAnswers(jsonAnswer({ generatedAt: 1, n: 1 }), jsonAnswer({ generatedAt: 2, n: 2 }), compareOptionsFrom(settings));
    expect(r.differences.map((d) => d.path)).toEqual(["$.n"]);
  });
});

describe("routes", () => {
  const dest = { host: "movies", subset: "v1" };
  const vs: VirtualService[] = [
    { name: "movies", hosts: ["*"], http: [{ name: "movies-mirror-all", route: [{ destination: dest }], mirror: { host: "movies", subset: "v2" } }, { route: [{ destination: dest }] }] },
    { name: "hostname", hosts: ["hostname.example.com"], http: [{ route: [{ destination: dest }], mirrors: [{ destination: { host: "movies", subset: "v2" } }] }] },
  ];
  const settings = (routes: string[]) => validateCompareSettings({ routes }).settings!;

  test("names, route ids and * are accepted; unknown and non-mirroring routes are problems", () => {
    expect(checkCompareRoutes(settings(["movies-mirror-all", "hostname/0", "*"]), vs)).toEqual([]);
    expect(checkCompareRoutes(settings(["movies/1", "nope"]), vs).map(formatProblem)).toEqual([
      "MirrorProxy: spec.compare.routes[0]: this route does not mirror, so there is nothing to compare (got movies/1)",
      "MirrorProxy: spec.compare.routes[1]: no HTTPRoute has this name (use a route name, <VirtualService>/<name or index>, or *) (got nope)",
    ]);
  });

  test("the selector takes the route ids the proxy uses as metrics labels", () => {
    const byName = compileRouteSelector(["movies-mirror-all"]);
    expect(byName("movies/movies-mirror-all")).toBe(true);
    expect(byName("hostname/0")).toBe(false);
    expect(compileRouteSelector(["hostname/0"])("hostname/0")).toBe(true);
    expect(compileRouteSelector(["*"])("anything/3")).toBe(true);
  });
});
