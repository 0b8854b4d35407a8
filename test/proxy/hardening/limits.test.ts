/**
 * Issue 13, cases 7, 8 and 9 at the interface each attacks (raw sockets, real upstreams,
 * real timing with generous bounds), with small limits so each test takes a second or two.
 * The full-size patterns (20 000 pipelined GETs, 12 000 idle connections, 120 stalled
 * uploads, a 1 GiB shadow) with peak RSS and event-loop lag are `npm run soak`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import net from "node:net";
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { configText, metric, request, startProxy, startUpstream, waitFor, type Upstream } from "../helpers.ts";
import { nonReadingPipeliner, raw, statuses } from "./raw.ts";

const ROUTE = `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n`;
const MIRRORED = `${ROUTE}      mirror: { host: app, subset: v2 }\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const proxies: MirrorProxy[] = [];
const ups: Upstream[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  for (const u of ups) await u.close();
});
async function proxyWith(limits: string, upstreams: Record<string, string>, vs = ROUTE): Promise<MirrorProxy> {
  const p = await startProxy(configText({ vs, upstreams, proxy: `  limits: { ${limits} }\n` }));
  proxies.push(p);
  return p;
}
async function upstream(name: string, behaviour?: Parameters<typeof startUpstream>[1]): Promise<Upstream> {
  const u = await startUpstream(name, behaviour);
  ups.push(u);
  return u;
}

describe("pipelining: one request at a time per connection, in order", () => {
  test("200 pipelined GETs in one write: all answered in order, never two at the primary at once", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const v1 = await upstream("v1", (req, res) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        res.end(`${req.url}\n`);
      }, 1);
    });
    const p = await proxyWith("maxPipelinedRequests: 16", { "app/v1": v1.url });
    let out = "";
    for (let i = 0; i < 200; i++) out += `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    out += "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const r = await raw(p.port, out, 20000);
    expect(r.closed).toBe(true);
    const order = [...r.text.matchAll(/\r\n\r\n\/(\d+|last)\n/g)].map((m) => m[1]);
    expect(order).toEqual([...Array.from({ length: 200 }, (_, i) => String(i)), "last"]);
    expect(maxInFlight).toBe(1); // before: 1 071 of 2 000 at once
    expect(await metric(p, "mirror_proxy_limit_hits_total", { limit: "max_pipelined_requests" })).toBeGreaterThan(0);
  });

  test("a client that pipelines 20 000 GETs and never reads holds one request at the primary, not thousands", async () => {
    const v1 = await upstream("v1");
    const p = await proxyWith("maxPipelinedRequests: 32", { "app/v1": v1.url });
    const s = await nonReadingPipeliner(p.port, 20000);
    await sleep(1500);
    const served = v1.arrived;
    s.destroy();
    // Before: 12 955 upstream requests over 11 150 connections. Now they are served one by
    // one until the unread answers fill the socket buffers; then the connection waits.
    expect(served).toBeLessThan(20000);
    await sleep(200);
    const after = v1.arrived;
    await sleep(300);
    expect(v1.arrived).toBe(after); // nothing left running for the gone client
  });

  test("a client that pipelines 20 000 GETs and never reads: reading stops, at most one socket read beyond the limit waits", async () => {
    // Answers after 2 ms, so that the queue fills while the socket's write buffer has room.
    const v1 = await upstream("v1", (_req, res) => void setTimeout(() => res.end("ok\n"), 2));
    const p = await proxyWith("maxPipelinedRequests: 32", { "app/v1": v1.url });
    const s = await nonReadingPipeliner(p.port, 20000);
    await sleep(1500);
    // Node parses a whole read (64 KiB = 2 340 of these 28-byte requests) at once; every answer
    // written used to resume reading behind the hold: 17 837 requests parsed and waiting.
    const waiting = await metric(p, "mirror_proxy_pipelined_requests_waiting");
    expect(waiting).toBeLessThanOrEqual(32 + Math.ceil(65536 / 28));
    s.destroy();
    await waitFor(async () => (await metric(p, "mirror_proxy_pipelined_requests_waiting")) === 0, 5000);
  });
});

describe("timeouts", () => {
  test("a request head that never completes (slowloris): 408 after headersTimeoutMs", async () => {
    const v1 = await upstream("v1");
    const p = await proxyWith("headersTimeoutMs: 300", { "app/v1": v1.url });
    const r = await raw(p.port, "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ", 5000);
    expect(statuses(r.text)).toEqual([408]);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(3000);
    expect(await metric(p, "mirror_proxy_limit_hits_total", { limit: "headers_timeout" })).toBe(1);
  });

  test("a body that stops after 10 bytes: 408 after bodyIdleTimeoutMs, connection closed (before: open after 102 s)", async () => {
    const v1 = await upstream("v1");
    const v2 = await upstream("v2");
    const p = await proxyWith("bodyIdleTimeoutMs: 400", { "app/v1": v1.url, "app/v2": v2.url }, MIRRORED);
    const r = await raw(p.port, "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789", 5000);
    expect(statuses(r.text)).toEqual([408]);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeGreaterThan(350);
    expect(r.ms).toBeLessThan(3000);
    expect(await metric(p, "mirror_proxy_limit_hits_total", { limit: "body_idle_timeout" })).toBe(1);
    expect(await metric(p, "mirror_proxy_mirror_copies_sent_total")).toBe(0); // an incomplete body is never mirrored
  });

  test("a body that keeps arriving slowly is not cut (the timeout is idle time, not total time)", async () => {
    const v1 = await upstream("v1");
    const p = await proxyWith("bodyIdleTimeoutMs: 400", { "app/v1": v1.url });
    const s = net.connect(p.port, "127.0.0.1");
    let text = "";
    s.on("data", (d: Buffer) => (text += d.toString("latin1")));
    s.write("POST /trickle HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\nConnection: close\r\n\r\n");
    for (let i = 0; i < 8; i++) {
      await sleep(150);
      s.write("x");
    }
    await waitFor(() => text.includes("trickle"), 3000, "the answer");
    s.destroy();
    expect(statuses(text)).toEqual([200]);
    expect(v1.seen.find((x) => x.url === "/trickle")!.bodyLength).toBe(8);
  });

  test("an idle keep-alive connection is closed after keepAliveTimeoutMs", async () => {
    const v1 = await upstream("v1");
    const p = await proxyWith("keepAliveTimeoutMs: 300", { "app/v1": v1.url });
    const r = await raw(p.port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 5000);
    expect(statuses(r.text)).toEqual([200]);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(3000);
  });
});

describe("connections", () => {
  test("beyond maxConnections a new connection is closed at once, and counted; the ones inside are served", async () => {
    const v1 = await upstream("v1");
    const p = await proxyWith("maxConnections: 3", { "app/v1": v1.url });
    const held = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const s = net.connect(p.port, "127.0.0.1");
        await new Promise((r) => s.once("connect", r));
        return s;
      }),
    );
    await sleep(100);
    const r = await raw(p.port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 3000);
    expect(r.closed).toBe(true);
    expect(r.text).toBe("");
    expect(await metric(p, "mirror_proxy_limit_hits_total", { limit: "max_connections" })).toBe(1);
    held[0].write("GET /inside HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => v1.seen.some((x) => x.url === "/inside"), 3000, "the request inside the limit");
    for (const s of held) s.destroy();
  });
});

describe("primary connect timeout", () => {
  let blackhole: ChildProcess;
  let fill: net.Socket[] = [];
  afterAll(() => {
    for (const s of fill) s.destroy();
    blackhole?.kill("SIGKILL");
  });

  test("a blackholed primary (SYNs dropped) gets 503 after primaryConnectTimeoutMs (before: ~130 s of kernel SYN retries)", async () => {
    // A stopped process with a full listen backlog: the kernel drops further SYNs, as a blackholed address does.
    blackhole = spawn(process.execPath, ["-e", `require("node:net").createServer().listen({ port: 0, host: "127.0.0.1", backlog: 1 }, function () { console.log(this.address().port); })`]);
    const port = await new Promise<number>((r) => blackhole.stdout!.once("data", (d: Buffer) => r(Number(String(d)))));
    blackhole.kill("SIGSTOP");
    fill = Array.from({ length: 4 }, () => net.connect(port, "127.0.0.1").on("error", () => undefined));
    await sleep(300);
    const p = await proxyWith("primaryConnectTimeoutMs: 500", { "app/v1": `http://127.0.0.1:${port}` });
    const r = await request(p.port, { path: "/" });
    expect(r.status).toBe(503);
    expect(r.ms).toBeGreaterThan(400);
    expect(r.ms).toBeLessThan(5000);
    expect(await metric(p, "mirror_proxy_limit_hits_total", { limit: "primary_connect_timeout" })).toBe(1);
  });
});

describe("shadow answers", () => {
  let big: http.Server;
  afterAll(async () => {
    big?.closeAllConnections();
    await new Promise((r) => big?.close(r));
  });

  test("a shadow answering 64 MiB bodies: only maxShadowAnswerBytes is read, then the connection is closed", async () => {
    let bytesAccepted = 0;
    let closedEarly = 0;
    big = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": 64 * 1024 * 1024 });
      const chunk = Buffer.alloc(64 * 1024, 97);
      let left = 64 * 1024 * 1024;
      const pump = () => {
        while (left > 0) {
          left -= chunk.length;
          bytesAccepted += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => {
        if (left > 0) closedEarly++;
        left = 0;
      });
      pump();
    });
    await new Promise<void>((r) => big.listen(0, "127.0.0.1", r));
    const v1 = await upstream("v1");
    const p = await proxyWith("maxShadowAnswerBytes: 65536", { "app/v1": v1.url, "app/v2": `http://127.0.0.1:${(big.address() as net.AddressInfo).port}` }, MIRRORED);
    for (let i = 0; i < 5; i++) expect((await request(p.port, { path: `/${i}` })).status).toBe(200);
    await waitFor(async () => (await metric(p, "mirror_proxy_limit_hits_total", { limit: "max_shadow_answer_bytes" })) === 5, 5000, "5 cut answers");
    await waitFor(() => closedEarly === 5, 5000, "the shadow to see 5 closed connections");
    expect(await metric(p, "mirror_proxy_shadow_responses_total", { code_class: "2xx" })).toBe(5);
    expect(bytesAccepted).toBeLessThan(5 * 16 * 1024 * 1024); // far from 5 x 64 MiB: socket buffers at most
  });

  test("answers cut per second are budgeted: past maxShadowAnswerCutsPerSecond, that shadow's copies are skipped until the budget refills", async () => {
    let arrived = 0;
    const huge = http.createServer((req, res) => {
      arrived++;
      req.resume();
      res.writeHead(200, { "content-length": 1024 * 1024 * 1024 });
      res.write(Buffer.alloc(64 * 1024, 97));
      res.on("error", () => undefined);
    });
    await new Promise<void>((r) => huge.listen(0, "127.0.0.1", r));
    try {
      const v1 = await upstream("v1");
      // 1 a second: a bucket of one cut, refilled after a second.
      const p = await proxyWith("maxShadowAnswerBytes: 65536, maxShadowAnswerCutsPerSecond: 1", { "app/v1": v1.url, "app/v2": `http://127.0.0.1:${(huge.address() as net.AddressInfo).port}` }, MIRRORED);
      const cuts = () => metric(p, "mirror_proxy_limit_hits_total", { limit: "max_shadow_answer_bytes" });
      const skipped = () => metric(p, "mirror_proxy_mirror_copies_dropped_total", { reason: "answer_too_large" });
      expect((await request(p.port, { path: "/1" })).status).toBe(200);
      await waitFor(async () => (await cuts()) === 1, 3000, "cut 1");
      for (let i = 2; i <= 6; i++) expect((await request(p.port, { path: `/${i}` })).status).toBe(200); // the primary is untouched
      expect(await skipped()).toBe(5);
      expect(arrived).toBe(1);
      await sleep(1100); // refilled: copies flow again
      expect((await request(p.port, { path: "/7" })).status).toBe(200);
      await waitFor(async () => (await cuts()) === 2, 3000, "cut 2");
      expect(arrived).toBe(2);
    } finally {
      huge.closeAllConnections();
      await new Promise((r) => huge.close(r));
    }
  });

  test("request bodies held for copies are bounded all requests together (maxMirrorBufferBytes)", async () => {
    const v1 = await upstream("v1");
    const v2 = await upstream("v2");
    const p = await proxyWith("maxMirrorBufferBytes: 100000, bodyIdleTimeoutMs: 5000", { "app/v1": v1.url, "app/v2": v2.url }, MIRRORED);
    // One upload holds 80 000 bytes and stalls; a second one of 80 000 no longer fits.
    const s = net.connect(p.port, "127.0.0.1");
    s.write(`POST /held HTTP/1.1\r\nHost: a\r\nContent-Length: 90000\r\n\r\n${"a".repeat(80000)}`);
    await waitFor(async () => v1.arrived > 0, 3000, "the first upload at the primary");
    await sleep(100);
    const second = await request(p.port, { method: "POST", path: "/second", body: "b".repeat(80000) });
    expect(second.status).toBe(200);
    expect(await metric(p, "mirror_proxy_limit_hits_total", { limit: "max_mirror_buffer_bytes" })).toBe(1);
    expect(await metric(p, "mirror_proxy_mirror_copies_dropped_total", { reason: "body_too_large" })).toBe(1);
    s.destroy();
    // Released when the stalled upload went away: a third one is mirrored again.
    await sleep(200);
    expect((await request(p.port, { method: "POST", path: "/third", body: "c".repeat(80000) })).status).toBe(200);
    await waitFor(() => v2.seen.some((x) => x.url === "/third" && x.bodyLength === 80000), 3000, "the third upload's copy");
  });
});
