// The processes the benchmark drives: wrk, nginx and the mirror proxy.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { NGINX_BIN, nginxConfig, type NginxConfigOptions } from "./configs.ts";
import { stopChild, track, waitForOutput, waitForPort } from "./procs.ts";
import { parseWrkOutput, WRK_LUA, type WrkResult } from "./wrk.ts";

export const PROXY_DIR = path.join("workloads", "mirror-proxy");
export const PROXY_ENTRY_TS = path.join(PROXY_DIR, "src", "main.ts");

// ---------------------------------------------------------------------- wrk

export interface WrkOptions {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  timeoutS?: number;
  /** Path of the Lua hook, see writeWrkLua. */
  luaPath: string;
  wrkPath?: string;
}

/** Writes the Lua hook into dir and returns its path. */
export function writeWrkLua(dir: string): string {
  const p = path.join(dir, "wrk-report.lua");
  fs.writeFileSync(p, WRK_LUA);
  return p;
}

export function runWrk(o: WrkOptions): Promise<WrkResult & { stdout: string }> {
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.durationS}s`,
    `--timeout`,
    `${o.timeoutS ?? 5}s`,
    `-s`,
    o.luaPath,
    o.url,
  ];
  return new Promise((resolve, reject) => {
    const child = track(spawn(o.wrkPath ?? "wrk", args, { stdio: ["ignore", "pipe", "pipe"] }));
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code ?? signal}: ${err}${out}`));
      try {
        resolve({ ...parseWrkOutput(out), stdout: out });
      } catch (e) {
        reject(e);
      }
    });
  });
}

// -------------------------------------------------------------------- nginx
/** Why the nginx rows cannot run, or null when nginx is installed. */
export function nginxMissingReason(): string | null {
  try {
    fs.accessSync(NGINX_BIN, fs.constants.X_OK);
    return null;
  } catch {
    return `${NGINX_BIN} not found (apt-get install nginx-light or nginx)`;
  }
}

export interface RunningNginx {
  child: ChildProcess;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startNginx(o: Omit<NginxConfigOptions, "prefix" | "runAsRoot"> & { dir: string }): Promise<RunningNginx> {
  fs.mkdirSync(o.dir, { recursive: true });
  const conf = path.join(o.dir, "nginx.conf");
  fs.writeFileSync(
    conf,
    nginxConfig({ ...o, prefix: o.dir, runAsRoot: typeof process.getuid === "function" && process.getuid() === 0 }),
  );
  const child = track(
    spawn(NGINX_BIN, ["-p", o.dir + "/", "-c", conf, "-e", path.join(o.dir, "error.log")], {
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  try {
    await waitForPort(o.listenPort, 10_000, child);
  } catch (e) {
    await stopChild(child, "SIGTERM", 2000);
    const log = fs.existsSync(path.join(o.dir, "error.log")) ? fs.readFileSync(path.join(o.dir, "error.log"), "utf8") : "";
    throw new Error(`nginx did not start: ${(e as Error).message}\n${out}${log}`);
  }
  return {
    child,
    port: o.listenPort,
    dir: o.dir,
    // SIGTERM is nginx's fast shutdown; the master waits for its worker.
    stop: () => stopChild(child, "SIGTERM", 5000),
  };
}

// -------------------------------------------------------------- mirror proxy

export interface RunningProxy {
  child: ChildProcess;
  port: number;
  adminPort: number;
  /** Everything the proxy printed (capped). */
  output(): string;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startProxy(o: { entry: string; configFile: string; nodeArgs?: string[]; args?: string[] }): Promise<RunningProxy> {
  const child = track(
    spawn(process.execPath, [...(o.nodeArgs ?? []), o.entry, "--config", o.configFile, "--listen", "0", "--admin", "0", "--host", "127.0.0.1", ...(o.args ?? [])], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_ENV: "production" },
    }),
  );
  let out = "";
  const keep = (d: Buffer) => {
    if (out.length < 64 * 1024) out += d.toString();
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const [listen, admin] = await Promise.all([
    waitForOutput(child, /listening on http:\/\/127\.0\.0\.1:(\d+)/, 15_000, "mirror proxy"),
    waitForOutput(child, /admin on http:\/\/127\.0\.0\.1:(\d+)/, 15_000, "mirror proxy"),
  ]).catch(async (e) => {
    await stopChild(child, "SIGKILL", 1000);
    throw e;
  });
  const adminPort = Number(admin[1]);
  return {
    child,
    port: Number(listen[1]),
    adminPort,
    output: () => out,
    metrics: () => httpGet(`http://127.0.0.1:${adminPort}/metrics`),
    stop: () => stopChild(child, "SIGTERM", 10_000),
  };
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on("error", reject);
  });
}


/**
 * Emits the proxy's JavaScript (as its image does: workloads/tsconfig.build.json)
 * into dir, for a production-like run without Node's TypeScript stripping
 * (which also loads a WASM transpiler: ~25 MB more RSS). Returns the entry
 * point, or throws with tsc's output when nothing was emitted.
 */
export function buildProxyJs(dir: string, srcRoot = process.cwd()): { entry: string; warnings: string } {
  const root = process.cwd();
  fs.mkdirSync(dir, { recursive: true });
  const outDir = path.join(dir, "proxy-js");
  const tsconfig = path.join(dir, "tsconfig.proxy.json");
  fs.writeFileSync(
    tsconfig,
    JSON.stringify(
      {
        extends: path.join(srcRoot, "workloads", "tsconfig.build.json"),
        compilerOptions: {
          outDir,
          rootDir: path.join(srcRoot, "workloads"),
          noEmit: false,
          typeRoots: [path.join(root, "node_modules", "@types")],
        },
        include: [path.join(srcRoot, PROXY_DIR, "src", "**", "*.ts")],
      },
      null,
      2,
    ),
  );
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", tsconfig], { encoding: "utf8" });
  const entry = path.join(outDir, PROXY_DIR.split(path.sep).slice(1).join(path.sep), "src", "main.js");
  if (!fs.existsSync(entry)) throw new Error(`tsc emitted no ${entry}:\n${r.stdout}${r.stderr}`);
  // Bare imports (commander, yaml, ...) resolve from the repo's node_modules;
  // the module format follows what tsc emitted.
  const nm = path.join(dir, "node_modules");
  if (!fs.existsSync(nm)) fs.symlinkSync(path.join(root, "node_modules"), nm, "dir");
  const cjs = /\brequire\(|Object\.defineProperty\(exports/.test(fs.readFileSync(entry, "utf8"));
  fs.writeFileSync(path.join(outDir, "package.json"), JSON.stringify({ type: cjs ? "commonjs" : "module" }));
  return { entry, warnings: r.status === 0 ? "" : `${r.stdout}${r.stderr}`.trim() };
}
