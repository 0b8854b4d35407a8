// One line per event, `<ISO time> key=value ...` (logfmt values), so people can
// `kubectl logs ... | grep mirrored=true` and tools can still parse it.

/** Where log lines go: stdout in a container, an array in tests or a local demo. */
export type LogSink = (line: string) => void;

export const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + "\n");
};

export type LogFields = Record<string, string | number | boolean>;

/** logfmt quoting: a value that is empty or holds a space, `=`, `"` or a control character is JSON-quoted. */
export function formatLogValue(value: string | number | boolean): string {
  const text = String(value);
  return text === "" || /[\s="\\\u0000-\u001f\u007f]/.test(text) ? JSON.stringify(text) : text;
}

export function formatLogLine(time: Date, fields: LogFields): string {
  const pairs = Object.entries(fields).map(([key, value]) => `${key}=${formatLogValue(value)}`);
  return [time.toISOString(), ...pairs].join(" ");
}

export interface RequestLogEntry {
  time: Date;
  method: string;
  path: string;
  host: string;
  version: string;
  mirrored: boolean;
  status: number;
}

/** e.g. `2026-11-23T13:00:00.000Z method=GET path=/version/ host=hostname.example.com version=v1 mirrored=false status=200` */
export function formatRequestLogLine(entry: RequestLogEntry): string {
  const { time, method, path, host, version, mirrored, status } = entry;
  return formatLogLine(time, { method, path, host, version, mirrored, status });
}

// Reading them back (the local tools and the tests): the inverse of the formatters above.

const LOG_FIELD = /(\w[\w-]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
const ISO_PREFIX = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z) /;

/** The key=value fields of a logfmt line (JSON-quoted values unquoted). */
export function logFields(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of line.matchAll(LOG_FIELD)) {
    const raw = match[2];
    try {
      fields[match[1]] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    } catch {
      fields[match[1]] = raw;
    }
  }
  return fields;
}

/** The leading ISO time of a line formatted by formatLogLine; undefined for other lines. */
export function logTimeOf(line: string): string | undefined {
  return ISO_PREFIX.exec(line)?.[1];
}

/** A line of formatLogLine's: its time (as written) and its fields; undefined for foreign lines. */
export function parseLogLine(line: string): { time: string; fields: Record<string, string> } | undefined {
  const time = logTimeOf(line);
  if (!time) return undefined;
  return { time, fields: logFields(line.slice(time.length + 1)) };
}

/** A request log entry as read back: the time as the ISO text it was written as. */
export type ParsedRequestLogEntry = Omit<RequestLogEntry, "time"> & { time: string };

/** A line of formatRequestLogLine's, or undefined for lifecycle (`event=...`) and foreign lines. */
export function parseRequestLogLine(line: string): ParsedRequestLogEntry | undefined {
  const parsed = parseLogLine(line);
  if (!parsed) return undefined;
  const { time, fields } = parsed;
  if (fields.method === undefined || fields.path === undefined || fields.status === undefined) return undefined;
  return {
    time,
    method: fields.method,
    path: fields.path,
    host: fields.host ?? "",
    version: fields.version ?? "",
    mirrored: fields.mirrored === "true",
    status: Number(fields.status),
  };
}
