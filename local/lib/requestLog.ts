// Reading the demo services' request log: one logfmt line per request,
// `<ISO time> method=GET path=/ host=... version=v1 mirrored=false status=200`.
// Pure parsing and counting here; files and pods are read elsewhere.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { originalHost } from "../../workloads/shared/mirror.ts";
import { logTimeOf, parseRequestLogLine, type ParsedRequestLogEntry } from "../../workloads/shared/log.ts";

/** A request line as read back (see workloads/shared/log.ts). */
export type RequestLogLine = ParsedRequestLogEntry;

export interface RequestFilter {
  /** Only requests whose Host, without a `-shadow` suffix and port, is this (case-insensitive). */
  host?: string;
  path?: string;
  mirrored?: boolean;
  /** Only lines logged at or after this ISO time. */
  since?: string;
}

export function matchesFilter(entry: RequestLogLine, filter: RequestFilter): boolean {
  if (filter.host !== undefined && originalHost(entry.host) !== filter.host.toLowerCase()) return false;
  if (filter.path !== undefined && entry.path !== filter.path) return false;
  if (filter.mirrored !== undefined && entry.mirrored !== filter.mirrored) return false;
  if (filter.since !== undefined && entry.time < filter.since) return false;
  return true;
}

/** The request lines among `lines` that match `filter`. */
export function requestsIn(lines: readonly string[], filter: RequestFilter = {}): RequestLogLine[] {
  return lines.map(parseRequestLogLine).filter((entry): entry is RequestLogLine => entry !== undefined && matchesFilter(entry, filter));
}

/** Lines of a text chunk; a trailing partial line (no newline yet) is left out. */
export function completeLines(text: string): string[] {
  const end = text.lastIndexOf("\n");
  return end < 0 ? [] : text.slice(0, end).split("\n");
}

/** The last `count` entries. */
export function lastLines<T>(lines: readonly T[], count: number): T[] {
  return count <= 0 ? [] : lines.slice(-count);
}

/** `hostname v1 | <line>` */
export function labelLine(label: string, line: string): string {
  return `${label} | ${line}`;
}

/** Lines sorted by their leading ISO time (stable; lines without one keep their place at the front). */
export function byLogTime(lines: readonly string[]): string[] {
  const timeOf = (line: string) => logTimeOf(line) ?? "";
  return [...lines].sort((a, b) => (timeOf(a) < timeOf(b) ? -1 : timeOf(a) > timeOf(b) ? 1 : 0));
}

export interface TaggedLines {
  /** Which process (or pod) the lines come from. */
  tag: string;
  lines: readonly string[];
}

/**
 * The lines of one version's processes as one log: in time order, each tagged
 * `  [tag]` when there are several (as `npm run logs` tags pods), the last
 * `count` overall (all when omitted).
 */
export function mergeLogs(sources: readonly TaggedLines[], count?: number): string[] {
  const tagged = sources.flatMap((source) => source.lines.map((line) => (sources.length > 1 ? `${line}  [${source.tag}]` : line)));
  const merged = sources.length > 1 ? byLogTime(tagged) : tagged;
  return count === undefined ? merged : lastLines(merged, count);
}

/** Size of a file, 0 when it does not exist yet. */
export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Complete lines of a log file from byte `offset` on, and the offset after them. */
export function readLinesFrom(file: string, offset = 0): { lines: string[]; next: number } {
  const size = fileSize(file);
  if (size <= offset) return { lines: [], next: offset };
  const fd = openSync(file, "r");
  try {
    const buffer = Buffer.alloc(size - offset);
    const read = readSync(fd, buffer, 0, buffer.length, offset);
    const text = buffer.subarray(0, read).toString("utf8");
    const lines = completeLines(text);
    return { lines, next: lines.length ? offset + Buffer.byteLength(lines.join("\n") + "\n") : offset };
  } finally {
    closeSync(fd);
  }
}
