/**
 * The validated config as the serving process uses it: the limits' defaults, the upstream
 * lookup, and ConfigError. No zod or YAML here: config.ts parses and validates (in its own
 * process, configChecker.ts); the proxy and main.ts load only this.
 */
import type { Destination, Limits, MirrorProxySettings } from "./config.ts";

export const DEFAULT_LIMITS: Limits = {
  headersTimeoutMs: 10000,
  bodyIdleTimeoutMs: 30000,
  keepAliveTimeoutMs: 65000,
  maxConnections: 2048,
  maxPipelinedRequests: 32,
  primaryConnectTimeoutMs: 10000,
  maxRequestHeaderBytes: 61440,
  maxShadowAnswerBytes: 65536,
  maxShadowAnswerCutsPerSecond: 100,
  maxMirrorBufferBytes: 16 * 1024 * 1024,
};

/** `spec.limits` with the defaults filled in. */
export function limitsOf(settings: MirrorProxySettings): Limits {
  return { ...DEFAULT_LIMITS, ...settings.limits };
}

export interface ConfigProblem {
  document: string;
  path: string;
  problem: string;
  value?: unknown;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(`invalid mirror-proxy config:\n${problems.map(formatProblem).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  const at = p.path ? `${p.document}: ${p.path}` : p.document;
  return p.value === undefined ? `${at}: ${p.problem}` : `${at}: ${p.problem} (got ${showValue(p.value)})`;
}

function showValue(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

// ---------------------------------------------------------------- upstream / subset lookup

/** First DNS label: `movies.mirror-demo.svc.cluster.local` -> `movies`. */
export function shortName(host: string): string {
  const dot = host.indexOf(".");
  return dot < 0 ? host : host.slice(0, dot);
}

/**
 * The upstreams key a destination resolves to: exact host first, then its short name
 * (first label), so `movies` and `movies.mirror-demo.svc.cluster.local` both find `movies/v1`.
 */
export function resolveUpstreamKey(upstreams: Record<string, unknown>, dest: Destination): string | undefined {
  const suffix = dest.subset ? `/${dest.subset}` : "";
  const exact = dest.host + suffix;
  if (Object.hasOwn(upstreams, exact)) return exact;
  const short = shortName(dest.host) + suffix;
  if (Object.hasOwn(upstreams, short)) return short;
  return undefined;
}
