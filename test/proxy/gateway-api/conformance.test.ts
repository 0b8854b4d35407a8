/**
 * Conformance-style tests of the proxy's HTTPRoute support, over real sockets: the same
 * cases as kubernetes-sigs/gateway-api `conformance/tests` (each `describe` names the test
 * it follows), with manifests of our own. Each manifest gets its own hostname so the routes
 * do not meet; the backends are echo servers `infra-backend-v1..v3` answering their name.
 */
import { binomialAcceptance } from "../../../local/lib/stats.ts";
import { many, waitFor, type Upstream } from "../helpers.ts";
import { backend, route, useConformanceProxy } from "./conformanceHarness.ts";

const MANIFESTS = [
  route(
    "matching",
    "matching.example",
    `  - matches: [{ path: { type: PathPrefix, value: / } }, { headers: [{ name: version, value: one }] }]
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /v2 } }, { headers: [{ name: version, value: two }] }]
    backendRefs: [${backend(2)}]`,
  ),
  route(
    "exact-path-matching",
    "exact.example",
    `  - matches: [{ path: { type: Exact, value: /one } }]
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: Exact, value: /two } }]
    backendRefs: [${backend(2)}]`,
  ),
  route(
    "path-match-order",
    "order.example",
    `  - matches: [{ path: { type: PathPrefix, value: /match } }]
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /match/prefix } }]
    backendRefs: [${backend(2)}]
  - matches: [{ path: { type: Exact, value: /match/exact } }]
    backendRefs: [${backend(3)}]
  - matches: [{ path: { type: RegularExpression, value: "/regex/[0-9]+" } }]
    backendRefs: [${backend(3)}]`,
  ),
  route(
    "header-matching",
    "headers.example",
    `  - matches: [{ headers: [{ name: version, value: one }] }]
    backendRefs: [${backend(1)}]
  - matches: [{ headers: [{ name: version, value: two }] }]
    backendRefs: [${backend(2)}]
  - matches: [{ headers: [{ name: version, value: two }, { name: color, value: orange }] }]
    backendRefs: [${backend(1)}]
  - matches: [{ headers: [{ name: color, value: blue }] }, { headers: [{ name: color, value: green }] }]
    backendRefs: [${backend(1)}]
  - matches: [{ headers: [{ name: color, value: red }] }, { headers: [{ name: color, value: yellow }] }]
    backendRefs: [${backend(2)}]
  - matches: [{ headers: [{ name: flavor, type: RegularExpression, value: "ch.*late" }] }]
    backendRefs: [${backend(3)}]`,
  ),
  route(
    "query-param-matching",
    "query.example",
    `  - matches: [{ queryParams: [{ name: animal, value: whale }] }]
    backendRefs: [${backend(1)}]
  - matches: [{ queryParams: [{ name: animal, value: dolphin }] }]
    backendRefs: [${backend(2)}]
  - matches: [{ queryParams: [{ name: animal, value: dolphin }, { name: color, value: blue }] }]
    backendRefs: [${backend(3)}]`,
  ),
  route(
    "method-matching",
    "method.example",
    `  - matches: [{ method: POST }]
    backendRefs: [${backend(1)}]
  - matches: [{ method: GET }]
    backendRefs: [${backend(2)}]`,
  ),
  route(
    "weighted-backends",
    "weight.example",
    `  - backendRefs: [${backend(1, ", weight: 70")}, ${backend(2, ", weight: 30")}, ${backend(3, ", weight: 0")}]`,
  ),
  route(
    "request-mirror",
    "mirror.example",
    `  - matches: [{ path: { type: PathPrefix, value: /mirror } }]
    filters:
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(2)} } }
    backendRefs: [${backend(1)}]`,
  ),
  route(
    "request-multiple-mirrors",
    "multi.example",
    `  - matches: [{ path: { type: PathPrefix, value: /multi-mirror } }]
    filters:
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(2)} } }
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(3)} } }
    backendRefs: [${backend(1)}]`,
  ),
  route(
    "request-percentage-mirror",
    "percent.example",
    `  - matches: [{ path: { type: PathPrefix, value: /percent-mirror } }]
    filters:
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(2)}, percent: 20 } }
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /percent-mirror-fraction } }]
    filters:
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(2)}, fraction: { numerator: 25, denominator: 50 } } }
    backendRefs: [${backend(1)}]
  - matches: [{ path: { type: PathPrefix, value: /percent-multi-mirror-and-modify-headers } }]
    filters:
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(2)}, percent: 35 } }
    - { type: RequestMirror, requestMirror: { backendRef: ${backend(3)}, percent: 50 } }
    backendRefs: [${backend(1)}]`,
  ),
];

const { backends: b, get, servedBy, reset, settled } = useConformanceProxy(MANIFESTS);

describe("HTTPRouteMatching (httproute-matching.yaml)", () => {
  test.each([
    ["/", {}, "infra-backend-v1"],
    ["/example", {}, "infra-backend-v1"],
    ["/", { version: "one" }, "infra-backend-v1"],
    ["/v2", {}, "infra-backend-v2"],
    ["/v2/example", {}, "infra-backend-v2"],
    ["/", { version: "two" }, "infra-backend-v2"],
    // PathPrefix is element-wise: /v2example is not under /b.v2.
    ["/v2example", {}, "infra-backend-v1"],
  ])("%s %j -> %s", async (path, headers, want) => {
    expect(await servedBy("matching.example", path, headers)).toBe(want);
  });
});

describe("HTTPRouteExactPathMatching (httproute-exact-path-matching.yaml)", () => {
  test.each([
    ["/one", "infra-backend-v1"],
    ["/two", "infra-backend-v2"],
    ["/", 404],
    ["/one/example", 404],
    ["/two/", 404],
  ])("%s -> %s", async (path, want) => {
    expect(await servedBy("exact.example", path)).toBe(want);
  });
});

describe("HTTPRoutePathMatchOrder (precedence: Exact > longest prefix; regex)", () => {
  test.each([
    ["/match/exact", "infra-backend-v3"],
    ["/match/exact/one", "infra-backend-v1"], // Exact /match/exact does not take it: the longest prefix is /match
    ["/match/prefix/one", "infra-backend-v2"],
    ["/match/prefix", "infra-backend-v2"],
    ["/match/one", "infra-backend-v1"],
    ["/regex/123", "infra-backend-v3"],
    ["/regex/abc", 404],
  ])("%s -> %s", async (path, want) => {
    expect(await servedBy("order.example", path)).toBe(want);
  });
});

describe("HTTPRouteHeaderMatching (httproute-header-matching.yaml)", () => {
  test.each([
    [{ version: "one" }, "infra-backend-v1"],
    [{ version: "two" }, "infra-backend-v2"],
    [{ version: "two", color: "orange" }, "infra-backend-v1"],
    [{ version: "two", color: "blue" }, "infra-backend-v2"],
    [{ color: "orange" }, 404],
    [{ "some-other-header": "one" }, 404],
    [{ color: "blue" }, "infra-backend-v1"],
    [{ color: "green" }, "infra-backend-v1"],
    [{ color: "red" }, "infra-backend-v2"],
    [{ color: "yellow" }, "infra-backend-v2"],
    [{ color: "purple" }, 404],
    // Header names are case-insensitive; a RegularExpression match takes the whole value (RE2).
    [{ VERSION: "one" }, "infra-backend-v1"],
    [{ flavor: "chocolate" }, "infra-backend-v3"],
    [{ flavor: "chocolate chip" }, 404],
  ])("%j -> %s", async (headers, want) => {
    expect(await servedBy("headers.example", "/", headers)).toBe(want);
  });
});

describe("HTTPRouteQueryParamMatching (httproute-query-param-matching.yaml)", () => {
  test.each([
    ["/?animal=whale", "infra-backend-v1"],
    ["/?animal=dolphin", "infra-backend-v2"],
    ["/?animal=dolphin&color=blue", "infra-backend-v3"],
    ["/?ANIMAL=whale", 404],
    ["/?animal=shark", 404],
  ])("%s -> %s", async (path, want) => {
    expect(await servedBy("query.example", path)).toBe(want);
  });
});

describe("HTTPRouteMethodMatching (httproute-method-matching.yaml)", () => {
  test.each([
    ["POST", "infra-backend-v1"],
    ["GET", "infra-backend-v2"],
    ["HEAD", 404],
  ])("%s -> %s", async (method, want) => {
    expect(await servedBy("method.example", "/", {}, method)).toBe(want);
  });
});

describe("HTTPRouteWeight (httproute-weight.yaml)", () => {
  test("70 / 30 / 0: each backend's share within exact binomial bounds, none to the weight-0 backend", async () => {
    reset();
    const n = 500;
    const replies = await many(n, 10, () => get("weight.example", "/"));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const share = (name: string) => replies.filter((r) => r.headers["x-upstream"] === name).length;
    const b1 = binomialAcceptance(n, 70, 1e-6);
    expect(share("infra-backend-v1")).toBeGreaterThanOrEqual(b1.low);
    expect(share("infra-backend-v1")).toBeLessThanOrEqual(b1.high);
    expect(share("infra-backend-v1") + share("infra-backend-v2")).toBe(n);
    expect(share("infra-backend-v3")).toBe(0);
  });

});

describe("HTTPRouteRequestMirror (httproute-request-mirror.yaml)", () => {
  test("v1 answers; v2 gets a copy of the same request", async () => {
    reset();
    const r = await get("mirror.example", "/mirror");
    expect([r.status, r.headers["x-upstream"]]).toEqual([200, "infra-backend-v1"]);
    await waitFor(() => b.v2.seen.length === 1, 5000, "the copy");
    expect(b.v2.seen[0].url).toBe("/mirror");
    expect(b.v1.seen.map((s) => s.url)).toEqual(["/mirror"]);
  });

});

describe("HTTPRouteRequestMultipleMirrors (httproute-request-multiple-mirrors.yaml)", () => {
  test("v1 answers; v2 and v3 each get a copy", async () => {
    reset();
    const r = await get("multi.example", "/multi-mirror");
    expect(r.headers["x-upstream"]).toBe("infra-backend-v1");
    await waitFor(() => b.v2.seen.length === 1 && b.v3.seen.length === 1, 5000, "both copies");
    expect([b.v2.seen[0].url, b.v3.seen[0].url]).toEqual(["/multi-mirror", "/multi-mirror"]);
  });
});

describe("HTTPRouteRequestPercentageMirror (httproute-request-percentage-mirror.yaml)", () => {
  const N = 500;
  async function copies(path: string, expectCopies: (u: Upstream) => number) {
    reset();
    const replies = await many(N, 10, () => get("percent.example", path));
    expect(replies.every((r) => r.status === 200 && r.headers["x-upstream"] === "infra-backend-v1")).toBe(true);
    // Copies are fire-and-forget: count once no copy has arrived for 200 ms.
    await settled(() => b.v2.seen.length + b.v3.seen.length);
    return [b.v2, b.v3].map(expectCopies);
  }
  const within = (count: number, percent: number) => {
    const { low, high } = binomialAcceptance(N, percent, 1e-6);
    expect(count).toBeGreaterThanOrEqual(low);
    expect(count).toBeLessThanOrEqual(high);
  };

  test("percent: 20", async () => {
    const [toV2, toV3] = await copies("/percent-mirror", (u) => u.seen.length);
    within(toV2, 20);
    expect(toV3).toBe(0);
  });

  test("fraction: 25/50", async () => {
    const [toV2] = await copies("/percent-mirror-fraction", (u) => u.seen.length);
    within(toV2, 50);
  });

  test("two mirrors at 35 % and 50 %", async () => {
    const [toV2, toV3] = await copies("/percent-multi-mirror-and-modify-headers", (u) => u.seen.length);
    within(toV2, 35);
    within(toV3, 50);
  });
});

describe("hostnames", () => {
  test("a Host no HTTPRoute names: 404", async () => {
    expect((await get("nowhere.example", "/")).status).toBe(404);
  });
});
