// wrk's figures: a Lua done() hook prints one JSON line, parseWrkOutput reads
// it. Pure, no relative imports (unit-tested in test/bench/ under jest).

export interface WrkResult {
  durationS: number;
  /** Responses received (any status). */
  requests: number;
  /** Responses with a status below 400 (wrk counts >= 400 as status errors). */
  ok: number;
  /** Responses with status >= 400. */
  non2xx: number;
  /** Socket-level errors: connect, read, write, timeout. */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** ok responses per second. */
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; mean: number; max: number };
}

interface WrkJson {
  duration_us: number;
  requests: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { min: number; max: number; mean: number; stdev: number; p50: number; p90: number; p99: number; p999: number };
}

const MARK = "WRK_JSON ";

export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split("\n").find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`wrk printed no ${MARK.trim()} line (is the Lua script loaded?):\n${stdout}`);
  const j = JSON.parse(line.slice(MARK.length)) as WrkJson;
  for (const k of ["duration_us", "requests"] as const) {
    if (typeof j[k] !== "number" || !Number.isFinite(j[k])) throw new Error(`wrk JSON: bad ${k}: ${line}`);
  }
  const durationS = j.duration_us / 1e6;
  const ok = Math.max(0, j.requests - j.errors.status);
  const ms = (us: number) => us / 1000;
  return {
    durationS,
    requests: j.requests,
    ok,
    non2xx: j.errors.status,
    socketErrors: { connect: j.errors.connect, read: j.errors.read, write: j.errors.write, timeout: j.errors.timeout },
    rps: durationS > 0 ? ok / durationS : 0,
    latencyMs: {
      p50: ms(j.latency_us.p50),
      p90: ms(j.latency_us.p90),
      p99: ms(j.latency_us.p99),
      p999: ms(j.latency_us.p999),
      mean: ms(j.latency_us.mean),
      max: ms(j.latency_us.max),
    },
  };
}

/**
 * wrk done() hook: one machine-readable line with the figures the benchmark
 * needs (latencies in µs). Only done() is defined, so wrk keeps its fast path
 * (no per-request or per-response Lua).
 */
export const WRK_LUA = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us":%.0f,"requests":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"min":%.0f,"max":%.0f,"mean":%.1f,"stdev":%.1f,' ..
    '"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f}}\\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end`;

