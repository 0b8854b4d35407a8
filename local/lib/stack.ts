// The local stack: what `pulumi up` deploys in proxy mode, as processes on
// 127.0.0.1 instead of pods. v1 and v2 of each demo app, and the mirror proxy
// configured with the very routing file the program puts in its ConfigMap
// (renderMirrorProxyYaml, from the same stack config).
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import * as path from "node:path";
import { VERSIONS, type App, type AppName, type Version } from "../../components/apps.ts";
import { appList, type StackConfig } from "../../components/config.ts";
import { PROXY_NAME, primaryReplicas, renderMirrorProxyYaml } from "../../components/proxyConfig.ts";
import { loadStackConfig } from "../../components/stackFiles.ts";
import {
  hasExited,
  killNow,
  logExcerpt,
  ProcessStartError,
  sleep,
  spawnLogged,
  stopProcess,
  waitForLogLine,
  type StartedProcess,
  type StopResult,
} from "./processes.ts";
import { fileSize, readLinesFrom } from "./requestLog.ts";
import { LOCAL_STACK_STATE_VERSION, removeStateFile, writeStateFile, type LocalStackState } from "./state.ts";

const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
/** How long the proxy lets in-flight requests finish on SIGTERM (below STOP_GRACE_MS). */
const PROXY_DRAIN_MS = 3_000;

export interface LocalStackOptions {
  /** Folder with Pulumi.yaml and Pulumi.<stack>.yaml. */
  projectDir: string;
  /** The workload sources (default: `<projectDir>/workloads`). */
  workloadsDir?: string;
  stack?: string;
  /** Plain config keys, as `pulumi config set` stores them, e.g. `{ mirrorPercent: "50" }`. */
  overrides?: Record<string, unknown>;
  /** Where the routing file and the logs go; emptied first. */
  runDir: string;
  /** Where to record the running stack for `npm run logs` / `npm run traffic`; none when omitted. */
  stateFile?: string;
  /** Traffic port of the proxy (0, the default, picks a free one). */
  listenPort?: number;
  /** Progress messages while starting and stopping. */
  onProgress?: (message: string) => void;
}

export interface StackProcess extends StartedProcess {
  /** Base URL the process serves on. */
  url: string;
  app?: AppName;
  version?: Version;
  /** 1, 2, ...: several v1 processes run when the app is compared (see primaryReplicas). */
  replica?: number;
  /** The pod name it answers with (its HOSTNAME), e.g. `hostname-v1-2-local`. */
  pod?: string;
}

export interface LocalStack {
  stack: string;
  /** The proxy's traffic URL: the local `ingressUrl`. */
  url: string;
  /** The proxy's admin URL (`/metrics`, `/healthz`). */
  adminUrl: string;
  config: StackConfig;
  /** Apps the local stack does not run (no `local.command`), with why: they exist in the cluster only. */
  clusterOnly: Array<{ app: AppName; reason: string }>;
  /** The config files read (Pulumi.yaml, Pulumi.<stack>.yaml). */
  configFiles: string[];
  /** The rendered routing file the proxy serves. */
  routingFile: string;
  runDir: string;
  processes: StackProcess[];
  /** Every process of an app's version: v1 runs `primaryReplicas(compare)` of them. */
  services(app: AppName, version: Version): StackProcess[];
  /** Re-renders the routing from config with these overrides (as `pulumi config set` + `pulumi up` would) and has the proxy reload it. */
  reconfigure(overrides: Record<string, unknown>): Promise<StackConfig>;
  /** Stops every process (proxy first), removes the state file. Idempotent. */
  stop(): Promise<StopResult[]>;
}

export class LocalStackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LocalStackError";
  }
}

/** Node 24 runs the workloads' .ts sources directly. */
export function nodeFor(projectDir: string): string {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 24) return process.execPath;
  const bundled = path.join(projectDir, "node_modules/.bin/node");
  if (existsSync(bundled)) return bundled;
  throw new LocalStackError(`Node 24 is needed to run the workloads (this is ${process.version}); run npm ci first`);
}

/** `movies-v1`, and for further replicas `movies-v1-2`, `movies-v1-3`... */
export function serviceName(app: AppName, version: Version, replica = 1): string {
  return replica > 1 ? `${app}-${version}-${replica}` : `${app}-${version}`;
}

/** How many processes an app's version runs: v1 gets two when the app is compared (noise is learned between them). */
export function replicasOf(config: StackConfig, app: AppName, version: Version): number {
  return version === "v1" ? primaryReplicas(config.apps[app].compare) : 1;
}

function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  if (process.env.HOME) env.HOME = process.env.HOME;
  return { ...env, ...extra };
}

function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

/**
 * How the local stack runs a version: the built-ins from their workload
 * folder, any app from its `local.command`; undefined when it says nothing.
 */
export function localStart(app: App, version: Version): { kind: "workload"; workload: string } | { kind: "command"; command: string[]; env: Record<string, string> } | undefined {
  const local = app[version].local;
  if (local) return { kind: "command", command: local.command, env: local.env };
  if (app.workload && !(version === "v1" && app.v1.selector)) return { kind: "workload", workload: app.workload };
  return undefined;
}

/** The apps the local stack runs, and why the others are cluster-only. */
export function localApps(config: StackConfig): { apps: App[]; clusterOnly: Array<{ app: AppName; reason: string }> } {
  const apps: App[] = [];
  const clusterOnly: Array<{ app: AppName; reason: string }> = [];
  for (const app of appList(config)) {
    const missing = VERSIONS.filter((version) => !localStart(app, version));
    if (missing.length === 0) apps.push(app);
    else clusterOnly.push({ app: app.name, reason: `no ${missing.map((version) => `apps.${app.name}.${version}.local.command`).join(" or ")} says how to start it here` });
  }
  return { apps, clusterOnly };
}

/** The config with only the apps that run locally (the routing file names no upstream that is not there). */
function localConfig(config: StackConfig): StackConfig {
  const { apps } = localApps(config);
  return { ...config, apps: Object.fromEntries(apps.map((app) => [app.name, app])) };
}

/** A port that was free a moment ago, for a process that must be told its port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until `url` answers HTTP at all (any status): the app is up. */
async function waitForHttp(proc: StackProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const req = request(url, { timeout: 1000 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on("error", () => resolve(false));
      req.on("timeout", () => req.destroy());
      req.end();
    });
    if (answered) return;
    if (hasExited(proc)) throw new ProcessStartError(`${proc.name} exited before answering on ${url}; its log ${proc.logFile}:\n${logExcerpt(proc.logFile)}`);
    if (Date.now() > deadline) throw new ProcessStartError(`${proc.name} did not answer on ${url} within ${timeoutMs} ms; its log ${proc.logFile}:\n${logExcerpt(proc.logFile)}`);
    await sleep(50);
  }
}

function renderRouting(config: StackConfig, services: StackProcess[]): string {
  return renderMirrorProxyYaml({
    config: localConfig(config),
    // Several processes of a version (v1 when compared): a list, used round-robin by the proxy.
    upstreams: (app: App, version: Version) => {
      const urls = services.filter((candidate) => candidate.app === app.name && candidate.version === version).map((service) => service.url);
      if (urls.length === 0) throw new LocalStackError(`no local process for ${serviceName(app.name, version)}`);
      return urls.length === 1 ? urls[0] : urls;
    },
    ports: { listen: 0, admin: 0 },
  });
}

/**
 * Starts the local stack. On any failure everything started so far is
 * stopped before the error (a LocalStackError or the config's
 * StackConfigError) is thrown.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const stack = options.stack ?? "dev";
  const say = options.onProgress ?? (() => undefined);
  let overrides = { ...(options.overrides ?? {}) };
  // Config first: a bad key fails before any process starts.
  const loaded = loadStackConfig(options.projectDir, stack, overrides);
  const config = loaded.config;
  const workloadsDir = options.workloadsDir ?? path.join(options.projectDir, "workloads");
  const node = nodeFor(path.dirname(workloadsDir));

  rmSync(options.runDir, { recursive: true, force: true });
  const logDir = path.join(options.runDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const routingFile = path.join(options.runDir, "routing.yaml");

  const started: StackProcess[] = [];
  const killOnExit = () => killNow(started);
  process.once("exit", killOnExit);
  let stopped: Promise<StopResult[]> | undefined;

  const stopAll = (): Promise<StopResult[]> => {
    stopped ??= (async () => {
      const results: StopResult[] = [];
      // The proxy drains first so its last copies still reach v2; then the services, together.
      const proxies = started.filter((proc) => proc.name === PROXY_NAME);
      for (const proc of proxies) {
        say(`stopping ${proc.name} (pid ${proc.pid})`);
        results.push(await stopProcess(proc, STOP_GRACE_MS));
      }
      const services = started.filter((proc) => proc.name !== PROXY_NAME);
      if (services.length) say(`stopping ${services.map((proc) => `${proc.name} (pid ${proc.pid})`).join(", ")}`);
      results.push(...(await Promise.all(services.map((proc) => stopProcess(proc, STOP_GRACE_MS)))));
      if (options.stateFile) removeStateFile(options.stateFile);
      process.off("exit", killOnExit);
      return results;
    })();
    return stopped;
  };

  try {
    // The services, all at once (their ports are needed to render the routing).
    // v1 runs as many processes as a cluster would run pods (two when compared).
    // The built-ins pick their own port and log it; an app of yours is given a free port and asked over HTTP.
    const { apps: runnable, clusterOnly } = localApps(config);
    for (const { app, reason } of clusterOnly) say(`${app}: cluster-only (${reason}); the local stack goes on without it`);
    const starts: Array<{ entry: StackProcess; ready: () => Promise<string> }> = [];
    for (const app of runnable) {
      for (const version of VERSIONS) {
        const how = localStart(app, version)!;
        for (let replica = 1; replica <= replicasOf(config, app.name, version); replica++) {
          const name = serviceName(app.name, version, replica);
          const pod = `${name}-local`;
          const base = { BIND_ADDRESS: "127.0.0.1", VERSION: version, HOSTNAME: pod };
          const logFile = path.join(logDir, `${name}.log`);
          if (how.kind === "workload") {
            const proc = spawnLogged({
              name,
              command: node,
              args: [path.join(workloadsDir, how.workload, "src/main.ts")],
              cwd: path.dirname(workloadsDir),
              env: childEnv({ ...base, PORT: "0" }),
              logFile,
            });
            const entry: StackProcess = { ...proc, url: "", app: app.name, version, replica, pod };
            starts.push({ entry, ready: async () => (await waitForLogLine(entry, / event=listening .*url=(\S+)/, START_TIMEOUT_MS))[1] });
          } else {
            const port = await freePort();
            const [program, ...args] = how.command;
            const proc = spawnLogged({
              name,
              // `node` is the project's Node (24, which runs .ts directly), whatever PATH says.
              command: program === "node" ? node : program,
              args,
              cwd: options.projectDir,
              env: childEnv({ ...app[version].env, ...base, PORT: String(port), ...how.env }),
              logFile,
            });
            const entry: StackProcess = { ...proc, url: "", app: app.name, version, replica, pod };
            const url = `http://127.0.0.1:${port}`;
            starts.push({ entry, ready: async () => (await waitForHttp(entry, `${url}${app.healthPath}`, START_TIMEOUT_MS), url) });
          }
          started.push(starts[starts.length - 1].entry);
        }
      }
    }
    const services = starts.map(({ entry }) => entry);
    say(`starting ${services.map((proc) => proc.name).join(", ")}`);
    await Promise.all(
      starts.map(async ({ entry, ready }) => {
        entry.url = await ready();
      }),
    );

    writeAtomically(routingFile, renderRouting(config, services));
    const proxyProcess = spawnLogged({
      name: PROXY_NAME,
      command: node,
      args: [
        path.join(workloadsDir, "mirror-proxy/src/main.ts"),
        "--config",
        routingFile,
        "--listen",
        String(options.listenPort ?? 0),
        "--admin",
        "0",
        "--host",
        "127.0.0.1",
        "--drain-timeout",
        String(PROXY_DRAIN_MS),
      ],
      cwd: path.dirname(workloadsDir),
      env: childEnv({}),
      logFile: path.join(logDir, `${PROXY_NAME}.log`),
    });
    const proxy: StackProcess = { ...proxyProcess, url: "" };
    started.push(proxy);
    say(`starting ${PROXY_NAME} with ${path.relative(process.cwd(), routingFile) || routingFile}`);
    proxy.url = (await waitForLogLine(proxy, /listening on (http:\/\/\S+)/, START_TIMEOUT_MS))[1];
    const adminUrl = (await waitForLogLine(proxy, /admin on (http:\/\/\S+)/, START_TIMEOUT_MS))[1];

    // A process that died right after announcing itself is a failed start too.
    await sleep(50);
    const dead = started.find(hasExited);
    if (dead) throw new ProcessStartError(`${dead.name} exited right after starting; its log ${dead.logFile}:\n${logExcerpt(dead.logFile)}`);

    const localStack: LocalStack = {
      stack,
      url: proxy.url,
      adminUrl,
      config,
      clusterOnly,
      configFiles: loaded.files,
      routingFile,
      runDir: options.runDir,
      processes: started,
      services(app, version) {
        return started.filter((proc) => proc.app === app && proc.version === version);
      },
      async reconfigure(more) {
        const next = loadStackConfig(options.projectDir, stack, { ...overrides, ...more }).config;
        // A reload cannot start or stop services: a change of v1's process count (compare on/off) needs a restart.
        for (const app of localApps(next).apps) {
          const running = localStack.services(app.name, "v1").length;
          const wanted = replicasOf(next, app.name, "v1");
          if (running !== wanted) {
            throw new LocalStackError(
              `${app.name} would need ${wanted} v1 process(es) (compare: ${next.apps[app.name].compare}) but ${running} run; restart the local stack to change compare`,
            );
          }
        }
        const offset = fileSize(proxy.logFile);
        writeAtomically(routingFile, renderRouting(next, services));
        process.kill(proxy.pid, "SIGHUP");
        await waitForReload(proxy, offset);
        overrides = { ...overrides, ...more };
        localStack.config = next;
        return next;
      },
      stop: stopAll,
    };
    if (options.stateFile) writeStateFile(options.stateFile, stateOf(localStack, path.dirname(workloadsDir)));
    return localStack;
  } catch (error) {
    await stopAll();
    if (error instanceof ProcessStartError) throw new LocalStackError(`the local stack could not start: ${error.message}`);
    throw error;
  }
}

/** Waits for the proxy to log a reload after `offset`; a rejected reload is an error naming why. */
async function waitForReload(proxy: StackProcess, offset: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const { lines } = readLinesFrom(proxy.logFile, offset);
    if (lines.some((line) => line.includes("config reloaded"))) return;
    if (lines.some((line) => line.includes("rejected"))) {
      throw new LocalStackError(`${PROXY_NAME} rejected the new routing:\n${lines.join("\n")}`);
    }
    if (hasExited(proxy)) throw new LocalStackError(`${PROXY_NAME} exited while reloading:\n${logExcerpt(proxy.logFile)}`);
    if (Date.now() > deadline) throw new LocalStackError(`${PROXY_NAME} did not reload its routing within ${START_TIMEOUT_MS} ms`);
    await sleep(25);
  }
}

export function stateOf(localStack: LocalStack, projectDir: string): LocalStackState {
  return {
    version: LOCAL_STACK_STATE_VERSION,
    pid: process.pid,
    stack: localStack.stack,
    projectDir,
    url: localStack.url,
    adminUrl: localStack.adminUrl,
    namespace: localStack.config.namespace,
    routingFile: localStack.routingFile,
    startedAt: new Date().toISOString(),
    processes: localStack.processes.map((proc) => ({
      name: proc.name,
      pid: proc.pid,
      url: proc.url,
      logFile: proc.logFile,
      ...(proc.app ? { app: proc.app, version: proc.version, replica: proc.replica, pod: proc.pod } : {}),
    })),
  };
}
