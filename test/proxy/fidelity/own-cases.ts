/**
 * Cases for our own manifests (manifests/*.yaml): the fields and cases the corpus lacks,
 * with the behaviour the istio/api reference and Envoy document for them.
 */
import { expect } from "@jest/globals";
import { closedPort, metric } from "../helpers.ts";
import { tlsSetup, waitUntil, websocket, type Case } from "./cases.ts";
import { call, startFake } from "./harness.ts";

const H = "actions.example";

export const OWN_CASES: Case[] = [
  {
    file: "own:route-actions.yaml",
    setup: async () => ({ urls: { dead: `http://127.0.0.1:${await closedPort()}` }, close: async () => undefined }),
    notes: ["route actions/partial: 1 match block(s) skipped: they select sidecars (sourceLabels)"],
    probes: [
      { name: "redirect scheme, 302", req: { host: H, path: "/redirect/scheme?a=1" }, status: 302, upstream: null, headers: { location: "https://actions.example/redirect/scheme?a=1" } },
      { name: "redirect port", req: { host: H, path: "/redirect/port" }, status: 301, upstream: null, headers: { location: "http://actions.example:8443/redirect/port" } },
      { name: "redirect derivePort FROM_PROTOCOL_DEFAULT drops the port", req: { host: `${H}:8080`, path: "/redirect/derive" }, status: 301, upstream: null, headers: { location: "http://actions.example/x" } },
      { name: "direct response string", req: { host: H, path: "/direct" }, status: 503, upstream: null, body: "down for maintenance", headers: { "content-type": "text/plain" } },
      { name: "direct response bytes", req: { host: H, path: "/direct-bytes" }, status: 200, upstream: null, body: "hello" },
      { name: "rewrite authority", req: { host: H, path: "/rewrite/authority" }, status: 200, upstream: "app", seenHeaders: { host: "new-authority", "x-forwarded-host": H } },
      { name: "rewrite uri replaces the matched prefix", req: { host: H, path: "/rewrite/prefix/a?q=1" }, status: 200, upstream: "app", seenPath: "/v2/a?q=1" },
      { name: "rewrite uri replaces an exact-matched path", req: { host: H, path: "/rewrite/exact" }, status: 200, upstream: "app", seenPath: "/v2" },
      { name: "uriRegexRewrite with groups", req: { host: H, path: "/rewrite/regex/a/b/c" }, status: 200, upstream: "app", seenPath: "/b/c/a" },
      {
        name: "header operations: destination then route (route's set wins), request and response",
        req: { host: H, path: "/headers", headers: { "x-remove": "gone", "x-add": "client" } },
        status: 200,
        upstream: "app",
        seenHeaders: { "x-set": "route", "x-dest": "d", "x-remove": undefined, "x-add": "client, route" },
        headers: { "x-resp": "route", "x-dest-resp": "d", "x-member": undefined },
      },
      { name: "fault delay 300 ms", req: { host: H, path: "/fault/delay" }, status: 200, upstream: "app", minMs: 290 },
      { name: "fault grpcStatus", req: { host: H, path: "/fault/grpc" }, status: 200, upstream: null, headers: { "grpc-status": "14", "content-type": "application/grpc" } },
      { name: "fault at 0 % never fires", req: { host: H, path: "/fault/never" }, status: 200, upstream: "app", maxMs: 3000 },
      { name: "unreachable upstream: 503 as Envoy", req: { host: H, path: "/dead" }, status: 503, upstream: null, body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure\n" },
      { name: "pseudo-headers :authority, :path (with query), :scheme", req: { host: "pseudo.example", path: "/p?x=1&y=2" }, status: 200, upstream: "pseudo" },
      { name: "queryParams prefix", req: { host: H, path: "/q?v=beta" }, status: 200, upstream: "beta" },
      { name: "an upper-case header key matches, lower-cased", req: { host: H, path: "/t", headers: { "x-team": "blue" } }, status: 200, upstream: "blue" },
      { name: "a sourceLabels block is skipped, the route's other block still matches", req: { host: H, path: "/partial/gw" }, status: 200, upstream: "app" },
      { name: "... and the skipped block does not", req: { host: H, path: "/partial/x" }, status: 404, upstream: null },
      { name: "withoutHeaders regex: an absent header is tested as empty (a.* does not match it)", req: { host: H, path: "/without-regex" }, status: 204, upstream: null },
      { name: "withoutHeaders regex: a matching header blocks the route", req: { host: H, path: "/without-regex", headers: { "x-probe": "abc" } }, status: 404, upstream: null },
    ],
    custom: async (s) => {
      // The copy is made from the request as it leaves for the primary: rewritten path, authority and headers.
      const r = await call(s.proxy.port, { host: H, path: "/mirror/x?k=v" });
      expect(r.status).toBe(200);
      const shadow = s.ups.find((u) => u.key === "shadow");
      await waitUntil(() => (shadow?.seen.length ?? 0) > 0);
      expect(shadow?.seen[0]).toMatchObject({ url: "/m/x?k=v", mirrored: true });
      expect(shadow?.seen[0].headers).toMatchObject({ host: "app.internal", "x-m": "1" });
      expect(await metric(s.proxy, "mirror_proxy_faults_total", { kind: "delay" })).toBe(1);
    },
    fields: ["http[].redirect", "http[].directResponse", "http[].rewrite.authority", "http[].rewrite.uriRegexRewrite", "http[].headers.response", "http[].route[].headers", "http[].fault.delay", "http[].fault.abort", "http[].match[].queryParams", "http[].match[].headers", "http[].match[].authority", "http[].match[].sourceLabels", "http[].mirror", "http[].match[].withoutHeaders"],
  },
  {
    file: "own:retries.yaml",
    // halfdead: a dead member and a live one.
    setup: async () => {
      const live = await startFake("halfdead", 1);
      return { urls: { halfdead: [`http://127.0.0.1:${await closedPort()}`, live.url] }, close: () => live.close() };
    },
    answers: {
      flaky: (_req, res, n) => {
        res.writeHead(n % 3 === 2 ? 200 : 503, { "x-upstream": "flaky", "x-attempt": String(n) });
        res.end();
      },
      slowfirst: (_req, res, n) => {
        const go = () => {
          res.writeHead(200, { "x-upstream": "slowfirst", "x-attempt": String(n) });
          res.end();
        };
        if (n === 0) setTimeout(go, 2000).unref();
        else go();
      },
      always503: (_req, res) => {
        res.writeHead(503, { "x-upstream": "always503" });
        res.end();
      },
    },
    custom: async (s) => {
      const port = s.proxy.port;
      const h = "retry.example";
      // retryOn 5xx, 2 attempts: 503, 503, then 200.
      const r = await call(port, { host: h, path: "/5xx" });
      expect([r.status, r.headers["x-attempt"]]).toEqual([200, "2"]);
      expect(await metric(s.proxy, "mirror_proxy_retries_total", { upstream: "flaky" })).toBe(2);
      // perTryTimeout 200 ms: the hanging first try is cut, the retry answers.
      const t = await call(port, { host: h, path: "/per-try" });
      expect([t.status, t.headers["x-attempt"]]).toEqual([200, "1"]);
      expect(t.ms).toBeLessThan(1500);
      // attempts 0: no retry; a retriable status code listed in retryOn: retried, then the last answer relayed.
      expect((await call(port, { host: h, path: "/none" })).status).toBe(503);
      const before = s.ups.find((u) => u.key === "always503")?.seen.length ?? 0;
      expect((await call(port, { host: h, path: "/other" })).status).toBe(503);
      expect((s.ups.find((u) => u.key === "always503")?.seen.length ?? 0) - before).toBe(3);
      // connect-failure: the retry takes the next member (round-robin), so every request is answered.
      for (let i = 0; i < 6; i++) expect((await call(port, { host: h, path: "/connect" })).status).toBe(200);
    },
    fields: ["http[].retries"],
  },
  {
    file: "own:traffic-policy.yaml",
    members: { flaky: 2, lr: 2, sticky: 3 },
    answers: {
      flaky: (_req, res, _n, member) => {
        res.writeHead(member === 0 && state.flakyBroken ? 500 : 200, { "x-upstream": "flaky", "x-member": String(member) });
        res.end();
      },
      lr: (_req, res, _n, member) => {
        const go = () => {
          res.writeHead(200, { "x-upstream": "lr", "x-member": String(member) });
          res.end();
        };
        if (member === 0) setTimeout(go, 400).unref();
        else go();
      },
      busy: (_req, res) => {
        setTimeout(() => {
          res.writeHead(200, { "x-upstream": "busy" });
          res.end();
        }, 300).unref();
      },
    },
    custom: async (s) => {
      const port = s.proxy.port;
      // connectionPool: one connection, one pending request: the third concurrent request overflows with Envoy's 503.
      const three = await Promise.all([0, 1, 2].map(() => call(port, { host: "busy" })));
      const statuses = three.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 503]);
      const over = three.find((r) => r.status === 503);
      expect(over?.headers["x-envoy-overloaded"]).toBe("true");
      expect(over?.body).toBe("upstream connect error or disconnect/reset before headers. reset reason: overflow");
      expect(await metric(s.proxy, "mirror_proxy_upstream_overflow_total", { upstream: "busy" })).toBe(1);

      // outlierDetection: member 0 of flaky answers 500; after 3 in a row it is ejected, then brought back after 1 s.
      const bad = s.ups.find((u) => u.key === "flaky" && u.member === 0);
      if (!bad) throw new Error("no flaky member 0");
      state.flakyBroken = true;
      for (let i = 0; i < 12; i++) await call(port, { host: "flaky" });
      expect(bad.seen.length).toBe(3);
      expect(await metric(s.proxy, "mirror_proxy_outlier_ejections_total", { upstream: "flaky" })).toBe(1);
      await new Promise((r) => setTimeout(r, 1100));
      state.flakyBroken = false;
      for (let i = 0; i < 4; i++) expect((await call(port, { host: "flaky" })).status).toBe(200);
      expect(bad.seen.length).toBeGreaterThan(3);
      expect(await metric(s.proxy, "mirror_proxy_outlier_restored_total", { upstream: "flaky" })).toBe(1);

      // consistentHash on x-user: one user keeps one member; users spread over the members.
      const memberOf = async (user: string) => String((await call(port, { host: "sticky", headers: { "x-user": user } })).headers["x-member"]);
      const alice = await memberOf("alice");
      for (let i = 0; i < 8; i++) expect(await memberOf("alice")).toBe(alice);
      const spread = new Set<string>();
      for (let i = 0; i < 30; i++) spread.add(await memberOf(`user-${i}`));
      expect(spread.size).toBe(3);

      // LEAST_REQUEST: while member 0 holds a slow request, new ones go to member 1.
      const slow = s.ups.find((u) => u.key === "lr" && u.member === 0);
      if (!slow) throw new Error("no lr member 0");
      let held: Promise<unknown> | undefined;
      for (let i = 0; i < 20 && !held; i++) {
        const before = slow.seen.length;
        const p = call(port, { host: "lr" });
        const r = await Promise.race([p, new Promise((res) => setTimeout(res, 100))]);
        if (r === undefined && slow.seen.length > before) held = p;
        else await p;
      }
      expect(held).toBeDefined();
      for (let i = 0; i < 5; i++) expect((await call(port, { host: "lr" })).headers["x-member"]).toBe("1");
      await held;
    },
    fields: ["DestinationRule.trafficPolicy.connectionPool", "DestinationRule.trafficPolicy.outlierDetection", "DestinationRule.trafficPolicy.loadBalancer.consistentHash", "DestinationRule.trafficPolicy.loadBalancer.simple"],
  },
  {
    file: "own:tls.yaml",
    setup: async () => {
      const t = await tlsSetup("secure/tls", ["secure.internal"]);
      return { ...t, replace: { CA_FILE: t.caFile } };
    },
    probes: [
      { name: "SIMPLE: TLS with the given CA and SNI", req: { host: "secure.example", path: "/x" }, status: 200, upstream: "secure/tls (TLS)", body: "tls sni=secure.internal GET /x" },
      { name: "a subset's tls DISABLE overrides the top level", req: { host: "secure.example", path: "/plain" }, status: 200, upstream: "secure/plain" },
      { name: "port-level settings replace all four fields: port 8080 gets no TLS", req: { host: "secure.example", path: "/port-8080" }, status: 200, upstream: "ports" },
      { name: "other ports keep the top level's SIMPLE: TLS to a plain server fails, 503", req: { host: "secure.example", path: "/port-9090" }, status: 503, upstream: null },
    ],
    fields: ["DestinationRule.trafficPolicy.tls.mode", "DestinationRule.subsets[].trafficPolicy", "DestinationRule.trafficPolicy.portLevelSettings"],
  },
  {
    file: "own:merge-and-websocket.yaml",
    notes: [],
    probes: [
      { name: "the older VirtualService's routes come first", req: { host: "merge.example", path: "/shared" }, status: 200, upstream: "older" },
      { name: "the newer one's still serve what the older does not match", req: { host: "merge.example", path: "/elsewhere" }, status: 200, upstream: "newer" },
    ],
    custom: async (s) => {
      const ws = await websocket(s.proxy.port, "merge.example");
      expect(ws.head).toMatch(/^HTTP\/1\.1 101 /);
      expect(ws.echo).toBe("ping through the tunnel");
      // A tunnel cannot be mirrored: its copy is not sent, and counted.
      expect(await metric(s.proxy, "mirror_proxy_mirror_copies_dropped_total", { upstream: "ws-shadow", reason: "upgrade" })).toBe(1);
      expect(s.ups.find((u) => u.key === "ws-shadow")?.seen).toHaveLength(0);
    },
    fields: ["hosts", "http[].mirror"],
  },
];

OWN_CASES.push({
  file: "own:matches-and-mirrors.yaml",
  answers: {
    slow: (_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { "x-upstream": "slow" });
        res.end();
      }, 2000).unref();
    },
  },
  probes: [
    { name: "method", req: { host: "forms.example", method: "POST", path: "/m", body: "x" }, status: 200, upstream: "writer" },
    { name: "ignoreUriCase on a prefix, scheme http", req: { host: "forms.example", path: "/cAsE/x" }, status: 200, upstream: "app" },
    { name: "timeout: 504 after 150 ms", req: { host: "forms.example", path: "/slow" }, status: 504, upstream: null, maxMs: 1500, body: "upstream request timeout\n" },
  ],
  custom: async (s) => {
    expect((await call(s.proxy.port, { host: "forms.example", path: "/mirrors" })).status).toBe(200);
    expect((await call(s.proxy.port, { host: "forms.example", path: "/deprecated" })).status).toBe(200);
    const a = s.ups.find((u) => u.key === "shadow-a");
    await waitUntil(() => (a?.seen.length ?? 0) >= 2);
    expect(a?.seen.map((x) => x.url)).toEqual(["/mirrors", "/deprecated"]);
    expect(s.ups.find((u) => u.key === "shadow-b")?.seen).toHaveLength(0);
  },
  fields: ["http[].match[].method", "http[].match[].scheme", "http[].match[].ignoreUriCase", "http[].timeout", "http[].mirrors", "http[].mirrorPercent"],
});

/** flaky's member 0 answers 500 while set (outlier detection). */
const state = { flakyBroken: false };
