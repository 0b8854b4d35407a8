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
    ["fault", "      fault: { abort: { httpStatus: 500, percentage: { value: 10 } } }\n"],
    ["retries", "      retries: { attempts: 3 }\n"],
    ["rewrite", "      rewrite: { uri: /x }\n"],
    ["corsPolicy", "      corsPolicy: { allowOrigins: [{ exact: x }] }\n"],
    ["headers", "      headers: { request: { set: { x: y } } }\n"],
  ])("accepts the Istio route field %s", (_name, yaml) => {
    expect(parseMirrorProxyConfig(configText({ vs: vsWith(yaml), upstreams: UP })).virtualServices).toHaveLength(1);
  });

  test("tcp and tls routes and delegation are refused with one line each, and nothing else", () => {
    const tcpOnly = configText({ vs: `  hosts: ["*"]\n  tcp: [{ route: [{ destination: { host: app } }] }]\n`, upstreams: { ...UP, app: "http://127.0.0.1:9000" } });
    expect(problems(tcpOnly)).toEqual(['VirtualService/app: spec.tcp: not supported by mirror-proxy (Istio TCP routes: the proxy serves HTTP only) (got [{"route":[{"destination":{"host":"app"}}]}])']);
    const delegated = configText({ vs: `  hosts: ["*"]\n  http:\n    - delegate: { name: other }\n`, upstreams: UP });
    expect(problems(delegated)).toEqual([
      'VirtualService/app: spec.http[0].delegate: not supported by mirror-proxy (Istio delegation: a delegate VirtualService is resolved by istiod, not given to the proxy) (got {"name":"other"})',
    ]);
  });

  test("sourceLabels blocks are skipped (noted), port matches and DestinationRule traffic policies accepted", () => {
    const text = configText({
      vs: `  hosts: ["*"]\n  http:\n    - match: [{ port: 80, sourceLabels: { a: b } }]\n      route:\n        - destination: { host: app, subset: v1 }\n    - route: [{ destination: { host: app, subset: v2 } }]\n`,
      upstreams: UP,
      drs: `${DR("app", "app")}  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN }, tls: { mode: ISTIO_MUTUAL } }\n`,
    });
    const c = parseMirrorProxyConfig(text);
    expect(c.destinationRules[0].trafficPolicy?.loadBalancer?.simple).toBe("ROUND_ROBIN");
    expect(c.notes).toContain("DestinationRule/app: spec.trafficPolicy.tls.mode ISTIO_MUTUAL: no mesh here, the proxy speaks plain HTTP to these pods");
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

  test("a destination or mirror without an upstream", () => {
    const text = configText({
      vs: vsWith("      mirror: { host: app, subset: v3 }\n    - route: [{ destination: { host: other } }]\n"),
      upstreams: { "app/v1": UP["app/v1"] },
    });
    expect(problems(text)).toEqual([
      'VirtualService/app: spec.http[0].mirror: no upstream for "app/v3" in MirrorProxy spec.upstreams (got {"host":"app","subset":"v3"})',
      'VirtualService/app: spec.http[1].route[0].destination: no upstream for "other" in MirrorProxy spec.upstreams (got {"host":"other"})',
    ]);
  });

  test("a subset no DestinationRule defines is served by its upstream, with a note (Istio accepts it and answers 503)", () => {
    const c = parseMirrorProxyConfig(configText({ vs: vsWith("      mirror: { host: app, subset: v3 }\n"), upstreams: { ...UP, "app/v3": "http://127.0.0.1:9003" } }));
    expect(c.notes).toContain("VirtualService/app: spec.http[0].mirror.subset v3: not defined in DestinationRule/app (has v1, v2); served by spec.upstreams");
    const d = parseMirrorProxyConfig(configText({ vs: vsWith(""), upstreams: UP, drs: DR("x", "x") }));
    expect(d.notes).toContain('VirtualService/app: spec.http[0].route[0].destination.subset v1: no DestinationRule for host "app" in this file defines it; served by spec.upstreams');
  });

  test("FQDN destinations resolve upstreams by exact host first, then short name", () => {
    expect(resolveUpstreamKey({ "app/v1": "a", "app.demo.svc.cluster.local/v1": "b" }, { host: "app.demo.svc.cluster.local", subset: "v1" })).toBe("app.demo.svc.cluster.local/v1");
    expect(resolveUpstreamKey({ "app/v1": "a" }, { host: "app.demo.svc.cluster.local", subset: "v1" })).toBe("app/v1");
    expect(resolveUpstreamKey({ app: "a" }, { host: "app.demo" })).toBe("app");
    expect(resolveUpstreamKey({ app: "a" }, { host: "app", subset: "v1" })).toBeUndefined();
    const text = configText({ vs: vsWith("").replace("host: app,", "host: app.demo.svc.cluster.local,"), upstreams: UP, drs: DR("app", "app.demo.svc.cluster.local") });
    expect(parseMirrorProxyConfig(text).virtualServices[0].http[0].route?.[0].destination.host).toBe("app.demo.svc.cluster.local");
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
      retries: { attempts: 2, retryOn: sometimes }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: gw }
`;
    const p = problems(text);
    expect(p).toEqual(
      expect.arrayContaining([
        'VirtualService/app: spec.http[0].retries.retryOn: unknown condition "sometimes": use 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable or a status code (got sometimes)',
        "Deployment/gw: kind: unsupported kind: expected VirtualService, DestinationRule, HTTPRoute or MirrorProxy (or another Istio kind, ignored) (got Deployment)",
        "MirrorProxy: missing: the file needs one document with apiVersion traffic-mirroring/v1, kind MirrorProxy",
      ]),
    );
  });

  test("semantic checks: weights, timeout, hosts, match fields, upstream URLs", () => {
    const text = configText({
      vs: `  hosts: ["*", "bad host"]
  http:
    - match: [{ headers: { ":status": { exact: a } }, uri: { exact: /a, prefix: /b } }]
      route: [{ destination: { host: app, subset: v1 }, weight: 0 }, { destination: { host: app, subset: v2 }, weight: 0 }]
      timeout: 5 seconds
`,
      upstreams: { ...UP, "app/v2": "ftp://x" },
    });
    expect(problems(text)).toEqual([
      "MirrorProxy: spec.upstreams.app/v2: only http:// and https:// upstreams are supported (got ftp://x)",
      "VirtualService/app: spec.hosts[1]: must be a DNS name, `*` or `*.suffix` (got bad host)",
      'VirtualService/app: spec.http[0].match[0].uri: set only one of exact, prefix, regex (got {"exact":"/a","prefix":"/b"})',
      "VirtualService/app: spec.http[0].match[0].headers.:status: unknown pseudo-header: use :method, :authority, :path or :scheme (got :status)",
      "VirtualService/app: spec.http[0].route: several destinations need weights, not all 0 (got [0,0])",
      "VirtualService/app: spec.http[0].timeout: must be a duration like 1.5s, 300ms or 1m (got 5 seconds)",
    ]);
  });

  test("upper-case header keys, queryParams prefix and weights that do not add up to 100 are accepted, as in Istio", () => {
    const text = configText({
      vs: `  hosts: ["*"]
  http:
    - match: [{ headers: { X-User: { exact: a } }, queryParams: { q: { prefix: a } } }]
      route: [{ destination: { host: app, subset: v1 }, weight: 1 }, { destination: { host: app, subset: v2 }, weight: 3 }]
`,
      upstreams: UP,
    });
    expect(parseMirrorProxyConfig(text).virtualServices[0].http[0].route).toHaveLength(2);
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
