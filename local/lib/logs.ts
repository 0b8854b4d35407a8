// `npm run logs -- [app] [--tail N] [--follow]`: the last lines of the v1 and
// v2 logs, labelled `hostname v1 | ...`, from the local stack or the cluster.
import * as path from "node:path";
import { VERSIONS, type AppName, type Version } from "../../components/apps.ts";
import { loadStackConfig } from "../../components/stackFiles.ts";
import { parseLogsArgs, type LogsOptions } from "./cli.ts";
import { connectKube, kubeconfigPath } from "./kube.ts";
import { isAlive, sleep } from "./processes.ts";
import { labelLine, lastLines, mergeLogs, readLinesFrom } from "./requestLog.ts";
import { defaultStateFile, stackLiveness, type LocalProcessState, type LocalStackState } from "./state.ts";

type Write = (line: string) => void;

export type LogSource = { kind: "local"; state: LocalStackState } | { kind: "kubernetes"; namespace: string; why: string };

/** Local stack when one runs (unless --kubernetes), else a cluster when a kubeconfig exists; else why neither. */
export function chooseLogSource(options: LogsOptions, projectDir: string, env: NodeJS.ProcessEnv = process.env): LogSource {
  const stateFile = defaultStateFile(projectDir);
  const namespace = () => options.namespace ?? loadStackConfig(projectDir, options.stack).config.namespace;
  if (options.kubernetes) return { kind: "kubernetes", namespace: namespace(), why: "--kubernetes" };
  const local = stackLiveness(stateFile);
  if (local.kind === "running") return { kind: "local", state: local.state };
  const noLocal =
    local.kind === "stale"
      ? `the local stack recorded in ${path.relative(projectDir, stateFile)} is gone (npm run demo, pid ${local.state.pid}, exited)`
      : "no local stack is running (npm run demo)";
  if (options.local) throw new Error(`${noLocal}; start one with npm run demo`);
  const kubeconfig = kubeconfigPath(env);
  if (kubeconfig) return { kind: "kubernetes", namespace: namespace(), why: `${noLocal}; using the cluster in ${kubeconfig}` };
  throw new Error(`${noLocal}, and there is no kubeconfig (KUBECONFIG or ~/.kube/config) for a cluster. Start the local stack with npm run demo.`);
}

/** Every process of an app's version (v1 runs several when the app is compared). */
function localProcesses(state: LocalStackState, app: AppName, version: Version): LocalProcessState[] {
  const procs = state.processes.filter((candidate) => candidate.app === app && candidate.version === version);
  if (procs.length === 0) throw new Error(`the local stack has no ${app}-${version} process`);
  return procs;
}

/**
 * Tails the local log files: the last lines, then (follow) new lines as they
 * are written, until `signal`. A version with several processes reads as one
 * log, like several pods: merged by time, each line tagged with its process.
 */
async function localLogs(state: LocalStackState, options: LogsOptions, write: Write, signal: AbortSignal): Promise<void> {
  const groups = options.apps.flatMap((app) =>
    VERSIONS.map((version) => {
      const procs = localProcesses(state, app, version);
      return { label: `${app} ${version}`, streams: procs.map((proc) => ({ tag: proc.name, file: proc.logFile, offset: 0 })) };
    }),
  );
  const readNew = (group: (typeof groups)[number]) =>
    mergeLogs(
      group.streams.map((stream) => {
        const { lines, next } = readLinesFrom(stream.file, stream.offset);
        stream.offset = next;
        return { tag: stream.tag, lines };
      }),
    );
  for (const group of groups) for (const line of lastLines(readNew(group), options.tail)) write(labelLine(group.label, line));
  if (!options.follow) return;
  // Polling, like `tail -F`: cheap for a handful of files, and survives truncation-free appends.
  while (!signal.aborted) {
    for (const group of groups) for (const line of readNew(group)) write(labelLine(group.label, line));
    if (!isAlive(state.pid)) {
      write("(the local stack stopped)");
      return;
    }
    await sleep(100);
  }
}

async function kubernetesLogs(namespace: string, options: LogsOptions, write: Write, signal: AbortSignal): Promise<void> {
  const kube = await connectKube(namespace);
  const tails = await Promise.all(
    options.apps.flatMap((app) =>
      VERSIONS.map(async (version) => {
        const pods = await kube.read(app, version, { tailLines: options.tail });
        const label = `${app} ${version}`;
        if (pods.length === 0) return [`${label} | (no pods app=${app},version=${version} in namespace ${namespace})`];
        // Several replicas: their lines merged by time, the last N overall, each tagged with its pod.
        return mergeLogs(pods.map((pod) => ({ tag: pod.pod, lines: pod.lines })), options.tail).map((line) => labelLine(label, line));
      }),
    ),
  );
  for (const line of tails.flat()) write(line);
  if (!options.follow) return;
  await Promise.all(
    options.apps.flatMap((app) =>
      VERSIONS.map((version) =>
        kube.follow(app, version, (pod, line) => write(labelLine(`${app} ${version}`, `${line}  [${pod}]`)), { tailLines: 0, signal }),
      ),
    ),
  );
}

export async function runLogs(options: LogsOptions, projectDir: string, write: Write, note: Write, signal: AbortSignal): Promise<void> {
  const source = chooseLogSource(options, projectDir);
  if (source.kind === "local") {
    note(`logs of the local stack (npm run demo, pid ${source.state.pid}, ${source.state.url})`);
    await localLogs(source.state, options, write, signal);
  } else {
    note(`logs of the pods in namespace ${source.namespace} (${source.why})`);
    await kubernetesLogs(source.namespace, options, write, signal);
  }
}

export async function main(args: string[], projectDir: string): Promise<number> {
  const options = parseLogsArgs(args, (text) => process.stdout.write(text));
  const abort = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => abort.abort());
  try {
    await runLogs(options, projectDir, (line) => process.stdout.write(line + "\n"), (line) => process.stderr.write(line + "\n"), abort.signal);
    return 0;
  } catch (error) {
    process.stderr.write(`npm run logs: ${(error as Error).message}\n`);
    return 1;
  }
}
