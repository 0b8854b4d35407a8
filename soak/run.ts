/**
 * npm run soak [-- --only pipeline,idle,...]: the hostile patterns of issue 13 against a
 * real mirror-proxy process (as the image runs it: tsc's JavaScript with the Dockerfile CMD's node flags),
 * with its default limits. Each case prints its figures (peak RSS from /proc, the proxy's
 * own event-loop lag, upstream fan-out, latencies) and whether it meets the target:
 * peak RSS < 160 MiB, event-loop lag < 50 ms, primary p99 with a 1 GiB shadow within
 * 1.5 x the healthy baseline. Traffic goes to 127.0.0.1 only, bounded in time and count.
 * A case that misses runs once more; it fails when it misses twice. Exit 1 on a failure
 * (run by .ci/run, about 1.5 minutes).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { nodeFlagsFromDockerfile } from "../bench/configs.ts";
import { buildProxyJs } from "../bench/servers.ts";

const ROOT = path.resolve(path.dirname(path.resolve(process.argv[1])), "..");
// The proxy runs as its image runs it: tsc's JavaScript (Node's type stripping of main.ts loads
// a WASM transpiler, ~30 MB more RSS than the pod has) with the node flags of the Dockerfile's
// CMD. SOAK_PROXY_MAIN=/other/checkout/.../main.js (or .ts) measures another version (before/after).
let MAIN = process.env.SOAK_PROXY_MAIN ?? "";
const NODE_FLAGS = nodeFlagsFromDockerfile(fs.readFileSync(path.join(ROOT, "workloads/mirror-proxy/Dockerfile"), "utf8"));
const MIB = 1024 * 1024;
const RSS_LIMIT_MIB = 160;
const LAG_LIMIT_MS = 50;

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

interface Up {
  url: string;
  port: number;
  requests: number;
  inFlight: number;
  maxInFlight: number;
  conns: number;
  maxConns: number;
  close(): Promise<void>;
}

/** An upstream answering a short text; counts requests and connections (concurrent peaks). */
async function upstream(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, r) => r.end("ok\n")): Promise<Up> {
  const up: Up = { url: "", port: 0, requests: 0, inFlight: 0, maxInFlight: 0, conns: 0, maxConns: 0, close: async () => undefined };
  const s = http.createServer({ keepAliveTimeout: 120000 }, (req, res) => {
    up.requests++;
    up.maxInFlight = Math.max(up.maxInFlight, ++up.inFlight);
    res.once("close", () => up.inFlight--);
    req.resume();
    req.once("end", () => answer(req, res));
  });
  s.on("connection", (c) => {
    up.maxConns = Math.max(up.maxConns, ++up.conns);
    c.once("close", () => up.conns--);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  up.port = (s.address() as net.AddressInfo).port;
  up.url = `http://127.0.0.1:${up.port}`;
  up.close = async () => {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  };
  return up;
}

/** A child process serving `code` (a listening server printing its port). */
async function childServer(code: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
    child.once("exit", (c) => reject(new Error(`child server exited ${c}`)));
  });
  return { port, child };
}

/** A shadow that answers every request with a `bytes`-long body, as fast as it can write. */
const BIG_SHADOW = (bytes: number) => `
const http = require("node:http");
const chunk = Buffer.alloc(1 << 20, 97);
http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { "content-length": ${bytes} });
  let left = ${bytes};
  const pump = () => { while (left > 0) { const n = Math.min(left, chunk.length); left -= n; if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return res.once("drain", pump); } res.end(); };
  pump();
  res.on("close", () => { left = 0; });
}).listen(0, "127.0.0.1", function () { console.log(this.address().port); });`;

interface Proxy {
  child: ChildProcess;
  pid: number;
  port: number;
  admin: number;
  output: string[];
}

function config(upstreams: Record<string, string>, vs: string, extra = ""): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: app }
spec:
  host: app
  subsets: [ { name: v1 }, { name: v2 } ]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: app }
spec:
  hosts: ["*"]
  http:
${vs}
---
apiVersion: traffic-mirroring/v1
kind: MirrorProxy
spec:
  upstreams:
${Object.entries(upstreams)
  .map(([k, v]) => `    ${k}: ${v}`)
  .join("\n")}
${extra}`;
}

const MIRRORED = `    - route: [ { destination: { host: app, subset: v1 } } ]
      mirror: { host: app, subset: v2 }`;

async function startProxy(text: string): Promise<Proxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "soak-"));
  const file = path.join(dir, "routing.yaml");
  fs.writeFileSync(file, text);
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, "--config", file, "--listen", "0", "--admin", "0", "--host", "127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const output: string[] = [];
  const ports = await new Promise<number[]>((resolve, reject) => {
    const found: number[] = [];
    const onLine = (d: Buffer) => {
      for (const line of String(d).split("\n")) {
        output.push(line);
        const m = /(listening|admin) on http:\/\/[^:]+:(\d+)/.exec(line);
        if (m) found[m[1] === "listening" ? 0 : 1] = Number(m[2]);
        if (found[0] && found[1]) resolve(found);
      }
    };
    child.stdout!.on("data", onLine);
    child.stderr!.on("data", onLine);
    child.once("exit", (c) => reject(new Error(`proxy exited ${c}: ${output.join("\n")}`)));
  });
  return { child, pid: child.pid!, port: ports[0], admin: ports[1], output };
}

async function stopProxy(p: Proxy): Promise<void> {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once("exit", r));
  p.child.kill("SIGKILL");
  await exited;
  children.delete(p.child);
}

function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}
/** Peak RSS since the last resetPeak (VmHWM, reset by writing 5 to clear_refs). */
const peakMib = (pid: number) => statusKb(pid, "VmHWM") / 1024;
function resetPeak(pid: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    /* not allowed: the peak then counts from the start */
  }
}

async function get(port: number, p: string, ms = 30000): Promise<{ status: number; body: string; ms: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: p, agent: false, timeout: ms }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${p}: no answer in ${ms} ms`)));
    req.on("error", reject);
  });
}

/** The proxy's event-loop lag (max, ms) since the previous scrape (prom-client resets it on each scrape). */
async function lagMaxMs(p: Proxy): Promise<number> {
  const r = await get(p.admin, "/metrics");
  const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(r.body);
  return m ? Number(m[1]) * 1000 : NaN;
}

async function metricSum(p: Proxy, name: string): Promise<number> {
  const r = await get(p.admin, "/metrics");
  let sum = 0;
  for (const m of r.body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) sum += Number(m[1]);
  return sum;
}

/** User + system CPU time of a process so far (ms), from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples the proxy's RSS every 50 ms while `work` runs; also measures admin /healthz latency (a bystander). */
async function observe<T>(p: Proxy, work: () => Promise<T>): Promise<{ result: T; peak: number; healthzMaxMs: number }> {
  resetPeak(p.pid);
  const t0 = performance.now();
  let stop = false;
  let healthzMaxMs = 0;
  const bystander = (async () => {
    while (!stop) {
      const r = await get(p.admin, "/healthz", 60000).catch(() => ({ ms: NaN }));
      if (process.env.SOAK_DEBUG && r.ms > 50) console.log(`  healthz took ${Math.round(r.ms)} ms, ${Math.round(performance.now() - t0)} ms into the case`);
      healthzMaxMs = Math.max(healthzMaxMs, r.ms);
      await sleep(20);
    }
  })();
  const result = await work();
  stop = true;
  await bystander;
  return { result, peak: peakMib(p.pid), healthzMaxMs };
}

type Figures = Record<string, string | number | boolean>;
const report: { name: string; figures: Figures; pass: boolean }[] = [];
function record(name: string, figures: Figures, pass: boolean): void {
  report.push({ name, figures, pass });
  const f = Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === "number" ? Math.round(v * 10) / 10 : v}`)
    .join(" ");
  console.log(`${pass ? "PASS" : "FAIL"} ${name}: ${f}`);
}

// ---------------------------------------------------------------- cases

const cases: Record<string, () => Promise<void>> = {
  /** Issue case 1: /api/(\w+/?)* against /api/ + 28 x a + "!". */
  async regex() {
    const v1 = await upstream();
    const p = await startProxy(
      config({ "app/v1": v1.url }, `    - match: [ { uri: { regex: "/api/(\\\\w+/?)*" } } ]\n      route: [ { destination: { host: app, subset: v1 } } ]\n    - route: [ { destination: { host: app, subset: v1 } } ]`),
    );
    await lagMaxMs(p);
    const o = await observe(p, () => get(p.port, `/api/${"a".repeat(28)}!`, 120000));
    const lag = await lagMaxMs(p);
    record("regex /api/(\\w+/?)* vs /api/+28a+!", { request_ms: o.result.ms, status: o.result.status, healthz_max_ms: o.healthzMaxMs, lag_max_ms: lag }, lag < LAG_LIMIT_MS && o.result.ms < 1000);
    await stopProxy(p);
    await v1.close();
  },

  /** Issue case 7a: 20 000 pipelined GETs in one write from a client that never reads. */
  async pipeline() {
    // Answers after 2 ms, so that requests sent at once overlap (and show as in flight together).
    const v1 = await upstream((_q, r) => setTimeout(() => r.end("ok\n"), 2));
    const v2 = await upstream();
    const p = await startProxy(config({ "app/v1": v1.url, "app/v2": v2.url }, MIRRORED));
    await lagMaxMs(p);
    const o = await observe(p, async () => {
      const s = net.connect(p.port, "127.0.0.1");
      await new Promise((r) => s.once("connect", r));
      s.pause(); // never reads
      s.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(20000));
      await sleep(8000);
      s.destroy();
      await sleep(500);
    });
    const lag = await lagMaxMs(p);
    record(
      "pipeline 20000 GETs, client not reading",
      { peak_rss_mib: o.peak, primary_requests: v1.requests, primary_max_in_flight: v1.maxInFlight, primary_max_conns: v1.maxConns, lag_max_ms: lag, healthz_max_ms: o.healthzMaxMs },
      o.peak < RSS_LIMIT_MIB && v1.maxInFlight <= 1 && lag < LAG_LIMIT_MS,
    );
    await stopProxy(p);
    await v1.close();
    await v2.close();
  },

  /** Issue case 7b: 2 000 pipelined GETs from a reading client: all answered, in order, one at a time. */
  async pipeline2000() {
    const v1 = await upstream((req, res) => setTimeout(() => res.end(`${req.url}\n`), 2));
    const p = await startProxy(config({ "app/v1": v1.url }, `    - route: [ { destination: { host: app, subset: v1 } } ]`));
    const o = await observe(p, async () => {
      const s = net.connect(p.port, "127.0.0.1");
      let text = "";
      s.setEncoding("latin1");
      s.on("data", (d: string) => (text += d));
      await new Promise((r) => s.once("connect", r));
      let out = "";
      for (let i = 0; i < 2000; i++) out += `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
      s.write(out);
      const t = Date.now();
      while ((text.match(/HTTP\/1\.1 200/g)?.length ?? 0) < 2000 && Date.now() - t < 30000) await sleep(50);
      s.destroy();
      const order = [...text.matchAll(/\r\n\r\n\/(\d+)\n/g)].map((m) => Number(m[1]));
      return { answered: order.length, inOrder: order.every((n, i) => n === i) };
    });
    record("pipeline 2000 GETs, client reading", { answered: o.result.answered, in_order: o.result.inOrder, primary_max_in_flight: v1.maxInFlight, peak_rss_mib: o.peak }, o.result.answered === 2000 && o.result.inOrder && v1.maxInFlight <= 1);
    await stopProxy(p);
    await v1.close();
  },

  /** Issue case 7c: 12 000 idle keep-alive connections (one request each, then idle). */
  async idle() {
    const v1 = await upstream();
    const p = await startProxy(config({ "app/v1": v1.url }, `    - route: [ { destination: { host: app, subset: v1 } } ]`));
    const o = await observe(p, async () => {
      const socks: net.Socket[] = [];
      let answered = 0;
      let refused = 0;
      const open = (): Promise<void> =>
        new Promise((resolve) => {
          const s = net.connect(p.port, "127.0.0.1");
          socks.push(s);
          s.on("error", () => {
            refused++;
            resolve();
          });
          s.once("connect", () => s.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
          s.once("data", () => {
            answered++;
            resolve();
          });
          s.once("close", () => resolve());
        });
      for (let i = 0; i < 12000; i += 200) await Promise.all(Array.from({ length: Math.min(200, 12000 - i) }, open));
      await sleep(3000);
      const open_ = socks.filter((s) => !s.destroyed).length;
      for (const s of socks) s.destroy();
      await sleep(500);
      return { answered, refused, stillOpen: open_ };
    });
    record("idle 12000 keep-alive connections", { peak_rss_mib: o.peak, answered: o.result.answered, refused_or_closed: 12000 - o.result.stillOpen, still_open: o.result.stillOpen, healthz_max_ms: o.healthzMaxMs }, o.peak < RSS_LIMIT_MIB);
    await stopProxy(p);
    await v1.close();
  },

  /** Issue case 7d: 120 uploads stalled just below the mirror cap (1 MiB), and how long they stay. */
  async uploads() {
    const v1 = await upstream();
    const v2 = await upstream();
    const p = await startProxy(config({ "app/v1": v1.url, "app/v2": v2.url }, MIRRORED));
    const socks: net.Socket[] = [];
    const closedAt: number[] = [];
    const statuses: string[] = [];
    const t0 = Date.now();
    const o = await observe(p, async () => {
      const body = Buffer.alloc(MIB - 1024, 98);
      for (let i = 0; i < 120; i++) {
        const s = net.connect(p.port, "127.0.0.1");
        socks.push(s);
        s.on("error", () => undefined);
        s.on("data", (d: Buffer) => statuses.push(String(d).split("\r\n")[0]));
        s.once("close", () => closedAt.push(Date.now() - t0));
        s.write(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${MIB}\r\n\r\n`);
        s.write(body);
      }
      await sleep(5000);
    });
    // The slow-body case: one upload stops after 10 bytes; how long until the proxy ends it.
    const slow = net.connect(p.port, "127.0.0.1");
    let slowStatus = "";
    const slowClosed = new Promise<number>((resolve) => {
      const t = Date.now();
      slow.on("data", (d: Buffer) => (slowStatus ||= String(d).split("\r\n")[0]));
      slow.on("error", () => undefined);
      slow.once("close", () => resolve(Date.now() - t));
    });
    slow.write("POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
    const waitMs = 75000;
    const slowMs = await Promise.race([slowClosed, sleep(waitMs).then(() => NaN)]);
    const closed = closedAt.length;
    for (const s of [...socks, slow]) s.destroy();
    record(
      "uploads 120 x (1 MiB - 1 KiB) of 1 MiB, stalled",
      { peak_rss_mib: o.peak, closed_by_proxy_within_80s: closed, first_status: statuses[0] ?? "none", slow_body_closed_after_ms: Number.isNaN(slowMs) ? `>${waitMs}` : slowMs, slow_status: slowStatus || "none" },
      o.peak < RSS_LIMIT_MIB && !Number.isNaN(slowMs) && slowStatus.includes("408"),
    );
    await stopProxy(p);
    await v1.close();
    await v2.close();
  },

  /** Issue case 9: primary p99 when every copy is answered by a 1 GiB body, against a healthy shadow. */
  async bigshadow() {
    const v1 = await upstream();
    const healthy = await upstream();
    const big = await childServer(BIG_SHADOW(1024 * MIB));
    const load = async (p: Proxy) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
      const lat: number[] = [];
      const until = Date.now() + 6000;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (Date.now() < until) {
            const t = performance.now();
            await new Promise<void>((resolve) => {
              http
                .get({ host: "127.0.0.1", port: p.port, path: "/", agent }, (res) => {
                  res.resume();
                  res.on("end", () => resolve());
                })
                .on("error", () => resolve());
            });
            lat.push(performance.now() - t);
            await sleep(5); // ~ 1 000 req/s at most: the proxy is not saturated, latency is what is measured
          }
        }),
      );
      agent.destroy();
      lat.sort((a, b) => a - b);
      return { n: lat.length, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)] };
    };
    const run = async (shadowUrl: string) => {
      const p = await startProxy(config({ "app/v1": v1.url, "app/v2": shadowUrl }, MIRRORED));
      await lagMaxMs(p);
      const cpu0 = cpuMs(p.pid);
      const o = await observe(p, () => load(p));
      const cpu = cpuMs(p.pid) - cpu0;
      const lag = await lagMaxMs(p);
      await stopProxy(p);
      return { ...o.result, lag, peak: o.peak, cpuMsPer1k: (cpu / o.result.n) * 1000 };
    };
    const base = await run(healthy.url);
    const bad = await run(`http://127.0.0.1:${big.port}`);
    record(
      "shadow answering 1 GiB bodies",
      { base_p50_ms: base.p50, base_p99_ms: base.p99, base_cpu_ms_per_1k: base.cpuMsPer1k, big_cpu_ms_per_1k: bad.cpuMsPer1k, big_p50_ms: bad.p50, big_p99_ms: bad.p99, ratio_p99: bad.p99 / base.p99, big_lag_max_ms: bad.lag, big_peak_rss_mib: bad.peak, requests: bad.n },
      bad.p99 <= 1.5 * Math.max(base.p99, 5) && bad.lag < LAG_LIMIT_MS && bad.peak < RSS_LIMIT_MIB,
    );
    big.child.kill("SIGKILL");
    await v1.close();
    await healthy.close();
  },

  /** Issue case 8: a blackholed primary (its SYNs dropped: a stopped process with a full backlog). */
  async blackhole() {
    const bh = await childServer(`require("node:net").createServer().listen({ port: 0, host: "127.0.0.1", backlog: 1 }, function () { console.log(this.address().port); })`);
    bh.child.kill("SIGSTOP");
    const fill = Array.from({ length: 4 }, () => net.connect(bh.port, "127.0.0.1").on("error", () => undefined));
    await sleep(300);
    const p = await startProxy(config({ "app/v1": `http://127.0.0.1:${bh.port}` }, `    - route: [ { destination: { host: app, subset: v1 } } ]`));
    const r = await get(p.port, "/", 40000).catch((e: Error) => ({ status: 0, ms: NaN, body: e.message }));
    record("blackholed primary", { status: r.status, ms: Number.isNaN(r.ms) ? ">40000" : r.ms }, r.status === 503 && r.ms < 15000);
    await stopProxy(p);
    for (const s of fill) s.destroy();
    bh.child.kill("SIGKILL");
  },
};

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const onlyArg = process.argv.indexOf("--only");
  const only = onlyArg > 0 ? process.argv[onlyArg + 1].split(",") : Object.keys(cases);
  for (const name of only) {
    if (!cases[name]) throw new Error(`unknown case ${name}; cases: ${Object.keys(cases).join(", ")}`);
  }
  const started = Date.now();
  if (MAIN === "") {
    MAIN = buildProxyJs(fs.mkdtempSync(path.join(os.tmpdir(), "soak-build-")), ROOT).entry;
    console.log(`soak: proxy compiled by tsc (as in its image) -> ${MAIN}, node ${NODE_FLAGS.join(" ")}`);
  }
  // A case that misses its target runs once more (both results printed): its figures are
  // timings and peaks on a shared machine, and one disturbed run is not a regression. A case
  // fails when it misses twice in a row.
  const failed: string[] = [];
  for (const name of only) {
    let pass = false;
    for (let run = 1; run <= 2 && !pass; run++) {
      const before = report.length;
      try {
        await cases[name]();
      } catch (e) {
        record(name, { error: (e as Error).message }, false);
      }
      pass = report.slice(before).every((r) => r.pass);
      if (!pass && run === 1) console.log(`soak: ${name} missed its target; running it once more`);
    }
    if (!pass) failed.push(name);
  }
  const secs = Math.round((Date.now() - started) / 1000);
  console.log(`soak: ${only.length - failed.length}/${only.length} cases pass in ${secs} s${failed.length ? ` (failed twice: ${failed.join(", ")})` : ""}`);
  process.exit(failed.length === 0 ? 0 : 1);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
