/**
 * Conformance-style tests of the proxy's HTTPRoute route actions (filters other than
 * RequestMirror), over real sockets: the same cases as kubernetes-sigs/gateway-api
 * `conformance/tests` (each `describe` names the test it follows), with manifests of our
 * own; matching, weights and mirroring are in conformance.test.ts.
 */
import { binomialAcceptance } from "../../../local/lib/stats.ts";
import { many, waitFor } from "../helpers.ts";
import { backend, route, useConformanceProxy } from "./conformanceHarness.ts";

const MANIFESTS = [
  route(
    "all-backends-weight-zero",
    "zero.example",
    `  - backendRefs: [${backend(1, ", weight: 0")}, ${backend(2, ", weight: 0")}]`,
  ),
  route(
    "request-mirror",
    "mirror.example",
    `  - matches: [{ path: { type: PathPrefix, value: /mirror-and-modify-headers } }]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{ name: X-Header-Set, value: set-overwrites-values }]
        add: [{ name: X-Header-Add, value: header-val-1 }, { name: X-Header-Add-Append, value: header-val-2 }]
        remove: [X-Header-Remove]
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(2)} } }
    backendRefs: [${backend(1)}]`,
  ),
  route(
    "request-percentage-mirror",
    "percent.example",
    `  - matches: [{ path: { type: PathPrefix, value: /percent-multi-mirror-and-modify-headers } }]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: { set: [{ name: X-Header-Set, value: set-overwrites-values }], remove: [X-Header-Remove] }
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(2)}, percent: 35 } }
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(3)}, percent: 50 } }
    backendRefs: [${backend(1)}]`,
  ),
  route(
    "redirect-path",
    "redirect.example",
    `  - matches: [{ path: { type: PathPrefix, value: /original-prefix } }]
    filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } } }]
  - matches: [{ path: { type: PathPrefix, value: /full } }]
    filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /full-path-replacement } } }]
  - matches: [{ path: { type: PathPrefix, value: /path-and-host } }]
    filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org, path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } } }]
  - matches: [{ path: { type: PathPrefix, value: /path-and-status } }]
    filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301, path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } } }]
  - matches: [{ path: { type: PathPrefix, value: /full-path-and-host } }]
    filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org, path: { type: ReplaceFullPath, replaceFullPath: /replacement-full } } }]
  - matches: [{ path: { type: PathPrefix, value: /full-path-and-status } }]
    filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301, path: { type: ReplaceFullPath, replaceFullPath: /replacement-full } } }]
  - matches: [{ path: { type: PathPrefix, value: /scheme } }]
    filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }]
  - matches: [{ path: { type: PathPrefix, value: /port } }]
    filters: [{ type: RequestRedirect, requestRedirect: { port: 8083 } }]
  - matches: [{ path: { type: PathPrefix, value: /hostname-and-status } }]
    filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org, statusCode: 301 } }]`,
  ),
  route(
    "rewrite-path",
    "rewrite.example",
    `  - matches: [{ path: { type: PathPrefix, value: /prefix/one } }]
    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /one } } }]
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /strip-prefix } }]
    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }]
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /full/one } }]
    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /one } } }]
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /full/rewrite-path-and-modify-headers } }]
    filters:
    - { type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /test } } }
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{ name: X-Header-Set, value: set-overwrites-values }]
        add: [{ name: X-Header-Add, value: header-val-1 }]
        remove: [X-Header-Remove]
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /host } }]
    filters: [{ type: URLRewrite, urlRewrite: { hostname: one.example.org } }]
    backendRefs: [${backend(2)}]`,
  ),
  route(
    "response-header-modifier",
    "response.example",
    `  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{ name: X-Header-Set, value: set-overwrites-values }]
        add: [{ name: X-Header-Add, value: header-val-1 }]
        remove: [X-Upstream]
    backendRefs: [${backend(1)}]`,
  ),
];

const { backends: b, get, servedBy, reset, settled } = useConformanceProxy(MANIFESTS);

describe("HTTPRouteAllBackendsWeightZero (httproute-all-backends-weight-zero.yaml)", () => {
  test("every weight 0: 500", async () => {
    expect((await get("zero.example", "/")).status).toBe(500);
  });
});

describe("HTTPRouteRequestMirror (httproute-request-mirror.yaml), its header-modifying rule", () => {
  test("the backend sees the modified headers, and the copy is sent", async () => {
    reset();
    const r = await get("mirror.example", "/mirror-and-modify-headers", { "X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1", "X-Header-Set": "set-val" });
    expect(r.status).toBe(200);
    expect(b.v1.seen[0].headers).toMatchObject({ "x-header-add": "header-val-1", "x-header-add-append": "append-val-1, header-val-2", "x-header-set": "set-overwrites-values" });
    expect(b.v1.seen[0].headers["x-header-remove"]).toBeUndefined();
    await waitFor(() => b.v2.seen.length === 1, 5000, "the copy");
    expect(b.v2.seen[0].url).toBe("/mirror-and-modify-headers");
  });
});

describe("HTTPRouteRequestPercentageMirror (httproute-request-percentage-mirror.yaml): with a RequestHeaderModifier", () => {
  test("two mirrors at 35 % and 50 %; the backend sees the modified headers", async () => {
    reset();
    const N = 500;
    const replies = await many(N, 10, () => get("percent.example", "/percent-multi-mirror-and-modify-headers", { "X-Header-Remove": "x" }));
    expect(replies.every((r) => r.status === 200 && r.headers["x-upstream"] === "infra-backend-v1")).toBe(true);
    await settled(() => b.v2.seen.length + b.v3.seen.length);
    for (const [u, percent] of [[b.v2, 35], [b.v3, 50]] as const) {
      const { low, high } = binomialAcceptance(N, percent, 1e-6);
      expect(u.seen.length).toBeGreaterThanOrEqual(low);
      expect(u.seen.length).toBeLessThanOrEqual(high);
    }
    expect(b.v1.seen.every((s) => s.headers["x-header-set"] === "set-overwrites-values" && s.headers["x-header-remove"] === undefined)).toBe(true);
  });
});

describe("HTTPRouteRedirectPath / HostAndStatus / Scheme / Port (httproute-redirect-*.yaml)", () => {
  test.each([
    ["/original-prefix/lemon", 302, "http://redirect.example/replacement-prefix/lemon"],
    ["/full/path/original", 302, "http://redirect.example/full-path-replacement"],
    ["/path-and-host", 302, "http://example.org/replacement-prefix"],
    ["/path-and-status", 301, "http://redirect.example/replacement-prefix"],
    ["/full-path-and-host", 302, "http://example.org/replacement-full"],
    ["/full-path-and-status", 301, "http://redirect.example/replacement-full"],
    ["/scheme?q=1", 302, "https://redirect.example/scheme?q=1"],
    ["/port", 302, "http://redirect.example:8083/port"],
    ["/hostname-and-status", 301, "http://example.org/hostname-and-status"],
  ])("%s -> %s %s", async (path, status, location) => {
    const r = await get("redirect.example", path);
    expect([r.status, r.headers.location]).toEqual([status, location]);
  });

  test("no backend was asked", () => {
    expect(b.v1.seen.filter((s) => s.headers.host === "redirect.example")).toEqual([]);
  });
});

describe("HTTPRouteRewritePath / HTTPRouteRewriteHost (httproute-rewrite-*.yaml)", () => {
  test.each([
    ["/prefix/one/two", "/one/two"],
    ["/prefix/one", "/one"],
    ["/strip-prefix/three", "/three"],
    ["/strip-prefix", "/"],
    ["/full/one/two", "/one"],
    ["/full/one/two?x=1", "/one?x=1"],
  ])("%s -> the backend sees %s", async (path, seen) => {
    reset();
    expect((await get("rewrite.example", path)).status).toBe(200);
    expect(b.v1.seen.map((s) => s.url)).toEqual([seen]);
  });

  test("rewrite and header modification together", async () => {
    reset();
    await get("rewrite.example", "/full/rewrite-path-and-modify-headers/test", { "X-Header-Remove": "remove-val", "X-Header-Set": "set-val" });
    expect(b.v1.seen[0].url).toBe("/test");
    expect(b.v1.seen[0].headers).toMatchObject({ "x-header-add": "header-val-1", "x-header-set": "set-overwrites-values" });
    expect(b.v1.seen[0].headers["x-header-remove"]).toBeUndefined();
  });

  test("hostname rewrite: the backend sees the new Host", async () => {
    reset();
    await get("rewrite.example", "/host/x");
    expect(b.v2.seen.map((s) => [s.url, s.headers.host])).toEqual([["/host/x", "one.example.org"]]);
  });
});

describe("HTTPRouteResponseHeaderModifier (httproute-response-header-modifier.yaml)", () => {
  test("set, add and remove on the answer", async () => {
    const r = await get("response.example", "/");
    expect(r.status).toBe(200);
    expect(r.headers).toMatchObject({ "x-header-set": "set-overwrites-values", "x-header-add": "header-val-1" });
    expect(r.headers["x-upstream"]).toBeUndefined();
  });
});

