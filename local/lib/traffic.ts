// Sending the tutorials' requests: a bounded number in flight, to one base
// URL, with the app's Host header and path, timing each one.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { Agent, request } from "undici";
import { exampleHost } from "../../components/ingress.ts";
import type { App } from "../../components/apps.ts";
import { formatMs, percentile } from "./stats.ts";
import { stackLiveness } from "./state.ts";

export interface RequestSpec {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  path: string;
  host?: string;
  cookie?: string;
  timeoutMs: number;
}

export interface RequestResult {
  status?: number;
  /** Why there is no status (connection refused, timeout...). */
  error?: string;
  ms: number;
  body?: string;
}

/** The app's request as the exported curl command makes it. */
export function requestFor(url: string, app: Pick<App, "name" | "curlPath">, settings: Pick<App, "hosts">, options: { cookie?: string; host?: string; timeoutMs?: number } = {}): RequestSpec {
  return {
    url,
    path: app.curlPath,
    host: options.host ?? exampleHost(app, settings),
    cookie: options.cookie,
    timeoutMs: options.timeoutMs ?? 5000,
  };
}

/** One GET; never throws: failures come back as `error`. */
export async function sendRequest(spec: RequestSpec, dispatcher?: Agent, keepBody = false): Promise<RequestResult> {
  const headers: Record<string, string> = {};
  if (spec.host) headers.host = spec.host;
  if (spec.cookie) headers.cookie = spec.cookie;
  const started = performance.now();
  try {
    const response = await request(new URL(spec.path, spec.url + "/"), {
      method: "GET",
      headers,
      dispatcher,
      headersTimeout: spec.timeoutMs,
      bodyTimeout: spec.timeoutMs,
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    const body = await response.body.text();
    return { status: response.statusCode, ms: performance.now() - started, ...(keepBody ? { body } : {}) };
  } catch (error) {
    return { error: describeError(error), ms: performance.now() - started };
  }
}

function describeError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  const code = (error as { code?: string }).code ?? cause?.code;
  if ((error as Error).name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT") return "timeout";
  return code ?? (error as Error).message ?? String(error);
}

/** Sends `count` requests with at most `concurrency` in flight; `onDone(n)` after each. */
export async function sendRequests(
  spec: RequestSpec,
  count: number,
  concurrency: number,
  onDone: (done: number) => void = () => undefined,
): Promise<RequestResult[]> {
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 1000 });
  const results: RequestResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      results.push(await sendRequest(spec, dispatcher));
      onDone(results.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    await dispatcher.close();
  }
  return results;
}

export interface TrafficSummary {
  count: number;
  /** `{ "200": 49, "timeout": 1 }` */
  outcomes: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Requests that got no answer or a 5xx. */
  failures: number;
}

export function summarize(results: readonly RequestResult[]): TrafficSummary {
  const outcomes: Record<string, number> = {};
  for (const result of results) {
    const key = result.status !== undefined ? String(result.status) : (result.error ?? "error");
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const latencies = results.filter((result) => result.status !== undefined).map((result) => result.ms);
  return {
    count: results.length,
    outcomes,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies.length ? Math.max(...latencies) : NaN,
    failures: results.filter((result) => result.status === undefined || result.status >= 500).length,
  };
}

/** `status 200 ×49, timeout ×1` and `latency p50 2.1 ms, p90 ...`. */
export function formatSummary(summary: TrafficSummary, seconds: number): string[] {
  const outcomes = Object.entries(summary.outcomes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, count]) => `${/^\d+$/.test(key) ? `HTTP ${key}` : key} ×${count}`)
    .join(", ");
  const rate = seconds > 0 ? ` (${Math.round(summary.count / seconds)} req/s)` : "";
  return [
    `${summary.count} requests in ${seconds.toFixed(2)} s${rate}: ${outcomes}`,
    `latency p50 ${formatMs(summary.p50)}, p90 ${formatMs(summary.p90)}, p99 ${formatMs(summary.p99)}, max ${formatMs(summary.max)}`,
  ];
}

export interface TargetUrl {
  url: string;
  /** Where it came from, for the user. */
  source: string;
}

export interface TargetSources {
  flag?: string;
  env: NodeJS.ProcessEnv;
  stack: string;
  projectDir: string;
  stateFile: string;
  /** `pulumi stack output ingressUrl`, or why it gave nothing. */
  pulumiOutput?: (stack: string) => Promise<{ url?: string; why: string }>;
}

/**
 * The URL to send to: --url, else $INGRESS_URL, else `pulumi stack output
 * ingressUrl`, else the running local stack. Throws saying why each gave nothing.
 */
export async function resolveTargetUrl(sources: TargetSources): Promise<TargetUrl> {
  if (sources.flag) return { url: sources.flag, source: "--url" };
  const fromEnv = sources.env.INGRESS_URL?.trim();
  if (fromEnv) return { url: fromEnv.replace(/\/+$/, ""), source: "$INGRESS_URL" };
  const reasons = ["no --url", "INGRESS_URL is not set"];
  const pulumi = await (sources.pulumiOutput ?? pulumiStackOutput)(sources.stack);
  if (pulumi.url) return { url: pulumi.url.replace(/\/+$/, ""), source: `pulumi stack output ingressUrl (stack ${sources.stack})` };
  reasons.push(pulumi.why);
  const local = stackLiveness(sources.stateFile);
  if (local.kind === "running") return { url: local.state.url, source: `the local stack (${path.relative(sources.projectDir, sources.stateFile)}, npm run demo, pid ${local.state.pid})` };
  reasons.push(
    local.kind === "stale"
      ? `the local stack in ${sources.stateFile} is not running any more (its npm run demo, pid ${local.state.pid}, is gone)`
      : `no local stack is running (no ${path.relative(sources.projectDir, sources.stateFile)}; start one with npm run demo)`,
  );
  throw new Error(`no URL to send to: ${reasons.join("; ")}. Pass --url http://HOST:PORT or set INGRESS_URL.`);
}

/** The pulumi CLI on PATH, if any. */
export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  return undefined;
}

export function pulumiStackOutput(stack: string): Promise<{ url?: string; why: string }> {
  const pulumi = findOnPath("pulumi");
  if (!pulumi) return Promise.resolve({ why: "no pulumi CLI on PATH to ask `pulumi stack output ingressUrl`" });
  return new Promise((resolve) => {
    execFile(pulumi, ["stack", "output", "ingressUrl", "--stack", stack], { timeout: 20_000 }, (error, stdout, stderr) => {
      const url = stdout.trim();
      if (!error && /^https?:\/\//.test(url)) resolve({ url, why: "" });
      else resolve({ why: `\`pulumi stack output ingressUrl --stack ${stack}\` gave no URL (${(stderr || error?.message || stdout).trim().split("\n")[0]})` });
    });
  });
}
