// Child-process bookkeeping for the benchmark: every child is tracked and
// killed on exit, Ctrl-C or SIGTERM; helpers to wait for a line or a port,
// and a /proc sampler for peak RSS.
import { spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";

const children = new Set<ChildProcess>();

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

/** Sends sig, waits up to graceMs for the exit, then SIGKILLs. */
export async function stopChild(child: ChildProcess, sig: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(sig);
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
  if ((await Promise.race([exited, timer])) === "timeout" && alive(child)) {
    process.stderr.write(`  (pid ${child.pid} ignored ${sig} for ${graceMs} ms: SIGKILL)\n`);
    child.kill("SIGKILL");
    await exited;
  }
}

/** Pids of every tracked child and of their direct children (nginx's worker). */
export function trackedPids(): number[] {
  const pids: number[] = [];
  for (const c of children) if (c.pid !== undefined && alive(c)) pids.push(c.pid, ...childPids(c.pid));
  return pids;
}

/** Synchronous last-resort kill of every tracked child (used on exit paths). */
export function killAllSync(): void {
  for (const c of children) {
    if (alive(c)) {
      try {
        c.kill("SIGTERM");
      } catch {
        /* already gone */
      }
    }
  }
}

let installed = false;
/** Kills every child when the runner exits or is interrupted. */
export function installCleanup(onSignal: () => Promise<void>): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: stopping every child process...\n`);
      onSignal()
        .catch(() => undefined)
        .finally(() => {
          killAllSync();
          process.exit(130);
        });
    });
  }
}

/** Resolves with the first match of re in the child's stdout or stderr. */
export function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(re);
      if (m) {
        done();
        resolve(m);
      }
    };
    const onExit = (code: number | null, sig: string | null) => {
      done();
      reject(new Error(`${what} exited (${code ?? sig}) before printing ${re}:\n${buf}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what} did not print ${re} within ${timeoutMs} ms:\n${buf}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await canConnect(port)) return;
    if (child && !alive(child)) throw new Error(`process exited before listening on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** A free ephemeral port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function readStatusKb(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function childPids(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export interface RssPeak {
  /** Highest sampled RSS (kB): the process, plus its children when tree = true. */
  peakSampledKb: number;
  /** VmHWM of the process itself at the last sample (kB); kernel-tracked peak. */
  hwmKb: number;
  samples: number;
  /** Highest sampled RSS of each process seen (kB). */
  byPidKb: Map<number, number>;
}

/**
 * Samples /proc/<pid>/status every intervalMs. With tree = true (nginx), the
 * RSS of the process and its direct children (the worker) is summed.
 */
export function sampleRss(pid: number, tree: boolean, intervalMs = 100): { stop(): RssPeak } {
  const peak: RssPeak = { peakSampledKb: 0, hwmKb: 0, samples: 0, byPidKb: new Map() };
  const sample = () => {
    const pids = tree ? [pid, ...childPids(pid)] : [pid];
    let sum = 0;
    for (const p of pids) {
      const kb = readStatusKb(p, "VmRSS") ?? 0;
      sum += kb;
      if (kb > (peak.byPidKb.get(p) ?? 0)) peak.byPidKb.set(p, kb);
    }
    if (sum > 0) {
      peak.samples++;
      peak.peakSampledKb = Math.max(peak.peakSampledKb, sum);
    }
    const hwm = readStatusKb(pid, "VmHWM");
    if (hwm !== undefined) peak.hwmKb = Math.max(peak.hwmKb, hwm);
  };
  sample();
  const t = setInterval(sample, intervalMs);
  let final: RssPeak | undefined;
  return {
    // Idempotent: the first call takes the last sample, later calls return the same peak.
    stop() {
      if (!final) {
        clearInterval(t);
        sample();
        final = { ...peak, byPidKb: new Map(peak.byPidKb) };
      }
      return final;
    },
  };
}

let clockTicks: number | undefined;
/** Kernel clock ticks per second (USER_HZ, the unit of /proc/<pid>/stat times). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const n = Number(r.stdout?.trim());
    clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** utime + stime of one process, in clock ticks; undefined when it is gone. */
function cpuTicks(pid: number): number | undefined {
  try {
    // Fields after the ")" of comm: utime is the 12th, stime the 13th.
    const rest = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system, /proc/<pid>/stat) used by a set of processes between
 * start and stop, in ms. `pids()` is asked at both ends (nginx's worker, the
 * proxy's cluster workers): a process first seen at the end counts from zero;
 * one gone by the end is lost (a steady server keeps its processes).
 */
export function processCpu(pids: () => number[]): { stop(): { ms: number; pids: number[] } } {
  const start = new Map<number, number>();
  for (const p of pids()) start.set(p, cpuTicks(p) ?? 0);
  return {
    stop() {
      const end = pids();
      let ticks = 0;
      for (const p of end) ticks += (cpuTicks(p) ?? 0) - (start.get(p) ?? 0);
      return { ms: (ticks * 1000) / ticksPerSecond(), pids: end };
    },
  };
}

/** Stops every tracked child (SIGTERM, then SIGKILL after graceMs). */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, "SIGTERM", graceMs)));
}

interface CpuSnapshot {
  busy: number;
  total: number;
  perPid: Map<number, number>;
}

function cpuSnapshot(pids: number[]): CpuSnapshot {
  // /proc/stat "cpu" line: user nice system idle iowait irq softirq steal ...
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const perPid = new Map<number, number>();
  for (const pid of pids) {
    const t = cpuTicks(pid);
    if (t !== undefined) perPid.set(pid, t);
  }
  // Busy = user + nice + system + steal: irq/softirq (loopback networking) is
  // charged to no process, so it is left out of both sides.
  return { busy: f[0] + f[1] + f[2] + f[7], total, perPid };
}

export interface CpuShare {
  /** Whole machine busy, % of all cores. */
  busyPct: number;
  /** CPU used by processes this benchmark did not start, % of all cores. */
  otherPct: number;
}

/**
 * Measures how busy the machine is between start and stop, and how much of it
 * came from processes other than the benchmark's own (wrk, upstreams, server
 * under test): a noise indicator on a shared machine.
 */
export function cpuMeter(): { stop(): CpuShare } {
  const start = cpuSnapshot([process.pid, ...trackedPids()]);
  return {
    stop() {
      const end = cpuSnapshot([process.pid, ...trackedPids()]);
      const total = end.total - start.total;
      let ours = 0;
      for (const [pid, t] of end.perPid) ours += t - (start.perPid.get(pid) ?? 0);
      if (total <= 0) return { busyPct: 0, otherPct: 0 };
      const busy = end.busy - start.busy;
      return { busyPct: (100 * busy) / total, otherPct: Math.max(0, (100 * (busy - ours)) / total) };
    },
  };
}
