/** --workers N: real processes (node:cluster) sharing the traffic port, metrics aggregated on the primary's admin port. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { configText, startUpstream, waitFor, type Upstream } from "./helpers.ts";

const ROOT = resolve(__dirname, "../..");
const NODE = join(ROOT, "node_modules/.bin/node");
const MAIN = join(ROOT, "workloads/mirror-proxy/src/main.ts");

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, headers: { host: "app" }, agent: false }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

/** Children of a pid (the cluster's workers), from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function readlinkSafe(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return "";
  }
}

let v1: Upstream;
let v2: Upstream;
let dir: string;
let child: ChildProcess;
let out = "";
let exited: Promise<number | null>;
let port = 0;
let admin = 0;

beforeAll(async () => {
  v1 = await startUpstream("v1");
  v2 = await startUpstream("v2");
  dir = mkdtempSync(join(tmpdir(), "workers-"));
  writeFileSync(
    join(dir, "routing.yaml"),
    configText({
      vs: `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n      mirror: { host: app, subset: v2 }\n`,
      upstreams: { "app/v1": v1.url, "app/v2": v2.url },
    }),
  );
  child = spawn(NODE, [MAIN, "--config", join(dir, "routing.yaml"), "--listen", "0", "--admin", "0", "--host", "127.0.0.1", "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  exited = new Promise((r) => child.on("exit", (code) => r(code)));
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  await waitFor(() => (out.match(/listening on/g) ?? []).length === 2 && /admin on/.test(out), 20_000, "two workers listening");
  port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
  admin = Number(/^mirror-proxy admin on http:\/\/127\.0\.0\.1:(\d+)/m.exec(out)![1]);
  await waitFor(async () => (await get(admin, "/readyz")).status === 200, 10_000, "readyz");
}, 30_000);

afterAll(async () => {
  if (child.exitCode === null) child.kill("SIGKILL");
  await Promise.all([v1.close(), v2.close()]);
  rmSync(dir, { recursive: true, force: true });
});

test("two workers share one traffic port; the admin port is the primary's, and only its address is printed", () => {
  expect(out.match(/\[worker \d\] mirror-proxy listening on http:\/\/127\.0\.0\.1:(\d+)/g)!.map((l) => l.replace(/^\[worker \d\] /, ""))).toEqual([
    `mirror-proxy listening on http://127.0.0.1:${port}`,
    `mirror-proxy listening on http://127.0.0.1:${port}`,
  ]);
  expect(out.match(/admin on/g)).toHaveLength(1);
  expect(childrenOf(child.pid!)).toHaveLength(2);
});

test("requests and copies are served by both workers, /metrics sums them, /compare is not served", async () => {
  const n = 40;
  for (let i = 0; i < n; i++) expect(await get(port, `/r${i}`)).toEqual({ status: 200, body: `v1 GET /r${i}` });
  await waitFor(() => v2.seen.length === n, 5000, "every copy");
  const text = (await get(admin, "/metrics")).body;
  const value = (re: RegExp) => Number(re.exec(text)?.[1]);
  expect(value(/^mirror_proxy_requests_total\{route="app\/0",code_class="2xx"\} (\d+)$/m)).toBe(n);
  expect(value(/^mirror_proxy_mirror_copies_sent_total\{upstream="app\/v2"\} (\d+)$/m)).toBe(n);
  // Each worker forwarded some (new connections are handed out round-robin): each holds a
  // kept-alive socket to v1 (sockets from /proc/net/tcp by v1's port, matched to each worker's fds).
  const hexPort = v1.port.toString(16).toUpperCase().padStart(4, "0");
  const toV1 = new Set(
    readFileSync("/proc/net/tcp", "utf8")
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[2]?.endsWith(`:${hexPort}`))
      .map((f) => f[9]),
  );
  for (const w of childrenOf(child.pid!)) {
    const sockets = readdirSync(`/proc/${w}/fd`).map((fd) => /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${w}/fd/${fd}`))?.[1]);
    expect(sockets.some((inode) => inode !== undefined && toV1.has(inode))).toBe(true);
  }
  expect((await get(admin, "/compare")).status).toBe(404);
});

test("a worker that dies is replaced; SIGTERM drains every worker and exits 0", async () => {
  const [first] = childrenOf(child.pid!);
  process.kill(first, "SIGKILL");
  await waitFor(() => childrenOf(child.pid!).length === 2 && !childrenOf(child.pid!).includes(first), 10_000, "a new worker");
  await waitFor(async () => (await get(admin, "/readyz")).status === 200, 10_000, "ready again");
  expect((await get(port, "/after")).status).toBe(200);
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(out).toMatch(/SIGTERM, draining 2 workers/);
}, 30_000);
