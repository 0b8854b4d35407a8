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
