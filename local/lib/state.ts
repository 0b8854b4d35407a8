// The state file of a running local stack (.tmp/local-stack.json): how
// `npm run logs` and `npm run traffic` find it, and how a new `npm run demo`
// notices a stack that is still running or was left behind.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { AppName, Version } from "../../components/apps.ts";
import { commandLineOf, isAlive } from "./processes.ts";

export const LOCAL_STACK_STATE_VERSION = 1;

export interface LocalProcessState {
  name: string;
  pid: number;
  url: string;
  logFile: string;
  app?: AppName;
  version?: Version;
  /** 1, 2, ...: an app's v1 runs several processes when compared. */
  replica?: number;
  /** The pod name the process answers with, e.g. `hostname-v1-2-local`. */
  pod?: string;
}

export interface LocalStackState {
  version: number;
  /** The process that started the stack (`npm run demo`). */
  pid: number;
  stack: string;
  projectDir: string;
  url: string;
  adminUrl: string;
  namespace: string;
  routingFile: string;
  startedAt: string;
  processes: LocalProcessState[];
}

/** `<project>/.tmp` (gitignored), or $LOCAL_STACK_DIR (tests use their own). */
export function localStackDir(projectDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.LOCAL_STACK_DIR ? path.resolve(env.LOCAL_STACK_DIR) : path.join(projectDir, ".tmp");
}

/** `.tmp/local-stack.json`: how the tools find the running stack. */
export function defaultStateFile(projectDir: string): string {
  return path.join(localStackDir(projectDir), "local-stack.json");
}

/** `.tmp/local-stack/`: the routing file and one log per process. */
export function defaultRunDir(projectDir: string): string {
  return path.join(localStackDir(projectDir), "local-stack");
}

export function writeStateFile(file: string, state: LocalStackState): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(state, null, 2) + "\n");
}

export function removeStateFile(file: string): void {
  rmSync(file, { force: true });
}

/** The recorded state, or undefined when there is no file; an error naming the file when it is not ours. */
export function readStateFile(file: string): LocalStackState | undefined {
  if (!existsSync(file)) return undefined;
  let state: Partial<LocalStackState>;
  try {
    state = JSON.parse(readFileSync(file, "utf8")) as Partial<LocalStackState>;
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message}); delete it if no local stack is running`);
  }
  if (state.version !== LOCAL_STACK_STATE_VERSION || typeof state.url !== "string" || !Array.isArray(state.processes)) {
    throw new Error(`${file} is not a local stack state file of this version; delete it if no local stack is running`);
  }
  return state as LocalStackState;
}

export type StackLiveness =
  | { kind: "none" }
  | { kind: "running"; state: LocalStackState }
  /** The demo that started it is gone; these recorded processes are still ours and alive. */
  | { kind: "stale"; state: LocalStackState; leftovers: LocalProcessState[] };

/** Recorded pids are reused by the system: only a live process still running our workload counts. */
export function isOurProcess(proc: LocalProcessState, projectDir: string): boolean {
  if (!isAlive(proc.pid)) return false;
  const commandLine = commandLineOf(proc.pid);
  return commandLine === undefined || commandLine.includes(path.join(projectDir, "workloads"));
}

export function stackLiveness(file: string): StackLiveness {
  const state = readStateFile(file);
  if (!state) return { kind: "none" };
  if (isAlive(state.pid)) return { kind: "running", state };
  return { kind: "stale", state, leftovers: state.processes.filter((proc) => isOurProcess(proc, state.projectDir)) };
}
