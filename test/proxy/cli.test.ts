/** The real CLI process: startup errors, admin port, ConfigMap-style reload, SIGHUP, SIGTERM drain. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { configText, DR, startUpstream, waitFor, type Upstream } from "./helpers.ts";

const ROOT = resolve(__dirname, "../..");
const NODE = join(ROOT, "node_modules/.bin/node");
const MAIN = join(ROOT, "workloads/mirror-proxy/src/main.ts");

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  exited: Promise<number | null>;
}

function run(args: string[]): Proc {
  const child = spawn(NODE, [MAIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = { child, out: "", err: "", exited: new Promise((r) => child.on("exit", (code) => r(code))) };
  child.stdout!.on("data", (d) => (p.out += d));
  child.stderr!.on("data", (d) => (p.err += d));
  return p;
}

/** A raw GET without connection reuse (the agent must not keep the drained proxy's sockets). */
function get(port: number, path: string, host = "app"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, headers: { host }, agent: false }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

let a: Upstream;
let b: Upstream;
let slow: Upstream;
let dir: string;

const cfg = (subset: string) =>
  configText({
    vs: `  hosts: ["*"]\n  http:\n    - match: [{ uri: { prefix: /slow } }]\n      route: [{ destination: { host: app, subset: slow } }]\n    - route: [{ destination: { host: app, subset: ${subset} } }]\n`,
    drs: DR("app", "app", ["a", "b", "slow"]),
    upstreams: { "app/a": a.url, "app/b": b.url, "app/slow": slow.url },
  });

/** Writes a ConfigMap-style volume: routing.yaml -> ..data/routing.yaml, ..data -> ..<version>. */
let version = 0;
function publish(text: string): void {
  const v = `..v${++version}`;
  mkdirSync(join(dir, v));
  writeFileSync(join(dir, v, "routing.yaml"), text);
  symlinkSync(v, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data")); // atomic swap, as kubelet does
  if (version === 1) symlinkSync("..data/routing.yaml", join(dir, "routing.yaml"));
}

beforeAll(async () => {
  a = await startUpstream("a");
  b = await startUpstream("b");
  slow = await startUpstream("slow", { delayMs: 600 });
  dir = mkdtempSync(join(tmpdir(), "mirror-proxy-cli-"));
});

afterAll(async () => {
  await Promise.all([a.close(), b.close(), slow.close()]);
  rmSync(dir, { recursive: true, force: true });
});

test("an invalid config: exit 1, every problem named, nothing served", async () => {
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, cfg("a").replace("    - route: [{ destination: { host: app, subset: a } }]", "    - route: [{ destination: { host: app, subset: a } }]\n      fault: { delay: { fixedDelay: 1s, percentage: { value: 200 } } }\n      mirrorPercentage: { value: 150 }"));
  const p = run(["--config", bad, "--listen", "0", "--admin", "0"]);
  expect(await p.exited).toBe(1);
  expect(p.err).toContain("VirtualService/app: spec.http[1].fault.delay.percentage.value: must be between 0 and 100 (got 200)");
  expect(p.err).toContain("VirtualService/app: spec.http[1].mirrorPercentage.value: must be between 0 and 100 (got 150)");
  expect(p.out).not.toContain("listening on");
});

test("a missing config file and a bad port are startup errors", async () => {
  const p = run(["--config", join(dir, "nope.yaml")]);
  expect(await p.exited).toBe(1);
  expect(p.err).toContain("cannot load config");
  const q = run(["--config", join(dir, "nope.yaml"), "--listen", "http"]);
  expect(await q.exited).not.toBe(0);
  expect(q.err).toContain("must be a port number");
});

test("serves, exposes admin, reloads on a ConfigMap swap and SIGHUP, rejects a bad reload, drains on SIGTERM", async () => {
  publish(cfg("a"));
  const p = run(["--config", join(dir, "routing.yaml"), "--listen", "0", "--admin", "0", "--host", "127.0.0.1"]);
  try {
    await waitFor(() => /admin on http:\/\/127\.0\.0\.1:\d+/.test(p.out), 10000, `startup (stderr: ${p.err})`);
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(p.out)![1]);
    const admin = Number(/admin on http:\/\/127\.0\.0\.1:(\d+)/.exec(p.out)![1]);

    expect((await get(port, "/x")).body).toBe("a GET /x");
    expect(await get(admin, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get(admin, "/readyz")).toEqual({ status: 200, body: "ready\n" });
    const metrics = await get(admin, "/metrics");
    expect(metrics.body).toContain('mirror_proxy_requests_total{route="app/1",code_class="2xx"} 1');
    expect(metrics.body).toContain("process_resident_memory_bytes");
    expect((await get(port, "/metrics")).body).toBe("a GET /metrics"); // the traffic port serves only traffic

    // ConfigMap update: the ..data symlink is swapped; routing follows without a restart.
    publish(cfg("b"));
    await waitFor(async () => (await get(port, "/x")).body === "b GET /x", 5000, "reload after the ConfigMap swap");
    expect(p.out).toContain("config reloaded (file changed)");

    // An invalid update is logged and the old routing keeps serving.
    publish(cfg("a").replace("subset: a }", "subset: zz }"));
    await waitFor(() => p.err.includes("rejected, still serving the previous config"), 5000, "the rejected reload");
    expect(p.err).toContain('VirtualService/app: spec.http[1].route[0].destination: no upstream for "app/zz" in MirrorProxy spec.upstreams (got {"host":"app","subset":"zz"})');
    expect((await get(port, "/x")).body).toBe("b GET /x");
    await waitFor(async () => (await get(admin, "/metrics")).body.includes('mirror_proxy_config_reloads_total{result="failure"} 1'));

    // SIGHUP rereads the file (fixed again meanwhile).
    publish(cfg("a"));
    p.child.kill("SIGHUP");
    await waitFor(async () => (await get(port, "/x")).body === "a GET /x", 5000, "reload on SIGHUP");

    // SIGTERM: the in-flight request finishes, readyz turns 503, new connections are refused, exit 0.
    const arrived = slow.arrived;
    const inFlight = get(port, "/slow");
    await waitFor(() => slow.arrived === arrived + 1, 5000, "the slow request to reach its upstream");
    p.child.kill("SIGTERM");
    await waitFor(async () => (await get(admin, "/readyz").catch(() => ({ status: 0 }))).status === 503, 2000, "readyz 503 while draining");
    await expect(get(port, "/x")).rejects.toThrow();
    expect(await inFlight).toEqual({ status: 200, body: "slow GET /slow" });
    expect(await p.exited).toBe(0);
    expect(p.out).toContain("drained");
  } finally {
    if (p.child.exitCode === null) p.child.kill("SIGKILL");
  }
});
