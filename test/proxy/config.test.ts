/** Config parsing and validation: pure, no sockets. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, parseMirrorProxyConfig, resolveUpstreamKey } from "../../workloads/mirror-proxy/src/config.ts";
import { checkRe2Regex, compileRe2, parseDuration } from "../../workloads/mirror-proxy/src/syntax.ts";
import { configText, DR } from "./helpers.ts";

const UP = { "app/v1": "http://127.0.0.1:9001", "app/v2": "http://127.0.0.1:9002" };

/** A VirtualService spec with one route to app/v1; `route` lines are appended to that route. */
const vsWith = (route: string, top = "") => `  hosts: ["*"]
${top}  http:
    - route:
        - destination: { host: app, subset: v1 }
${route}`;

function problems(text: string): string[] {
  try {
    parseMirrorProxyConfig(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message.split("\n").slice(1);
  }
  throw new Error("config was accepted");
}

describe("parseMirrorProxyConfig", () => {
  test("the README example parses, with defaults", () => {
    const text = readFileSync(join(__dirname, "../../workloads/mirror-proxy/examples/routing.yaml"), "utf8");
    const c = parseMirrorProxyConfig(text);
    expect(c.virtualServices.map((v) => v.name)).toEqual(["movies", "hostname"]);
    expect(c.destinationRules.map((d) => [d.name, d.subsets])).toEqual([["movies", ["v1", "v2"]], ["hostname", ["v1", "v2"]]]);
    expect(c.proxy).toMatchObject({ listen: 8080, admin: 9901, shadowHostSuffix: "-shadow", maxShadowInFlight: 256, maxMirrorBodyBytes: 1048576, shadowTimeoutMs: 5000 });
    expect(c.proxy.upstreams["hostname/v1"]).toEqual(["http://127.0.0.1:9003", "http://127.0.0.1:9005"]);
    expect(c.proxy.compare).toMatchObject({ routes: ["primary", "test-users"], ignorePaths: ["$[*].version"], noise: { samplePercent: 10, minSamples: 5 } });
  });

  test("defaults for the MirrorProxy knobs", () => {
    const c = parseMirrorProxyConfig(configText({ vs: vsWith(""), upstreams: UP }));
    expect(c.proxy).toEqual({ upstreams: UP, shadowHostSuffix: "-shadow", maxShadowInFlight: 256, maxMirrorBodyBytes: 1048576, shadowTimeoutMs: 5000 });
  });

  test.each(["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"])("accepts %s", (v) => {
    const text = configText({ vs: vsWith(""), upstreams: UP }).replaceAll("networking.istio.io/v1\n", `${v}\n`);
    expect(parseMirrorProxyConfig(text).virtualServices).toHaveLength(1);
  });

  test("an unknown apiVersion is an error", () => {
    const text = configText({ vs: vsWith(""), upstreams: UP }).replace("networking.istio.io/v1\nkind: VirtualService", "networking.istio.io/v2\nkind: VirtualService");
    expect(problems(text)).toEqual(["VirtualService/app: apiVersion: must be one of networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3 (got networking.istio.io/v2)"]);
  });

  test("the issue's example error message, exactly", () => {
    const text = configText({ vs: vsWith("      mirror: { host: app, subset: v2 }\n      mirrorPercentage: { value: 150 }\n"), upstreams: UP });
    expect(problems(text)).toEqual(["VirtualService/app: spec.http[0].mirrorPercentage.value: must be between 0 and 100 (got 150)"]);
  });

  test("an unknown field names the field and its value", () => {
    expect(problems(configText({ vs: vsWith("      mirorr: { host: app }\n"), upstreams: UP }))).toEqual([
      'VirtualService/app: spec.http[0].mirorr: unknown field (got {"host":"app"})',
    ]);
    expect(problems(configText({ vs: vsWith(""), upstreams: UP, proxy: "  shadowSuffix: x\n" }))).toEqual(["MirrorProxy: spec.shadowSuffix: unknown field (got x)"]);
  });

  test.each([
    ["fault", "      fault: { abort: { httpStatus: 500, percentage: { value: 10 } } }\n", "spec.http[0].fault: not supported by mirror-proxy (Istio fault injection)"],
    ["retries", "      retries: { attempts: 3 }\n", "spec.http[0].retries: not supported by mirror-proxy (Istio retries)"],
    ["redirect", "      redirect: { uri: /x }\n", "spec.http[0].redirect: not supported by mirror-proxy (Istio redirects)"],
    ["delegate", "      delegate: { name: other }\n", "spec.http[0].delegate: not supported by mirror-proxy (Istio delegation)"],
    ["rewrite", "      rewrite: { uri: /x }\n", "spec.http[0].rewrite: not supported by mirror-proxy (Istio rewrites)"],
    ["corsPolicy", "      corsPolicy: { allowOrigins: [{ exact: x }] }\n", "spec.http[0].corsPolicy: not supported by mirror-proxy (Istio CORS policies)"],
    ["headers", "      headers: { request: { set: { x: y } } }\n", "spec.http[0].headers: not supported by mirror-proxy (Istio header manipulation)"],
    ["directResponse", "      directResponse: { status: 503 }\n", "spec.http[0].directResponse: not supported by mirror-proxy (Istio direct responses)"],
  ])("rejects unsupported Istio field %s", (_name, yaml, expected) => {
    const [line] = problems(configText({ vs: vsWith(yaml), upstreams: UP }));
    expect(line.startsWith(`VirtualService/app: ${expected} (got `)).toBe(true);
  });

  test("rejects tcp/tls routes, match fields it cannot honour, and DestinationRule traffic policies", () => {
    const text = configText({
      vs: `  hosts: ["*"]\n  tcp: [{ route: [{ destination: { host: app } }] }]\n  http:\n    - match: [{ port: 80, sourceLabels: { a: b } }]\n      route:\n        - destination: { host: app, subset: v1 }\n`,
      upstreams: { ...UP, app: "http://127.0.0.1:9000" },
      drs: `${DR("app", "app")}  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }\n`,
    });
    const p = problems(text);
    expect(p.some((l) => l.startsWith("DestinationRule/app: spec.trafficPolicy: not supported"))).toBe(true);
    expect(p.some((l) => l.startsWith("VirtualService/app: spec.tcp: not supported by mirror-proxy (Istio TCP routes)"))).toBe(true);
    expect(p).toContain("VirtualService/app: spec.http[0].match[0].port: not supported by mirror-proxy (Istio listener port matching (the proxy has one listener)) (got 80)");
    expect(p.some((l) => l.startsWith("VirtualService/app: spec.http[0].match[0].sourceLabels: not supported"))).toBe(true);
  });

  test("gateways and exportTo are accepted (the proxy is the gateway)", () => {
    const text = configText({ vs: vsWith("", "  gateways: [demo/mirror-gateway]\n  exportTo: ['.']\n"), upstreams: UP });
    expect(parseMirrorProxyConfig(text).virtualServices[0].hosts).toEqual(["*"]);
  });

  test("mirror together with mirrors is an error, as in Istio", () => {
    const text = configText({ vs: vsWith("      mirror: { host: app, subset: v2 }\n      mirrors: [{ destination: { host: app, subset: v2 } }]\n"), upstreams: UP });
    expect(problems(text)).toEqual(["VirtualService/app: spec.http[0].mirrors: cannot be used together with mirror (as in Istio) (got 1)"]);
  });

  test("percentages outside 0-100 everywhere", () => {
    const text = configText({
      vs: `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n      mirror: { host: app, subset: v2 }\n      mirrorPercent: 101\n    - route: [{ destination: { host: app, subset: v1 } }]\n      mirrors: [{ destination: { host: app, subset: v2 }, percentage: { value: -1 } }]\n`,
      upstreams: UP,
    });
    expect(problems(text)).toEqual([
      "VirtualService/app: spec.http[0].mirrorPercent: must be between 0 and 100 (got 101)",
      "VirtualService/app: spec.http[1].mirrors[0].percentage.value: must be between 0 and 100 (got -1)",
    ]);
  });

  test.each([
    ["(unclosed", "spec.http[0].match[0].uri.regex: not a valid RE2 regex: "],
    ["/a(?=b)", "spec.http[0].match[0].uri.regex: not a valid RE2 regex: lookahead/lookbehind is not supported by RE2"],
    ["(a)\\\\1", "spec.http[0].match[0].uri.regex: not a valid RE2 regex: backreferences are not supported by RE2"],
  ])("bad regex %s", (re, expected) => {
    const text = configText({ vs: `  hosts: ["*"]\n  http:\n    - match: [{ uri: { regex: "${re}" } }]\n      route: [{ destination: { host: app, subset: v1 } }]\n`, upstreams: UP });
    const [line] = problems(text);
    expect(line).toContain(`VirtualService/app: ${expected}`);
    expect(line).toContain("(got ");
  });

  test("a destination or mirror without an upstream, and a subset missing from its DestinationRule", () => {
    const text = configText({
      vs: vsWith("      mirror: { host: app, subset: v3 }\n    - route: [{ destination: { host: other } }]\n"),
      upstreams: { "app/v1": UP["app/v1"] },
    });
    expect(problems(text)).toEqual([
      'VirtualService/app: spec.http[0].mirror: no upstream for "app/v3" in MirrorProxy spec.upstreams (got {"host":"app","subset":"v3"})',
      "VirtualService/app: spec.http[0].mirror.subset: subset not defined in DestinationRule/app (has v1, v2) (got v3)",
      'VirtualService/app: spec.http[1].route[0].destination: no upstream for "other" in MirrorProxy spec.upstreams (got {"host":"other"})',
    ]);
  });

  test("a subset with no DestinationRule for its host", () => {
    const text = configText({ vs: vsWith(""), upstreams: UP, drs: DR("x", "x") });
    expect(problems(text)).toEqual(['VirtualService/app: spec.http[0].route[0].destination.subset: no DestinationRule for host "app" defines subsets (got v1)']);
  });

  test("FQDN destinations resolve upstreams by exact host first, then short name", () => {
    expect(resolveUpstreamKey({ "app/v1": "a", "app.demo.svc.cluster.local/v1": "b" }, { host: "app.demo.svc.cluster.local", subset: "v1" })).toBe("app.demo.svc.cluster.local/v1");
    expect(resolveUpstreamKey({ "app/v1": "a" }, { host: "app.demo.svc.cluster.local", subset: "v1" })).toBe("app/v1");
    expect(resolveUpstreamKey({ app: "a" }, { host: "app.demo" })).toBe("app");
    expect(resolveUpstreamKey({ app: "a" }, { host: "app", subset: "v1" })).toBeUndefined();
    const text = configText({ vs: vsWith("").replace("host: app,", "host: app.demo.svc.cluster.local,"), upstreams: UP, drs: DR("app", "app.demo.svc.cluster.local") });
    expect(parseMirrorProxyConfig(text).virtualServices[0].http[0].route[0].destination.host).toBe("app.demo.svc.cluster.local");
  });

  test("every problem is listed at once, and the MirrorProxy document is required", () => {
    const text = `${DR("app", "app")}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: app }
spec:
  hosts: ["*"]
  http:
    - route: [{ destination: { host: app, subset: v1 }, weight: 50 }, { destination: { host: app, subset: v2 }, weight: 40 }]
      timeout: 5 seconds
      retries: { attempts: 2 }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
`;
    const p = problems(text);
    expect(p).toEqual(
      expect.arrayContaining([
        'VirtualService/app: spec.http[0].retries: not supported by mirror-proxy (Istio retries) (got {"attempts":2})',
        "Gateway/gw: kind: unsupported kind: expected VirtualService, DestinationRule, HTTPRoute or MirrorProxy (got Gateway)",
        "MirrorProxy: missing: the file needs one document with apiVersion traffic-mirroring/v1, kind MirrorProxy",
      ]),
    );
  });

  test("semantic checks: weights, timeout, hosts, header case, queryParams prefix, upstream URLs", () => {
    const text = configText({
      vs: `  hosts: ["*", "bad host"]
  http:
    - match: [{ headers: { X-User: { exact: a } }, queryParams: { q: { prefix: a } }, uri: { exact: /a, prefix: /b } }]
      route: [{ destination: { host: app, subset: v1 }, weight: 50 }, { destination: { host: app, subset: v2 }, weight: 40 }]
      timeout: 5 seconds
`,
      upstreams: { ...UP, "app/v2": "https://x" },
    });
    expect(problems(text)).toEqual([
      "MirrorProxy: spec.upstreams.app/v2: only http:// upstreams are supported (got https://x)",
      "VirtualService/app: spec.hosts[1]: must be a DNS name, `*` or `*.suffix` (got bad host)",
      'VirtualService/app: spec.http[0].match[0].uri: set only one of exact, prefix, regex (got {"exact":"/a","prefix":"/b"})',
      "VirtualService/app: spec.http[0].match[0].headers.X-User: header names must be lower-case (got X-User)",
      "VirtualService/app: spec.http[0].match[0].queryParams.q.prefix: prefix is not supported here (as in Istio); use exact or regex (got a)",
      "VirtualService/app: spec.http[0].route: weights must add up to 100 when there are several destinations (got [50,40])",
      "VirtualService/app: spec.http[0].timeout: must be a duration like 1.5s, 300ms or 1m (got 5 seconds)",
    ]);
  });

  test("type errors and YAML errors", () => {
    expect(problems(configText({ vs: vsWith(""), upstreams: UP, proxy: "  maxShadowInFlight: lots\n" }))).toEqual(["MirrorProxy: spec.maxShadowInFlight: must be a number (got lots)"]);
    expect(problems("a: [unclosed\n")[0]).toMatch(/^document\[0\]: YAML: /);
  });

  test("mirror_percent (proto spelling) is read as mirrorPercent", () => {
    const c = parseMirrorProxyConfig(configText({ vs: vsWith("      mirror: { host: app, subset: v2 }\n      mirror_percent: 7\n"), upstreams: UP }));
    expect(c.virtualServices[0].http[0].mirrorPercent).toBe(7);
  });

  test("importing the module has no side effects and the result is plain data", () => {
    const c = parseMirrorProxyConfig(configText({ vs: vsWith(""), upstreams: UP }));
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
  });
});

describe("syntax", () => {
  test("durations", () => {
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("300ms")).toBe(300);
    expect(parseDuration("1m30s")).toBe(90000);
    expect(parseDuration("0s")).toBe(0);
    expect(parseDuration("5")).toBeUndefined();
    expect(parseDuration("")).toBeUndefined();
  });

  test("RE2 regexes match the whole value", () => {
    expect(compileRe2("/a.*").test("/abc")).toBe(true);
    expect(compileRe2("/a").test("/ab")).toBe(false);
    expect(compileRe2("a|b").test("ab")).toBe(false); // anchored around the alternation
    expect(compileRe2("(?i)abc").test("ABC")).toBe(true);
    expect(compileRe2("(?P<v>v[12])").test("v2")).toBe(true);
    expect(compileRe2("[]a]+").test("]a")).toBe(true);
    expect(checkRe2Regex("a(?<=b)")).toMatch(/lookahead\/lookbehind/);
    expect(checkRe2Regex("(?<n>a)\\k<n>")).toMatch(/backreferences/);
    // RE2 constructs V8 lacks or reads differently work as in Envoy (re2js, regex.ts).
    expect(compileRe2("[[:alpha:]]+").test("abc")).toBe(true);
    expect(compileRe2("\\Qa.b\\E").test("a.b")).toBe(true);
    expect(compileRe2("\\Qa.b\\E").test("axb")).toBe(false);
    expect(checkRe2Regex("^(.*?;)?(user=test)(;.*)?$")).toBeUndefined();
  });
});
