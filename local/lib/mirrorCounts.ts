// How many requests reached v1 and v2, counted from the services' own logs
// (as people check it), once the asynchronous copies have landed.
import type { AppName } from "../../components/apps.ts";
import { sleep } from "./processes.ts";
import { readLinesFrom, requestsIn, type RequestFilter } from "./requestLog.ts";
import type { LocalStack } from "./stack.ts";

export interface VersionCounts {
  /** Requests v1 served (not copies). */
  v1: number;
  /** Copies v2 received (mirrored=true). */
  v2: number;
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

export interface LogMarks {
  v1: number;
  v2: number;
}

/** Byte offsets of an app's v1 and v2 logs now: count only what comes after. */
export function markLogs(stack: LocalStack, app: AppName): LogMarks {
  return {
    v1: readLinesFrom(stack.service(app, "v1").logFile).next,
    v2: readLinesFrom(stack.service(app, "v2").logFile).next,
  };
}

/** Requests in an app's v1 log and copies in its v2 log since `marks`. */
export function countSince(stack: LocalStack, app: AppName, marks: LogMarks, filter: RequestFilter = {}): VersionCounts {
  const v1Lines = readLinesFrom(stack.service(app, "v1").logFile, marks.v1).lines;
  const v2Lines = readLinesFrom(stack.service(app, "v2").logFile, marks.v2).lines;
  return {
    v1: requestsIn(v1Lines, { ...filter, mirrored: false }).length,
    v2: requestsIn(v2Lines, { ...filter, mirrored: true }).length,
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

/**
 * Polls `count` until v1 has every primary and the copies have stopped
 * arriving: the proxy reports none in flight and v2's count held for one more
 * poll, or (no proxy figure) nothing changed for `quietMs`.
 */
export async function waitForSettledCounts(count: () => Promise<VersionCounts> | VersionCounts, options: SettleOptions): Promise<Settled> {
  const pollMs = options.pollMs ?? 50;
  const quietMs = options.quietMs ?? 1000;
  const deadline = Date.now() + (options.deadlineMs ?? 10_000);
  let previous: VersionCounts | undefined;
  let unchangedSince = Date.now();
  for (;;) {
    const counts = await count();
    const same = previous !== undefined && previous.v1 === counts.v1 && previous.v2 === counts.v2;
    if (!same) unchangedSince = Date.now();
    if (counts.v1 >= options.primaries) {
      if (options.inFlight) {
        if (same && (await options.inFlight()) === 0) {
          // Nothing in flight now: one last read catches a copy that finished between the two reads.
          const final = await count();
          if (final.v2 === counts.v2 && final.v1 === counts.v1) return { ...final, settled: true };
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
