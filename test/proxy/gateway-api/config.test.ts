/**
 * The proxy's HTTPRoute reader without sockets: what it accepts, what it refuses (one line
 * naming the field), and Gateway API's precedence across rules and routes.
 */
import { ConfigError, parseMirrorProxyConfig } from "../../../workloads/mirror-proxy/src/config.ts";
import { orderGatewayRoutes, parseHttpRouteDoc, type GatewayHttpRoute } from "../../../workloads/mirror-proxy/src/httpRoute.ts";

const PROXY = `apiVersion: traffic-mirroring/v1
kind: MirrorProxy
spec:
  upstreams:
    "echo-v1:8080": http://127.0.0.1:1
    echo-v2: http://127.0.0.1:2
`;

const route = (spec: string, name = "r") => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: demo }
spec:
${spec}`;

const parse = (...docs: string[]) => parseMirrorProxyConfig([...docs, PROXY].join("\n---\n"));
function problems(...docs: string[]): string[] {
  try {
    parse(...docs);
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split("\n").slice(1);
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("accepted", () => {
  test("an HTTPRoute alone is a complete routing file; backends resolve by service:port, then service", () => {
    const config = parse(
      route(`  parentRefs: [{ name: gw }]
  hostnames: [echo.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /a } }]
    filters:
    - { type: RequestMirror, requestMirror: { backendRef: { name: echo-v2, port: 8080 }, percent: 20 } }
    backendRefs: [{ name: echo-v1, port: 8080 }]`),
    );
    expect(config.virtualServices).toEqual([]);
    expect(config.httpRoutes).toHaveLength(1);
    expect(config.httpRoutes[0].rules[0].backendRefs).toEqual([{ name: "echo-v1", port: 8080, weight: 1 }]);
  });

  test("defaults: no rules -> one rule; no path -> PathPrefix /; a header match is Exact", () => {
    const { route: r } = parseHttpRouteDoc({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "x" },
      spec: { rules: [{ matches: [{ path: {}, headers: [{ name: "a", value: "b" }] }], backendRefs: [{ name: "s" }] }] },
    });
    expect(r!.rules[0].matches).toEqual([{ path: { type: "PathPrefix", value: "/" }, headers: [{ type: "Exact", name: "a", value: "b" }] }]);
  });
});

describe("refused, each with one line naming the field", () => {
  test.each([
    [`  rules: [{ backendRefs: [{ name: echo-v1, port: 8080 }], retry: { attempts: 2 } }]`, "HTTPRoute/r: spec.rules[0].retry: not supported by mirror-proxy (Gateway API retries)"],
    [`  rules: [{ backendRefs: [{ name: echo-v1, port: 8080 }], sessionPersistence: {} }]`, "HTTPRoute/r: spec.rules[0].sessionPersistence: not supported by mirror-proxy (Gateway API session persistence)"],
    [`  rules: [{ backendRefs: [{ name: echo-v1, port: 8080 }], filters: [{ type: CORS, cors: {} }] }]`, "HTTPRoute/r: spec.rules[0].filters[0].cors: not supported by mirror-proxy (Gateway API CORS) (got {})"],
    [`  rules: [{ backendRefs: [{ name: echo-v1, port: 8080 }], filters: [{ type: ExtensionRef }] }]`, "HTTPRoute/r: spec.rules[0].filters[0].type: not supported by mirror-proxy (Gateway API ExtensionRef filter) (got ExtensionRef)"],
    [`  rules: [{ backendRefs: [{ name: echo-v1, port: 8080, kind: ServiceImport }] }]`, 'HTTPRoute/r: spec.rules[0].backendRefs[0].kind: must be "Service" (got ServiceImport)'],
    [`  rules: [{ backendRefs: [{ name: nowhere, port: 80 }] }]`, 'HTTPRoute/r: spec.rules[0].backendRefs[0]: no upstream for "nowhere:80" or "nowhere" in MirrorProxy spec.upstreams (got {"name":"nowhere","port":80,"weight":1})'],
    [`  rules: [{ matches: [{ path: { type: RegularExpression, value: "(a" } }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, "HTTPRoute/r: spec.rules[0].matches[0].path.value:"],
    [`  rules: [{ matches: [{ path: { type: Exact, value: a } }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, 'HTTPRoute/r: spec.rules[0].matches[0].path.value: must start with / (got a)'],
    [`  rules: [{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: echo-v2 }, percent: 10, fraction: { numerator: 1 } } }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, "HTTPRoute/r: spec.rules[0].filters[0].requestMirror: set only one of percent, fraction"],
    [`  rules: [{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: echo-v2 }, percent: 101 } }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, "HTTPRoute/r: spec.rules[0].filters[0].requestMirror.percent: must be between 0 and 100 (got 101)"],
    [`  rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, "HTTPRoute/r: spec.rules[0].backendRefs: a rule with RequestRedirect answers the redirect itself: it must not list backendRefs"],
    [`  rules: [{ matches: [{ path: { type: Exact, value: /a } }], filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, "HTTPRoute/r: spec.rules[0].filters[0].urlRewrite.path: ReplacePrefixMatch needs exactly one match, of type PathPrefix (Gateway API) (got 1)"],
    [`  rules: [{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-A, value: "1" }, { name: x-a, value: "2" }] } }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, 'HTTPRoute/r: spec.rules[0].filters[0].requestHeaderModifier.set[1].name: duplicate header name (names are case-insensitive) (got x-a)'],
    [`  rules: [{ filters: [{ type: RequestMirror }], backendRefs: [{ name: echo-v1, port: 8080 }] }]`, "HTTPRoute/r: spec.rules[0].filters[0].requestMirror: required for type RequestMirror"],
    [`  hostnames: ["*"]\n  rules: [{ backendRefs: [{ name: echo-v1, port: 8080 }] }]`, "HTTPRoute/r: spec.hostnames[0]: must be a lower-case DNS name or `*.suffix`"],
    [`  rules: [{ backendRefs: [{ name: echo-v1, port: 8080, namespace: other }] }]`, 'HTTPRoute/r: spec.rules[0].backendRefs[0].namespace: cross-namespace backends are not supported (no ReferenceGrant here) (got other)'],
    [`  rules: [{ backendRefs: [{ name: echo-v1, port: 8080 }], timeouts: { request: soon } }]`, 'HTTPRoute/r: spec.rules[0].timeouts.request: must be a duration like 1s, 500ms or 1m (got soon)'],
  ])("%s", (spec, line) => {
    const found = problems(route(spec));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(line);
  });

  test("the wrong apiVersion", () => {
    expect(problems(route("  rules: []").replace("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha2"))).toEqual([
      'HTTPRoute/r: apiVersion: must be one of gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1 (got gateway.networking.k8s.io/v1alpha2)',
    ]);
  });
});

describe("Gateway API precedence (HTTPRouteRule: across rules and routes)", () => {
  const mk = (name: string, rules: object[], extra: Partial<GatewayHttpRoute> = {}): GatewayHttpRoute => {
    const { route: r, error } = parseHttpRouteDoc({ apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name, namespace: "ns" }, spec: { rules } });
    if (error) throw error;
    return { ...r!, ...extra };
  };
  const ids = (routes: GatewayHttpRoute[], host = "*") =>
    orderGatewayRoutes(routes)
      .find((v) => v.host === host)!
      .matches.map((m) => `${m.route.name}/${m.rule.name ?? m.ruleIndex}`);
  const b = [{ name: "s" }];

  test("Exact path > longest prefix > method > most headers > most query params > route age > name > rule order", () => {
    const first = mk("b-route", [
      { name: "catch-all", backendRefs: b },
      { name: "prefix-short", matches: [{ path: { value: "/a" } }], backendRefs: b },
      { name: "prefix-long", matches: [{ path: { value: "/a/b" } }], backendRefs: b },
      { name: "exact", matches: [{ path: { type: "Exact", value: "/a" } }], backendRefs: b },
      { name: "method", matches: [{ path: { value: "/a" }, method: "GET" }], backendRefs: b },
      { name: "two-headers", matches: [{ path: { value: "/a" }, headers: [{ name: "x", value: "1" }, { name: "y", value: "2" }] }], backendRefs: b },
      { name: "one-header", matches: [{ path: { value: "/a" }, headers: [{ name: "x", value: "1" }] }], backendRefs: b },
      { name: "query", matches: [{ path: { value: "/a" }, queryParams: [{ name: "q", value: "1" }] }], backendRefs: b },
    ]);
    const older = mk("z-route", [{ name: "same-as-catch-all", backendRefs: b }], { created: Date.parse("2020-01-01T00:00:00Z") });
    const sameAge = mk("a-route", [{ name: "same-as-catch-all", backendRefs: b }]);
    expect(ids([first, older, sameAge])).toEqual([
      "b-route/exact",
      "b-route/prefix-long",
      "b-route/method",
      "b-route/two-headers",
      "b-route/one-header",
      "b-route/query",
      "b-route/prefix-short",
      "z-route/same-as-catch-all", // oldest first
      "a-route/same-as-catch-all", // then by name
      "b-route/catch-all",
    ]);
  });

  test("a route for the exact hostname comes before wildcard and hostname-less routes for that host", () => {
    const exact = mk("exact", [{ matches: [{ path: { value: "/x" } }], backendRefs: b }], { hostnames: ["a.example.com"] });
    const wildcard = mk("wildcard", [{ matches: [{ path: { type: "Exact", value: "/x" } }], backendRefs: b }], { hostnames: ["*.example.com"] });
    const any = mk("any", [{ backendRefs: b }]);
    expect(ids([any, wildcard, exact], "a.example.com")).toEqual(["exact/0", "wildcard/0", "any/0"]);
    expect(ids([any, wildcard, exact], "*.example.com")).toEqual(["wildcard/0", "any/0"]);
    expect(ids([any, wildcard, exact], "*")).toEqual(["any/0"]);
  });
});
