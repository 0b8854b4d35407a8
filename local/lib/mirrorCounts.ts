// How many requests reached v1 and v2, counted from the services' own logs
// (as people check it), once the asynchronous copies have landed.
import { VERSIONS, type AppName, type Version } from "../../components/apps.ts";
import { sleep } from "./processes.ts";
import { mergeLogs, readLinesFrom, requestsIn } from "./requestLog.ts";
import type { LocalStack } from "./stack.ts";

export interface VersionCounts {
  /** Requests v1 served (client requests, mirrored=false), over all its processes. */
  v1: number;
  /** Copies v2 received (mirrored=true). */
  v2: number;
  /**
   * Copies v1 received (mirrored=true in a v1 log): the proxy's noise-sampling
   * copies (compare: a second v1 answer, to learn what differs between v1 pods).
   * Neither client requests nor v2 copies.
   */
  v1Noise?: number;
}

/** Sum of every series of a Prometheus metric in /metrics text; undefined when absent. */
export function metricSum(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match && match[1] === name) sum = (sum ?? 0) + Number(match[3]);
  }
  return sum;
}

/** Copies the proxy still has in flight (its `/metrics`); undefined when it cannot tell. */
export async function shadowInFlight(adminUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
    return metricSum(await response.text(), "mirror_proxy_shadow_in_flight");
  } catch {
    return undefined;
  }
}

/** Byte offset of each log file (by path) when marked. */
export interface LogMarks {
  offsets: Record<string, number>;
}

/** Byte offsets of all of an app's v1 and v2 logs now: count only what comes after. */
export function markLogs(stack: LocalStack, app: AppName): LogMarks {
  const offsets: Record<string, number> = {};
  for (const version of VERSIONS) for (const proc of stack.services(app, version)) offsets[proc.logFile] = readLinesFrom(proc.logFile).next;
  return { offsets };
}

/** The lines every process of an app's version logged since `marks` (all of them without marks), tagged and in time order when there are several. */
export function linesSince(stack: LocalStack, app: AppName, version: Version, marks?: LogMarks): string[] {
  return mergeLogs(
    stack.services(app, version).map((proc) => ({ tag: proc.name, lines: readLinesFrom(proc.logFile, marks?.offsets[proc.logFile] ?? 0).lines })),
  );
}

/** Requests in an app's v1 logs and copies in its v2 log since `marks`; v1's noise-sampling copies apart. */
export function countSince(stack: LocalStack, app: AppName, marks: LogMarks): Required<VersionCounts> {
  const v1Requests = requestsIn(linesSince(stack, app, "v1", marks));
  const v1Noise = v1Requests.filter((entry) => entry.mirrored).length;
  return {
    v1: v1Requests.length - v1Noise,
    v2: requestsIn(linesSince(stack, app, "v2", marks), { mirrored: true }).length,
    v1Noise,
  };
}

export interface SettleOptions {
  /** Primary requests sent: v1 must have logged them all. */
  primaries: number;
  /** Copies in flight in the proxy, when it can tell (local stack: its /metrics). */
  inFlight?: () => Promise<number | undefined>;
  /** Without an in-flight figure: how long the counts must stay unchanged. */
  quietMs?: number;
  deadlineMs?: number;
  pollMs?: number;
}

export interface Settled extends VersionCounts {
  /** False when the deadline passed first (the counts are then the last seen). */
  settled: boolean;
}

function sameCounts(a: VersionCounts, b: VersionCounts): boolean {
  return a.v1 === b.v1 && a.v2 === b.v2 && (a.v1Noise ?? 0) === (b.v1Noise ?? 0);
}

/**
 * Polls `count` until v1 has every primary and the copies have stopped
 * arriving: the proxy reports none in flight and the counts (v1's noise copies
 * too) held for one more poll, or (no proxy figure) nothing changed for `quietMs`.
 */
export async function waitForSettledCounts<C extends VersionCounts>(count: () => Promise<C> | C, options: SettleOptions): Promise<C & Settled> {
  const pollMs = options.pollMs ?? 50;
  const quietMs = options.quietMs ?? 1000;
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  let previous: C | undefined;
  let unchangedSince = Date.now();
  for (;;) {
    const counts = await count();
    const same = previous !== undefined && sameCounts(previous, counts);
    if (!same) unchangedSince = Date.now();
    if (counts.v1 >= options.primaries) {
      if (options.inFlight) {
        if (same && (await options.inFlight()) === 0) {
          // Nothing in flight now: one last read catches a copy that finished between the two reads.
          const final = await count();
          if (sameCounts(final, counts)) return { ...final, settled: true };
        }
      } else if (Date.now() - unchangedSince >= quietMs) {
        return { ...counts, settled: true };
      }
    }
    if (Date.now() > deadline) return { ...counts, settled: false };
    previous = counts;
    await sleep(pollMs);
  }
}

/** countSince once the copies have landed: waitForSettledCounts with the proxy's in-flight figure. */
export function settledCountsSince(
  stack: LocalStack,
  app: AppName,
  marks: LogMarks,
  primaries: number,
  deadlineMs?: number,
): Promise<Required<VersionCounts> & Settled> {
  return waitForSettledCounts(() => countSince(stack, app, marks), { primaries, inFlight: () => shadowInFlight(stack.adminUrl), deadlineMs });
}
