/**
 * What Istio documents for each manifest of the corpus (../shared/istio-corpus) and for our
 * own manifests (manifests/): which request goes where, with which status and headers. The
 * sources: the istio.io tasks each bookinfo sample belongs to (request routing, fault
 * injection, traffic shifting, ingress gateways, egress TLS origination, circuit breaking),
 * the istio/api reference (virtual_service.proto, destination_rule.proto), and, for the
 * manifests cut out of istio/istio's tests/integration/pilot/common/routing.go, the checks
 * that very test makes. `fields` names the Istio fields a case exercises (the README's
 * supported-fields table is checked against them).
 */
import net from "node:net";
import tls from "node:tls";
import { expect } from "@jest/globals";
import type { TemplateVars } from "./render.ts";
import { ABSURD_HEADER } from "./render.ts";
import { call, type Answer, type Served } from "./harness.ts";
import { startTlsUpstream } from "./tls.ts";

export interface Probe {
  name: string;
  req: { method?: string; path?: string; host?: string; headers?: Record<string, string>; body?: string };
  status: number;
  /** The destination key that answered (its x-upstream header); null: the proxy answered itself. */
  upstream?: string | null;
  /** What that upstream received. */
  seenPath?: string;
  seenHeaders?: Record<string, string | undefined>;
  /** Response headers (undefined = absent). */
  headers?: Record<string, string | undefined>;
  body?: string;
  minMs?: number;
  maxMs?: number;
}

export interface Case {
  /** Corpus file name, or `own:<file>` for manifests/<file>. */
  file: string;
  /** Template variants (Go-template manifests of istio's integration tests). */
  variants?: TemplateVars[];
  /** Refused: exactly one problem line, matching. */
  refused?: RegExp;
  /** YAML appended to exercise a manifest that only configures (a DestinationRule alone). */
  extra?: string;
  members?: Record<string, number>;
  answers?: Record<string, Answer>;
  proxyExtra?: string;
  /** Load notes expected (each a substring of one note). */
  notes?: string[];
  probes?: Probe[];
  custom?: (s: Served, variant: TemplateVars | undefined) => Promise<void>;
  /** Upstreams made before serving (TLS servers): URLs by destination key, text substitutions in the manifest. */
  setup?: () => Promise<Setup>;
  fields: string[];
}

export interface Setup {
  urls: Record<string, string | string[]>;
  replace?: Record<string, string>;
  close(): Promise<void>;
}

/** A TLS upstream for `key`, its CA trusted by the process's default store (what SIMPLE verifies against without caCertificates). */
export async function tlsSetup(key: string, names: string[], label = `${key} (TLS)`): Promise<Setup & { caFile: string }> {
  const up = await startTlsUpstream(label, names);
  const previous = tls.getCACertificates("default");
  tls.setDefaultCACertificates([...previous, up.ca]);
  return {
    urls: { [key]: up.url },
    caFile: up.caFile,
    close: async () => {
      tls.setDefaultCACertificates(previous);
      await up.close();
    },
  };
}

/** Shares of `n` GETs answered by each destination key. */
export async function shares(s: Served, n: number, req: Probe["req"]): Promise<Record<string, number>> {
  const count: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await call(s.proxy.port, req);
    expect(r.status).toBe(200);
    const k = String(r.headers["x-upstream"]);
    count[k] = (count[k] ?? 0) + 1;
  }
  for (const k of Object.keys(count)) count[k] /= n;
  return count;
}

/** Each share within `tol` of its expected value (n = 400 draws: 5 sigma of 0.5 is 0.125). */
export function expectShares(got: Record<string, number>, want: Record<string, number>, tol = 0.12): void {
  for (const [k, v] of Object.entries(want)) expect(Math.abs((got[k] ?? 0) - v)).toBeLessThanOrEqual(tol);
  for (const k of Object.keys(got)) expect(Object.hasOwn(want, k)).toBe(true);
}

const weighted = (host: string, want: Record<string, number>): Case["custom"] => async (s) => expectShares(await shares(s, 400, { host }), want);

/** A WebSocket upgrade through the proxy: 101 from the route's primary, then an echo through the tunnel. */
export async function websocket(port: number, host: string, headers: Record<string, string> = {}): Promise<{ head: string; echo: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = "";
    let head = "";
    s.setEncoding("latin1");
    s.on("error", reject);
    s.on("connect", () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      s.write(`GET /ws HTTP/1.1\r\nhost: ${host}\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`);
    });
    s.on("data", (d: string) => {
      buf += d;
      if (!head) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        if (!head.startsWith("HTTP/1.1 101")) {
          s.destroy();
          return resolve({ head, echo: "" });
        }
        s.write("ping through the tunnel");
      }
      if (buf.length >= "ping through the tunnel".length) {
        s.destroy();
        resolve({ head, echo: buf });
      }
    });
  });
}

const ok = (name: string, host: string, upstream: string, more: Partial<Probe> = {}): Probe => ({ status: 200, upstream, ...more, name, req: { host, ...more.req } });
const none = (name: string, host: string, more: Partial<Probe> = {}): Probe => ({ status: 404, upstream: null, ...more, name, req: { host, ...more.req } });

const BOOKINFO_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: fidelity-check }
spec:
  hosts: [reviews, ratings, details, productpage]
  http:
    - match: [{ uri: { prefix: /reviews/v2 } }]
      route: [{ destination: { host: reviews, subset: v2 } }]
    - match: [{ uri: { prefix: /reviews } }]
      route: [{ destination: { host: reviews, subset: v1 } }]
    - match: [{ uri: { prefix: /ratings } }]
      route: [{ destination: { host: ratings, subset: v2-mysql } }]
    - route: [{ destination: { host: details, subset: v2 } }]
`;

export const CORPUS_CASES: Case[] = [
  {
    file: "istio__pkg__test__datasets__validation__dataset__networking-v1-VirtualService.yaml",
    // A valid VirtualService (istio's validation dataset): 75 % to c/v1, 25 % to c/v2. No DestinationRule in the file: noted.
    notes: ['no DestinationRule for host "c" in this file defines it'],
    custom: weighted("c", { "c/v1": 0.75, "c/v2": 0.25 }),
    fields: ["http[].route[].weight"],
  },
  {
    file: "istio__samples__bookinfo__networking__bookinfo-gateway.yaml",
    // istio.io "Bookinfo": the gateway exposes /productpage, /static, /login, /logout, /api/v1/products.
    notes: ["Gateway/bookinfo-gateway: ignored"],
    probes: [
      ok("exact /productpage", "bookinfo.example", "productpage", { req: { path: "/productpage" }, seenPath: "/productpage" }),
      ok("prefix /static", "bookinfo.example", "productpage", { req: { path: "/static/css/x.css" } }),
      ok("exact /login", "any", "productpage", { req: { path: "/login" } }),
      ok("prefix /api/v1/products", "any", "productpage", { req: { path: "/api/v1/products/0/reviews" } }),
      none("exact is exact", "any", { req: { path: "/productpage/x" } }),
      none("no other path", "any", { req: { path: "/" } }),
    ],
    fields: ["hosts", "gateways", "http[].match[].uri", "http[].route[].destination.port"],
  },
  {
    file: "istio__samples__bookinfo__networking__certmanager-gateway.yaml",
    notes: ["Gateway/cert-manager-gateway: ignored"],
    probes: [ok("ACME challenge", "example.com", "cert-manager-resolver", { req: { path: "/.well-known/acme-challenge/tok" }, seenPath: "/.well-known/acme-challenge/tok" }), none("anything else", "example.com")],
    fields: ["http[].match[].uri"],
  },
  {
    file: "istio__samples__bookinfo__networking__destination-rule-all-mtls.yaml",
    // No mesh here: ISTIO_MUTUAL is noted, and the pods are reached in plain HTTP.
    notes: ["tls.mode ISTIO_MUTUAL: no mesh here", "no VirtualService"],
    probes: [none("DestinationRules alone route nothing (a gateway without VirtualService: 404)", "reviews")],
    fields: ["DestinationRule.trafficPolicy.tls.mode"],
  },
  {
    file: "istio__samples__bookinfo__networking__destination-rule-all-mtls.yaml",
    extra: BOOKINFO_VS,
    probes: [
      ok("subset v1 of reviews, plain HTTP despite ISTIO_MUTUAL", "reviews", "reviews/v1", { req: { path: "/reviews/0" } }),
      ok("subset v2", "reviews", "reviews/v2", { req: { path: "/reviews/v2/0" } }),
      ok("ratings v2-mysql", "ratings", "ratings/v2-mysql", { req: { path: "/ratings/0" } }),
      ok("details v2", "details", "details/v2"),
    ],
    fields: ["DestinationRule.subsets"],
  },
  {
    file: "istio__samples__bookinfo__networking__destination-rule-all.yaml",
    extra: BOOKINFO_VS,
    probes: [ok("reviews v1", "reviews", "reviews/v1", { req: { path: "/reviews/1" } }), ok("details v2", "details", "details/v2")],
    fields: ["DestinationRule.subsets"],
  },
  {
    file: "istio__samples__bookinfo__networking__destination-rule-reviews.yaml",
    // RANDOM over reviews' members: both members of reviews/v1 get traffic.
    extra: BOOKINFO_VS.replace("hosts: [reviews, ratings, details, productpage]", "hosts: [reviews]").replace(/    - match: \[\{ uri: \{ prefix: \/ratings[\s\S]*$/, ""),
    members: { "reviews/v1": 2 },
    custom: async (s) => {
      const members = new Set<string>();
      for (let i = 0; i < 40; i++) members.add(String((await call(s.proxy.port, { host: "reviews", path: "/reviews/1" })).headers["x-member"]));
      expect([...members].sort()).toEqual(["0", "1"]);
    },
    fields: ["DestinationRule.trafficPolicy.loadBalancer.simple"],
  },
  {
    file: "istio__samples__bookinfo__networking__egress-rule-google-apis.yaml",
    // istio.io "Egress TLS origination": http://www.googleapis.com (port 80) leaves as HTTPS to port 443 (portLevelSettings tls SIMPLE).
    notes: ["ServiceEntry/googleapis: ignored"],
    custom: async (s) => {
      const r = await call(s.proxy.port, { host: "www.googleapis.com", path: "/books/v1/volumes?q=x" });
      expect(r.status).toBe(200);
      expect(r.headers["x-upstream"]).toBe("www.googleapis.com (TLS)");
      expect(r.body).toBe("tls sni=www.googleapis.com GET /books/v1/volumes?q=x");
      expect((await call(s.proxy.port, { host: "www.googleapis.com:8080" })).status).toBe(404); // match port 80 only
    },
    setup: () => tlsSetup("www.googleapis.com", ["www.googleapis.com"]),
    fields: ["http[].match[].port", "DestinationRule.trafficPolicy.portLevelSettings", "DestinationRule.trafficPolicy.tls.mode"],
  },
  {
    file: "istio__samples__bookinfo__networking__fault-injection-details-v1.yaml",
    probes: [{ name: "abort 555 for everyone", req: { host: "details" }, status: 555, upstream: null, body: "fault filter abort" }],
    fields: ["http[].fault.abort"],
  },
  {
    file: "istio__samples__bookinfo__networking__virtual-service-all-v1.yaml",
    probes: [ok("productpage v1", "productpage", "productpage/v1"), ok("reviews v1", "reviews", "reviews/v1"), ok("ratings v1", "ratings", "ratings/v1"), ok("details v1", "details", "details/v1")],
    fields: ["http[].route[].destination.subset"],
  },
  { file: "istio__samples__bookinfo__networking__virtual-service-details-v2.yaml", probes: [ok("details v2", "details", "details/v2")], fields: ["http[].route[].destination.subset"] },
  { file: "istio__samples__bookinfo__networking__virtual-service-ratings-db.yaml", probes: [ok("reviews v3", "reviews", "reviews/v3"), ok("ratings v2", "ratings", "ratings/v2")], fields: ["http[].route[].destination.subset"] },
  { file: "istio__samples__bookinfo__networking__virtual-service-ratings-mysql-vm.yaml", probes: [ok("ratings v2-mysql-vm", "ratings", "ratings/v2-mysql-vm")], fields: ["http[].route[].destination.subset"] },
  { file: "istio__samples__bookinfo__networking__virtual-service-ratings-mysql.yaml", probes: [ok("ratings v2-mysql", "ratings", "ratings/v2-mysql")], fields: ["http[].route[].destination.subset"] },
  {
    file: "istio__samples__bookinfo__networking__virtual-service-ratings-test-abort.yaml",
    // istio.io "Fault injection": jason gets HTTP 500 from ratings; everyone else is served by v1.
    probes: [
      { name: "jason: 500", req: { host: "ratings", headers: { "end-user": "jason" } }, status: 500, upstream: null },
      ok("others: v1", "ratings", "ratings/v1"),
    ],
    fields: ["http[].fault.abort", "http[].match[].headers"],
  },
  {
    file: "istio__samples__bookinfo__networking__virtual-service-ratings-test-delay.yaml",
    // istio.io "Fault injection": jason's requests to ratings are delayed 7 s, then served by v1.
    probes: [
      ok("jason: 7 s delay, then v1", "ratings", "ratings/v1", { req: { headers: { "end-user": "jason" } }, minMs: 6900 }),
      ok("others: at once", "ratings", "ratings/v1", { maxMs: 3000 }),
    ],
    fields: ["http[].fault.delay"],
  },
  { file: "istio__samples__bookinfo__networking__virtual-service-reviews-50-v3.yaml", custom: weighted("reviews", { "reviews/v1": 0.5, "reviews/v3": 0.5 }), fields: ["http[].route[].weight"] },
  { file: "istio__samples__bookinfo__networking__virtual-service-reviews-80-20.yaml", custom: weighted("reviews", { "reviews/v1": 0.8, "reviews/v2": 0.2 }), fields: ["http[].route[].weight"] },
  { file: "istio__samples__bookinfo__networking__virtual-service-reviews-90-10.yaml", custom: weighted("reviews", { "reviews/v1": 0.9, "reviews/v2": 0.1 }), fields: ["http[].route[].weight"] },
  {
    file: "istio__samples__bookinfo__networking__virtual-service-reviews-jason-v2-v3.yaml",
    probes: [ok("jason: v2", "reviews", "reviews/v2", { req: { headers: { "end-user": "jason" } } }), ok("others: v3", "reviews", "reviews/v3"), ok("header value is exact", "reviews", "reviews/v3", { req: { headers: { "end-user": "jasonx" } } })],
    fields: ["http[].match[].headers"],
  },
  {
    file: "istio__samples__bookinfo__networking__virtual-service-reviews-test-v2.yaml",
    // istio.io "Request routing": the user jason sees reviews v2, everyone else v1.
    probes: [ok("jason: v2", "reviews", "reviews/v2", { req: { headers: { "end-user": "jason" } } }), ok("others: v1", "reviews", "reviews/v1")],
    fields: ["http[].match[].headers"],
  },
  { file: "istio__samples__bookinfo__networking__virtual-service-reviews-v2-v3.yaml", custom: weighted("reviews", { "reviews/v2": 0.5, "reviews/v3": 0.5 }), fields: ["http[].route[].weight"] },
  { file: "istio__samples__bookinfo__networking__virtual-service-reviews-v3.yaml", probes: [ok("v3", "reviews", "reviews/v3")], fields: ["http[].route[].destination.subset"] },
  {
    file: "istio__samples__helloworld__helloworld-gateway.yaml",
    notes: ["Gateway/helloworld-gateway: ignored"],
    probes: [ok("/hello", "any", "helloworld", { req: { path: "/hello" } }), none("/", "any")],
    fields: ["http[].match[].uri"],
  },
  {
    file: "istio__samples__httpbin__httpbin-gateway.yaml",
    probes: [ok("everything to httpbin", "httpbin.example.com", "httpbin", { req: { path: "/status/418" }, seenPath: "/status/418" })],
    fields: ["hosts"],
  },
  { file: "istio__samples__multicluster__expose-istiod.yaml", refused: /^VirtualService\/istiod-vs: spec\.tls: not supported by mirror-proxy \(Istio TLS routes: the proxy serves HTTP only/, fields: [] },
  { file: "istio__samples__tcp-echo__tcp-echo-20-v2.yaml", refused: /^VirtualService\/tcp-echo: spec\.tcp: not supported by mirror-proxy \(Istio TCP routes: the proxy serves HTTP only\)/, fields: [] },
  { file: "istio__samples__tcp-echo__tcp-echo-all-v1.yaml", refused: /^VirtualService\/tcp-echo: spec\.tcp: not supported by mirror-proxy \(Istio TCP routes: the proxy serves HTTP only\)/, fields: [] },
  {
    file: "istio__samples__websockets__route.yaml",
    // samples/websockets: the tornado app's WebSocket goes through the gateway.
    probes: [ok("plain GET", "any", "tornado")],
    custom: async (s) => {
      const ws = await websocket(s.proxy.port, "tornado.example");
      expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
      expect(ws.head).toContain("x-upstream: tornado");
      expect(ws.echo).toBe("ping through the tunnel");
    },
    fields: ["http[].route[].weight"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__catch-all-route-short-circuit.yaml",
    probes: [{ name: "regex .* catches everything: 418", req: { host: "b", path: "/any/path" }, status: 418, upstream: null }],
    fields: ["http[].match[].uri", "http[].fault.abort"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__cors.yaml",
    probes: [
      {
        name: "preflight",
        req: { method: "OPTIONS", host: "b", headers: { origin: "cors.com", "access-control-request-method": "DELETE" } },
        status: 200,
        upstream: null,
        headers: { "access-control-allow-origin": "cors.com", "access-control-allow-methods": "POST,GET", "access-control-allow-headers": "X-Foo-Bar,X-Foo-Baz", "access-control-max-age": "86400" },
      },
      ok("get", "b", "b", { req: { headers: { origin: "cors.com" } }, headers: { "access-control-allow-origin": "cors.com" } }),
      ok("get no origin match", "b", "b", { headers: { "access-control-allow-origin": undefined } }),
    ],
    fields: ["http[].corsPolicy"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__fault-abort.yaml",
    probes: [{ name: "418", req: { host: "b" }, status: 418, upstream: null }],
    fields: ["http[].fault.abort"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__pseudo-header-matches.yaml",
    probes: [none("no match: POST", "b", { req: { method: "POST" } }), ok("match: GET", "b", "b")],
    fields: ["http[].match[].headers"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__retry-conditions.yaml",
    notes: ["retryRemoteLocalities: accepted, no effect here"],
    probes: [ok("OK", "b", "b")],
    fields: ["http[].retries"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__rewrite-uri.yaml",
    probes: [ok("/foo?key=value -> /new/path?key=value", "b", "b", { req: { path: "/foo?key=value" }, seenPath: "/new/path?key=value" })],
    fields: ["http[].rewrite.uri"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__shifting.yaml",
    variants: [{ split: [50, 25, 25] }, { split: [80, 10, 10] }],
    custom: async (s, v) => {
      const [b, c, d] = v?.split ?? [];
      expectShares(await shares(s, 400, { host: "b" }), { b: b / 100, c: c / 100, d: d / 100 });
    },
    fields: ["http[].route[].weight"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__weird-header-matches.yaml",
    probes: [none("no match", "b"), ok("match", "b", "b", { req: { headers: { [ABSURD_HEADER]: "why" } } })],
    fields: ["http[].match[].headers"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__without-headers-regex-convert-to-present_match.yaml",
    probes: [
      ok("have end-user header and value", "b", "b", { req: { path: "/foo", headers: { "end-user": "jason" } } }),
      ok("have end-user header but value is empty", "b", "b", { req: { path: "/foo", headers: { "end-user": "" } } }),
      { name: "do not have end-user header", req: { host: "b", path: "/foo" }, status: 403, upstream: null },
    ],
    fields: ["http[].match[].withoutHeaders"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__without-headers-regex-match-any-string.yaml",
    probes: [
      ok("have end-user header and value", "b", "b", { req: { path: "/foo", headers: { "end-user": "jason" } } }),
      ok("have end-user header but value is empty", "b", "b", { req: { path: "/foo", headers: { "end-user": "" } } }),
      ok("do not have end-user header", "b", "b", { req: { path: "/foo" } }),
    ],
    fields: ["http[].match[].withoutHeaders"],
  },
  {
    file: "istio__tests__integration__pilot__common__routing.go__without-headers.yaml",
    probes: [
      ok("end-user is jason", "b", "b", { req: { path: "/foo", headers: { "end-user": "jason" } } }),
      { name: "end-user is not jason", req: { host: "b", path: "/foo", headers: { "end-user": "not-jason" } }, status: 403, upstream: null },
      { name: "do not have end-user header", req: { host: "b", path: "/foo" }, status: 403, upstream: null },
    ],
    fields: ["http[].match[].withoutHeaders"],
  },
  {
    file: "istio__tests__integration__pilot__testdata__traffic-mirroring-template.yaml",
    // istio's mirroring test: b serves, c receives mirrorPercentage % of copies (absent: 100 %).
    variants: [
      { Name: "mirror-100", MirrorHost: "c", Percent: 100 },
      { Name: "mirror-50", MirrorHost: "c", Percent: 50 },
      { Name: "mirror-0", MirrorHost: "c", Percent: 0 },
      { Name: "mirror-absent", MirrorHost: "c", Absent: true },
    ],
    custom: async (s, v) => {
      const n = 200;
      for (let i = 0; i < n; i++) expect((await call(s.proxy.port, { host: "b", path: `/m${i}` })).headers["x-upstream"]).toBe("b");
      const want = v?.Absent ? 1 : (v?.Percent ?? 100) / 100;
      const c = s.ups.find((u) => u.key === "c");
      await waitUntil(() => (c?.seen.length ?? 0) >= Math.floor(n * want * 0.75));
      const copies = c?.seen.filter((x) => x.mirrored).length ?? 0;
      expect(Math.abs(copies / n - want)).toBeLessThanOrEqual(0.15);
    },
    fields: ["http[].mirror", "http[].mirrorPercentage"],
  },
  {
    file: "istio__tests__testdata__config__destination-rule-all.yaml",
    // Every traffic-policy field istio's own testdata sets, applied to the members of destall.
    notes: ["ServiceEntry/destall: ignored"],
    extra: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: destall-check, namespace: testns }
spec:
  hosts: [destall.default.svc.cluster.local]
  http:
    - match: [{ headers: { x-subset: { exact: v2 } } }]
      route: [{ destination: { host: destall.default.svc.cluster.local, subset: v2 } }]
    - route: [{ destination: { host: destall.default.svc.cluster.local, subset: v1 } }]
`,
    members: { "destall.default.svc.cluster.local/v1": 2, "destall.default.svc.cluster.local/v2": 3 },
    custom: async (s) => {
      const host = "destall.default.svc.cluster.local";
      // v1: ROUND_ROBIN over its two members.
      const v1 = [];
      for (let i = 0; i < 4; i++) v1.push((await call(s.proxy.port, { host })).headers["x-member"]);
      expect(v1.join()).toMatch(/^(0,1,0,1|1,0,1,0)$/);
      // v2: consistentHash on the cookie "Cookie" with a ttl: Envoy makes one up and hands it out, then sticks to it.
      const first = await call(s.proxy.port, { host, headers: { "x-subset": "v2" } });
      const setCookie = String(first.headers["set-cookie"]);
      expect(setCookie).toMatch(/^Cookie=[0-9a-f]+; Max-Age=30; HttpOnly$/);
      const cookie = setCookie.split(";")[0];
      const members = new Set<string>();
      for (let i = 0; i < 12; i++) members.add(String((await call(s.proxy.port, { host, headers: { "x-subset": "v2", cookie } })).headers["x-member"]));
      expect(members.size).toBe(1);
    },
    fields: ["DestinationRule.trafficPolicy.loadBalancer.consistentHash", "DestinationRule.subsets[].trafficPolicy", "DestinationRule.trafficPolicy.connectionPool", "DestinationRule.trafficPolicy.outlierDetection"],
  },
  {
    file: "istio__tests__testdata__config__rule-content-route.yaml",
    // The first route selects sidecars labelled version=v1: skipped at a gateway, so everything goes to v1.
    notes: ["route headers-route/0 skipped: its matches select sidecars (sourceLabels)"],
    probes: [ok("version: v2 still v1 (sourceLabels route skipped)", "headers.test.istio.io", "c-weighted.extsvc.com/v1", { req: { headers: { version: "v2" } } }), ok("default v1", "headers.test.istio.io", "c-weighted.extsvc.com/v1")],
    fields: ["http[].match[].sourceLabels"],
  },
  {
    file: "istio__tests__testdata__config__rule-default-route-append-headers.yaml",
    probes: [ok("request header added", "appendh.test.istio.io", "appendh.test.istio.io", { seenHeaders: { "istio-custom-header": "user-defined-value" } })],
    fields: ["http[].headers.request"],
  },
  {
    file: "istio__tests__testdata__config__rule-default-route-cors-policy.yaml",
    probes: [
      {
        name: "preflight from http://foo.example",
        req: { method: "OPTIONS", host: "cors.test.istio.io", headers: { origin: "http://foo.example", "access-control-request-method": "POST" } },
        status: 200,
        upstream: null,
        headers: { "access-control-allow-origin": "http://foo.example", "access-control-allow-methods": "POST,GET,OPTIONS", "access-control-allow-headers": "content-type", "access-control-max-age": "300", "access-control-allow-credentials": "true" },
      },
      ok("actual request", "cors.test.istio.io", "cors.test.istio.io", { req: { headers: { origin: "http://foo.example" } }, headers: { "access-control-allow-origin": "http://foo.example", "access-control-expose-headers": "x-custom-header", "access-control-allow-credentials": "true" } }),
      ok("other origin: no CORS headers", "cors.test.istio.io", "cors.test.istio.io", { req: { headers: { origin: "http://bar.example" } }, headers: { "access-control-allow-origin": undefined } }),
      ok("preflight from another origin is forwarded", "cors.test.istio.io", "cors.test.istio.io", { req: { method: "OPTIONS", headers: { origin: "http://bar.example", "access-control-request-method": "POST" } }, headers: { "access-control-allow-origin": undefined } }),
    ],
    fields: ["http[].corsPolicy"],
  },
  {
    file: "istio__tests__testdata__config__rule-default-route.yaml",
    // Two VirtualServices for c.foo, merged as on a gateway: /bar from the first, /foo (rewritten to /bar) from the second.
    probes: [
      ok("/bar from default-route-1", "c.foo", "c.foo", { req: { path: "/bar/x" }, seenPath: "/bar/x" }),
      ok("/foo from default-route-2, rewritten", "c.foo", "c.foo", { req: { path: "/foo" }, seenPath: "/bar" }),
      none("nothing else", "c.foo", { req: { path: "/baz" } }),
    ],
    fields: ["http[].rewrite.uri", "hosts"],
  },
  {
    file: "istio__tests__testdata__config__rule-fault-injection.yaml",
    // Its only route selects sidecars (sourceLabels): nothing is served at a gateway, no fault applies.
    notes: ["route fault/0 skipped"],
    probes: [none("404, neither delayed nor aborted", "fault.test.istio.io", { req: { headers: { version: "v2" } }, maxMs: 2000 })],
    fields: ["http[].match[].sourceLabels"],
  },
  {
    file: "istio__tests__testdata__config__rule-redirect-injection.yaml",
    probes: [
      { name: "301 to the new authority and path", req: { host: "redirect.test.istio.io", path: "/old", headers: { testredirect: "enabled" } }, status: 301, upstream: null, headers: { location: "http://redirect2.test.istio.io/new/path" } },
      none("without the header: no route", "redirect.test.istio.io"),
    ],
    fields: ["http[].redirect"],
  },
  {
    file: "istio__tests__testdata__config__rule-regex-route.yaml",
    probes: [ok("foo: bar still v1 (sourceLabels route skipped)", "regex.extsvc.com", "regex.extsvc.com/v1", { req: { headers: { foo: "bar" } } })],
    fields: ["http[].match[].sourceLabels"],
  },
  {
    file: "istio__tests__testdata__config__rule-websocket-route.yaml",
    notes: ["websocketUpgrade: accepted, no effect here"],
    probes: [none("without testwebsocket: no route", "websocket.test.istio.io")],
    custom: async (s) => {
      for (const host of ["websocket.test.istio.io", "websocket2.extsvc.com"]) {
        const ws = await websocket(s.proxy.port, host, { testwebsocket: "enabled" });
        expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
        expect(ws.echo).toBe("ping through the tunnel");
      }
    },
    fields: ["http[].websocketUpgrade"],
  },
  { file: "istio__tests__testdata__config__rule-weighted-route.yaml", custom: weighted("c-weighted.extsvc.com", { "c-weighted.extsvc.com/v1": 0.75, "c-weighted.extsvc.com/v2": 0.25 }), fields: ["http[].route[].weight"] },
  {
    file: "istio__tests__testdata__config__virtual-service-all.yaml",
    probes: [
      ok("cookie user=dev-123", "uk.bookinfo.com", "service3.default.svc.cluster.local", { req: { headers: { cookie: "a=b;user=dev-123" } } }),
      ok("cookie first", "eu.bookinfo.com", "service3.default.svc.cluster.local", { req: { headers: { cookie: "user=dev-123" } } }),
      none("no cookie, other path", "uk.bookinfo.com"),
    ],
    custom: async (s) => expectShares(await shares(s, 400, { host: "uk.bookinfo.com", path: "/reviews/1" }), { "service3.default.svc.cluster.local/v1": 0.8, "service3.default.svc.cluster.local/v2": 0.2 }),
    fields: ["http[].match[].headers", "http[].route[].weight"],
  },
];

export async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
