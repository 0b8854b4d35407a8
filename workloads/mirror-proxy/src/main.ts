/**
 * CLI: mirror-proxy --config routing.yaml [--listen 8080] [--admin 9901] [--host 0.0.0.0] [--workers 1]
 *
 * Loads and validates the config (exit 1 naming every problem), serves, reloads on SIGHUP
 * or when the config file changes (a ConfigMap update swaps the `..data` symlink in the
 * file's directory), and drains on SIGTERM/SIGINT, exiting 0. The config is checked in a
 * child process (configCheck.ts), so this one never loads yaml, zod or the schemas.
 */
import cluster from "node:cluster";
import { readFileSync, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import type { MirrorProxyConfig } from "./config.ts";
import { checkConfig, checkerBeside } from "./configCheck.ts";
import { ConfigError } from "./proxyConfig.ts";
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_HOST, startMirrorProxy } from "./proxy.ts";

function portArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a port number 0-65535");
  return n;
}

function msArg(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number of milliseconds >= 0");
  return n;
}

function workersArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError("must be a whole number of processes 1-64");
  return n;
}

function describe(e: unknown): string {
  return e instanceof ConfigError ? e.message : `cannot load config: ${(e as Error).message}`;
}

async function main(): Promise<void> {
  const program = new Command()
    .name("mirror-proxy")
    .description("Istio VirtualService routing and mirroring without Istio")
    .requiredOption("--config <file>", "multi-document YAML: VirtualService, DestinationRule and one MirrorProxy document")
    .option("--listen <port>", "traffic port (overrides spec.listen; default 8080)", portArg)
    .option("--admin <port>", "admin port for /metrics, /healthz, /readyz (overrides spec.admin; default 9901)", portArg)
    .option("--host <address>", "bind address", DEFAULT_HOST)
    .option("--drain-timeout <ms>", "on SIGTERM, how long to wait for in-flight requests", msArg, DEFAULT_DRAIN_TIMEOUT_MS)
    .option("--workers <n>", "proxy processes sharing the traffic port (node:cluster); the admin port aggregates their metrics", workersArg, 1)
    .parse();
  const opts = program.opts<{ config: string; listen?: number; admin?: number; host: string; drainTimeout: number; workers: number }>();
  const file = resolve(opts.config);
  // The check runs in a child process (configCheck.ts), so this one never holds the schemas;
  // also in the primary of --workers N. Its workers check in-process: N children at once, at
  // start and on every reload, would take ~70 MB each at the same moment.
  let check: (text: string) => Promise<MirrorProxyConfig>;
  if (cluster.isWorker) {
    check = async (text) => (await import("./config.ts")).parseMirrorProxyConfig(text);
  } else {
    const checker = checkerBeside(process.argv[1]);
    check = (text) => checkConfig(text, checker);
  }

  let currentText: string;
  let config: MirrorProxyConfig;
  try {
    currentText = readFileSync(file, "utf8");
    config = await check(currentText);
  } catch (e) {
    console.error(describe(e));
    process.exit(1);
  }

  // --workers N > 1: this process forks the workers and serves the admin port (workers.ts);
  // each worker runs the rest of main() with an admin listener of its own that nothing uses.
  // Loaded only then: one process needs no cluster aggregation code.
  const workers = opts.workers > 1 ? await import("./workers.ts") : undefined;
  const worker = workers !== undefined && cluster.isWorker;
  if (workers !== undefined && cluster.isPrimary) {
    await workers.runPrimary({ workers: opts.workers, admin: opts.admin ?? config.proxy.admin ?? 9901, host: opts.host, drainTimeoutMs: opts.drainTimeout });
    return;
  }
  const proxy = await startMirrorProxy(config, {
    listen: opts.listen,
    admin: worker ? 0 : opts.admin,
    host: opts.host,
    drainTimeoutMs: opts.drainTimeout,
    ...(worker ? { log: workers.workerLog } : {}),
  });
  if (worker) workers.serveWorker(proxy.metrics.registry);

  // The file text is compared first: an unchanged file (a watch event without a change) is
  // not checked again; SIGHUP always reloads. Reloads run one at a time, in order, so the
  // last file read is the one applied. The check's outcome reaches the proxy as a loader
  // (one that throws for a rejected config), so that the proxy counts both outcomes.
  let stopping = false;
  let reloads = Promise.resolve();
  const reloadOnce = async (why: string) => {
    let text: string;
    let checked: { config: MirrorProxyConfig } | { error: unknown };
    try {
      text = readFileSync(file, "utf8");
      if (text === currentText && why !== "SIGHUP") return;
      checked = { config: await check(text) };
    } catch (error) {
      checked = { error };
    }
    if (stopping) return;
    try {
      proxy.reload(() => {
        if ("error" in checked) throw checked.error;
        return checked.config;
      });
    } catch (e) {
      console.error(`mirror-proxy: reload (${why}) rejected, still serving the previous config:\n${describe(e)}`);
      return;
    }
    currentText = text!;
    console.log(`mirror-proxy: config reloaded (${why})`);
  };
  const reload = (why: string) => {
    reloads = reloads.then(() => reloadOnce(why));
  };

  process.on("SIGHUP", () => reload("SIGHUP"));

  // Watch the directory, not the file: a ConfigMap update replaces the `..data` symlink,
  // which a watch on the old file's inode would never see. Debounced: one update fires
  // several events.
  let debounce: NodeJS.Timeout | undefined;
  const watcher = watch(dirname(file), (_event, name) => {
    if (name && name !== basename(file) && !String(name).startsWith("..")) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => reload("file changed"), 100);
  });
  watcher.on("error", (e) => console.error(`mirror-proxy: cannot watch ${dirname(file)}: ${e.message}`));

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`mirror-proxy: ${signal}, draining`);
    watcher.close();
    clearTimeout(debounce);
    proxy.drain().then(
      () => {
        console.log("mirror-proxy: drained, bye");
        process.exit(0);
      },
      (e: Error) => {
        console.error(`mirror-proxy: drain failed: ${e.message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((e: Error) => {
  console.error(`mirror-proxy: ${e.message}`);
  process.exit(1);
});
