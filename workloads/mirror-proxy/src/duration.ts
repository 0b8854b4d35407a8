/**
 * Go/protobuf durations as Istio and Gateway API write them. No zod here: the serving
 * process (model.ts, gatewayRouting.ts) uses it, and validation runs apart (configChecker.ts).
 */
const UNIT_MS: Record<string, number> = { h: 3600000, m: 60000, s: 1000, ms: 1, us: 0.001, "µs": 0.001, ns: 0.000001 };

/** Parses a Go/protobuf duration (`1.5s`, `300ms`, `1m30s`) to milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const part = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)/y;
  let pos = 0;
  let total = 0;
  if (text.length === 0) return undefined;
  while (pos < text.length) {
    part.lastIndex = pos;
    const m = part.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = part.lastIndex;
  }
  return total;
}
