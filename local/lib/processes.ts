// Child processes of the local stack: each one's stdout and stderr go straight
// to its own log file (like a pod's log, readable by `npm run logs` and still
// complete if this process dies), in its own process group so a terminal's
// Ctrl-C reaches only us and we stop them in order.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { readLinesFrom } from "./requestLog.ts";

export interface StartedProcess {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<ProcessExit>;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ProcessStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProcessStartError";
  }
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  logFile: string;
}

export function spawnLogged(options: SpawnOptions): StartedProcess {
  const fd = openSync(options.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  if (child.pid === undefined) throw new ProcessStartError(`${options.name}: could not start ${options.command}`);
  return { name: options.name, pid: child.pid, logFile: options.logFile, child, exited };
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** The last lines of a log file, indented, for error messages. */
export function logExcerpt(file: string, count = 8): string {
  const lines = readText(file).trimEnd().split("\n").filter(Boolean).slice(-count);
  return lines.length ? lines.map((line) => `    ${line}`).join("\n") : "    (no output)";
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function hasExited(proc: StartedProcess): boolean {
  return proc.child.exitCode !== null || proc.child.signalCode !== null;
}

/**
 * The first log line matching `pattern` from byte `offset` on, polling the
 * file (each poll reads only what was added since the last); fails naming the
 * process and showing its output when it exits first or `timeoutMs` passes.
 */
export async function waitForLogLine(proc: StartedProcess, pattern: RegExp, timeoutMs: number, offset = 0): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (let next = offset; ; ) {
    const read = readLinesFrom(proc.logFile, next);
    next = read.next;
    for (const line of read.lines) {
      const match = pattern.exec(line);
      if (match) return match;
    }
    if (hasExited(proc)) {
      const { exitCode, signalCode } = proc.child;
      throw new ProcessStartError(
        `${proc.name} exited (${signalCode ?? `code ${exitCode}`}) while starting; its log ${proc.logFile}:\n${logExcerpt(proc.logFile)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new ProcessStartError(
        `${proc.name} (pid ${proc.pid}) did not print ${pattern} within ${timeoutMs} ms; its log ${proc.logFile}:\n${logExcerpt(proc.logFile)}`,
      );
    }
    await sleep(25);
  }
}

/** True while a process with this pid exists (ours or not: check before signalling a recorded pid). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Signals a process's whole group (it and anything it spawned), or the process alone when that fails. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal); // the whole group: the process and anything it spawned
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export interface StopResult {
  name: string;
  pid: number;
  exit: ProcessExit;
  /** True when SIGTERM was not enough within the grace period. */
  killed: boolean;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL the group and wait for the exit. */
export async function stopProcess(proc: StartedProcess, graceMs: number): Promise<StopResult> {
  if (hasExited(proc)) return { name: proc.name, pid: proc.pid, exit: await proc.exited, killed: false };
  signalGroup(proc.pid, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const gracePassed = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), graceMs)));
  const first = await Promise.race([proc.exited, gracePassed]);
  clearTimeout(timer);
  if (first !== "timeout") return { name: proc.name, pid: proc.pid, exit: first, killed: false };
  signalGroup(proc.pid, "SIGKILL");
  return { name: proc.name, pid: proc.pid, exit: await proc.exited, killed: true };
}

/** Last resort on our own exit: kill synchronously whatever is still running. */
export function killNow(processes: readonly StartedProcess[]): void {
  for (const proc of processes) if (!hasExited(proc)) signalGroup(proc.pid, "SIGKILL");
}

/** For a pid recorded by an earlier run: the command line, to check it is one of ours before signalling. */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return undefined;
  }
}
