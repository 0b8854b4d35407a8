/**
 * `--workers N` (N > 1): N proxy processes (node:cluster) sharing the traffic port, for a
 * pod given more than one CPU. Scaling out is the HorizontalPodAutoscaler's job (one
 * process per pod by default); this is for pods that must be few and large.
 *
 * The primary process forwards no traffic: it forks the workers (again when one dies),
 * and owns the admin port: `/metrics` is **aggregated** over the workers (counters and
 * histograms summed, in-flight gauges summed; prom-client's cluster aggregation over IPC),
 * `/healthz` answers for the primary, `/readyz` is 200 once every worker is listening and
 * until the drain starts. The comparison (`/compare*`) is per process and is not served:
 * compare with one worker. Each worker binds its own admin listener on an ephemeral port
 * that nothing uses (startMirrorProxy always opens one) and does not print it.
 * SIGTERM/SIGINT drain every worker (each finishes its in-flight requests) and then exit;
 * SIGHUP is passed on (each worker also watches the config file itself).
 */
import cluster, { type Worker } from "node:cluster";
import http from "node:http";
import type { AddressInfo } from "node:net";
import AggregatorRegistry from "prom-client/lib/cluster.js";
import { callableUrl, pathOf } from "../../shared/http-service.ts";
import type { Registry } from "./prom.ts";

const READY = "mirror-proxy:ready";
/** A worker that dies within this long of its start is not forked again at once. */
const REFORK_BACKOFF_MS = 1000;

export interface PrimaryOptions {
  workers: number;
  admin: number;
  host: string;
  /** How long to wait for the workers to drain on SIGTERM before killing them (ms). */
  drainTimeoutMs: number;
  log?: (line: string) => void;
}

/** Runs in a worker: answers the primary's metrics requests from `registry`, and says when it listens. */
export function serveWorker(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs the worker's IPC listener for the primary's requests
  process.send?.({ type: READY });
}

/** The log of a worker: its (unused) admin address is left out, every line names the worker. */
export function workerLog(line: string): void {
  if (/^mirror-proxy admin on /.test(line)) return;
  console.log(`[worker ${cluster.worker?.id ?? "?"}] ${line}`);
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Runs in the primary: forks the workers and serves the aggregated admin port until drained. */
export async function runPrimary(o: PrimaryOptions): Promise<void> {
  const log = o.log ?? ((line: string) => console.log(line));
  const ready = new Set<number>();
  let draining = false;
  const started = new Map<number, number>();
  const fork = () => {
    const w = cluster.fork();
    started.set(w.id, Date.now());
    w.on("message", (m: { type?: string }) => {
      if (m?.type === READY) ready.add(w.id);
    });
  };
  cluster.on("exit", (w: Worker, code, signal) => {
    ready.delete(w.id);
    if (draining) return;
    const age = Date.now() - (started.get(w.id) ?? 0);
    log(`mirror-proxy: worker ${w.id} (pid ${w.process.pid}) exited (${signal ?? code}); starting another`);
    setTimeout(fork, Math.max(0, REFORK_BACKOFF_MS - age));
  });
  for (let i = 0; i < o.workers; i++) fork();

  const aggregator = new AggregatorRegistry();
  const admin = http.createServer((req, res) => {
    const path = pathOf(req.url);
    if (path === "/healthz") return text(res, 200, "ok\n");
    if (path === "/readyz") {
      if (draining) return text(res, 503, "draining\n");
      return ready.size === o.workers ? text(res, 200, "ready\n") : text(res, 503, `not ready (${ready.size}/${o.workers} workers)\n`);
    }
    if (path === "/metrics") {
      aggregator.clusterMetrics().then(
        (body) => {
          res.writeHead(200, { "content-type": aggregator.contentType });
          res.end(body);
        },
        (e: Error) => text(res, 500, `${e.message}\n`),
      );
      return;
    }
    if (path.startsWith("/compare")) return text(res, 404, `with --workers ${o.workers} the comparison is per process and not served: compare with one worker\n`);
    text(res, 404, "not found: try /metrics, /healthz, /readyz\n");
  });
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    admin.once("error", reject);
    admin.listen(o.admin, o.host, () => resolve(admin.address() as AddressInfo));
  });
  log(`mirror-proxy admin on ${callableUrl(address)} (metrics aggregated over ${o.workers} workers)`);

  const stop = (signal: string) => {
    if (draining) return;
    draining = true;
    log(`mirror-proxy: ${signal}, draining ${o.workers} workers`);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const killer = setTimeout(() => {
      for (const w of workers) w.process.kill("SIGKILL");
    }, o.drainTimeoutMs + 5000);
    Promise.all(workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once("exit", () => resolve()))))).then(() => {
      clearTimeout(killer);
      admin.close();
      log("mirror-proxy: drained, bye");
      process.exit(0);
    });
    for (const w of workers) w.process.kill("SIGTERM");
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGHUP");
  });
}
