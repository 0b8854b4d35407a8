// `npm run verdict`: is v2 ready? Gathers the comparison from every proxy
// replica (verdictSources.ts), merges it exactly (stats.ts), decides per app
// (verdictDecision.ts) and prints it, or `--json`. Exit 0 = promote,
// 1 = hold (and why), 2 = not enough data yet (or a replica could not be read).
import { Command, InvalidArgumentError, Option } from "commander";
import { loadStackConfig } from "../../components/stackFiles.ts";
import { buildStackRoutings } from "../../components/routing.ts";
import type { StackConfig } from "../../components/config.ts";
import { mergeStats, type CompareStats, type StatsPath } from "../../workloads/mirror-proxy/src/compare/stats.ts";
import { parseWith, UsageError } from "./cli.ts";
import { formatDifference } from "./compareReport.ts";
import { ALLOWED, parseCount, parseDuration, parsePercent, parseQuantile, quantileName } from "../../components/verdictThresholds.ts";
import { decide, DEFAULT_THRESHOLDS, EXIT_CODES, ms, pct, virtualServiceOf, type AppVerdict, type Thresholds, type Verdict } from "./verdictDecision.ts";
import { gather, type Gathered } from "./verdictSources.ts";

export interface VerdictOptions {
  stack: string;
  admin: string[];
  local: boolean;
  kubernetes: "auto" | "on" | "off";
  namespace?: string;
  app: string[];
  json: boolean;
  token?: string;
  /** Only the flags given (the rest come from the stack config, then the defaults). */
  thresholds: Partial<Thresholds>;
}

/** A flag's value through one of verdictThresholds.ts' parsers (the stack config's syntax too). */
function via(flag: string, parse: (v: string) => number | undefined, allowed: string) {
  return (value: string): number => {
    const parsed = parse(value);
    if (parsed === undefined) throw new InvalidArgumentError(`${flag} must be ${allowed}, got "${value}"`);
    return parsed;
  };
}

function urlArg(value: string, previous: string[]): string[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`not a URL: "${value}" (e.g. http://127.0.0.1:9901)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError(`expected an http(s) URL, got "${value}"`);
  return [...previous, value.replace(/\/+$/, "")];
}

export function parseVerdictArgs(args: readonly string[], write: (text: string) => void = () => undefined): VerdictOptions {
  const program = new Command("npm run verdict --")
    .description("Merge the comparison of every mirror-proxy replica and decide per app: promote v2 (exit 0), hold (1), or not enough data yet (2).")
    .option("--admin <url>", "a proxy's admin URL (repeatable), e.g. http://127.0.0.1:9901", urlArg, [])
    .option("--no-local", "do not read the local stack (npm run demo)")
    .addOption(new Option("--kubernetes", "read every mirror-proxy pod of the cluster; an error when that fails").conflicts("noKubernetes"))
    .addOption(new Option("--no-kubernetes", "never ask a cluster (default: when a kubeconfig exists, a failure is a note)"))
    .option("-n, --namespace <name>", "namespace of the proxy pods (default: the stack's)")
    .option("--stack <name>", "stack whose config (apps, verdict thresholds, namespace) to read", "dev")
    .option("--app <name>", "decide only this app (repeatable)", (v: string, p: string[]) => [...p, v], [])
    .option("--max-diff <percent>", `highest difference rate to promote (default ${pct(DEFAULT_THRESHOLDS.maxDiff)})`, via("--max-diff", parsePercent, ALLOWED.percent))
    .option("--min-compared <n>", `compared answers an app needs to be promoted (default ${DEFAULT_THRESHOLDS.minCompared})`, via("--min-compared", parseCount, ALLOWED.count))
    .option("--max-shadow-errors <percent>", `highest shadow error ratio (default ${pct(DEFAULT_THRESHOLDS.maxShadowErrors)})`, via("--max-shadow-errors", parsePercent, ALLOWED.percent))
    .option("--max-latency-delta <duration>", `highest per-request latency of v2 minus v1's at --latency-quantile (default ${DEFAULT_THRESHOLDS.maxLatencyDelta * 1000}ms)`, via("--max-latency-delta", parseDuration, ALLOWED.duration))
    .option("--latency-quantile <q>", `which quantile of the latency delta is held to --max-latency-delta: p50, p90, p99 or 0-1 (default ${quantileName(DEFAULT_THRESHOLDS.latencyQuantile)})`, via("--latency-quantile", parseQuantile, ALLOWED.quantile))
    .option("--token <token>", "bearer token for the proxies' comparison endpoints (default: $MIRROR_PROXY_ADMIN_TOKEN)")
    .option("--json", "print the verdict as JSON", false);
  const o = parseWith<Record<string, unknown> & { args: string[] }>(program, args, write);
  const thresholds: Partial<Thresholds> = {};
  for (const key of ["maxDiff", "minCompared", "maxShadowErrors", "maxLatencyDelta", "latencyQuantile"] as const) if (o[key] !== undefined) thresholds[key] = o[key] as number;
  // commander: --kubernetes sets true, --no-kubernetes false, neither leaves it undefined.
  const kubernetes = o.kubernetes === true ? "on" : o.kubernetes === false ? "off" : "auto";
  return {
    stack: o.stack as string,
    admin: o.admin as string[],
    local: o.local !== false,
    kubernetes,
    namespace: o.namespace as string | undefined,
    app: o.app as string[],
    json: o.json === true,
    token: (o.token as string | undefined) ?? (process.env.MIRROR_PROXY_ADMIN_TOKEN || undefined),
    thresholds,
  };
}

/** The stack's apps that are compared, and which VirtualService routes each app's traffic. */
export function stackApps(config: StackConfig): { apps: string[]; byVirtualService: Map<string, string> } {
  const byVirtualService = new Map<string, string>();
  for (const { app, routing } of buildStackRoutings(config)) byVirtualService.set(routing.virtualService.metadata.name, app.name);
  const apps = Object.entries(config.apps)
    .filter(([, settings]) => settings.compare)
    .map(([name]) => name);
  return { apps, byVirtualService };
}

// ---------------------------------------------------------------- text

function example(p: StatsPath): string {
  return p.example ? `  e.g. ${p.example.request}: ${formatDifference(p.example.difference)}` : "";
}

function routeLines(v: AppVerdict): string[] {
  const lines: string[] = [];
  for (const r of v.routes) {
    const f = r.figures;
    const [lo, hi] = f.differingInterval;
    const d = f.latencyDelta;
    lines.push(
      `  ${r.route}: mirrored ${f.mirrored}, compared ${f.compared} (coverage ${pct(f.coverage)}), ` +
        `differ ${f.differing} = ${pct(f.differingRate)} (95 % CI ${pct(lo)}–${pct(hi)}), shadow errors ${f.shadowErrors} (${pct(f.shadowErrorRate)}), ` +
        (d.count > 0 ? `latency delta p50 ${ms(d.p50!)}, p90 ${ms(d.p90!)}` : "latency delta: no samples"),
    );
    const skipped = Object.entries(r.stats.skipped).filter(([, n]) => n > 0);
    if (skipped.length) lines.push(`    skipped: ${skipped.map(([reason, n]) => `${reason} ${n}`).join(", ")}`);
    if (r.stats.noiseLearned.length) lines.push(`    noise learned (left out of the comparison): ${r.stats.noiseLearned.join(", ")}`);
    const top = r.stats.topDifferences.slice(0, 5);
    if (top.length) {
      const width = Math.max(...top.map((p) => p.path.length));
      lines.push("    top differing paths:");
      for (const p of top) lines.push(`      ${p.path.padEnd(width)}  ${p.count}${p.overcount ? ` (≤ ${p.overcount} overcounted)` : ""}${example(p)}`);
    }
  }
  return lines;
}

const LABEL = { promote: "PROMOTE", hold: "HOLD", not_enough_data: "NOT ENOUGH DATA" } as const;

export function formatVerdict(verdict: Verdict, gathered: Gathered): string[] {
  const t = verdict.thresholds;
  const lines = [
    `Verdict from ${gathered.replicas.length} proxy ${gathered.replicas.length === 1 ? "replica" : "replicas"}: ` +
      gathered.replicas.map((r) => `${r.stats.replicas.join(", ")} (${r.source}, ${r.url})`).join("; "),
    ...gathered.notes.map((n) => `  ${n}`),
    ...gathered.failures.map((f) => `  could not read ${f}`),
    `Thresholds: --max-diff ${pct(t.maxDiff)}, --min-compared ${t.minCompared}, --max-shadow-errors ${pct(t.maxShadowErrors)}, --max-latency-delta ${ms(t.maxLatencyDelta)} at ${quantileName(t.latencyQuantile)}`,
    "",
  ];
  for (const v of verdict.apps) {
    const why = v.decision === "promote" || v.reasons.length === 0 ? v.passed.join("; ") : v.reasons.join("; ");
    lines.push(`${v.app}: ${LABEL[v.decision]}: ${why}${v.decision === "promote" && v.noiseLearned.length ? `; noise learned: ${v.noiseLearned.join(", ")}` : ""}`);
    if (v.routes.length === 0) lines.push("  (no compared route of this app in the replicas' statistics yet)");
    lines.push(...routeLines(v));
  }
  const held = verdict.apps.filter((a) => a.decision === "hold").map((a) => a.app);
  const waiting = verdict.apps.filter((a) => a.decision === "not_enough_data").map((a) => a.app);
  const summary =
    verdict.decision === "hold"
      ? `hold: ${held.join(", ")} ${held.length === 1 ? "differs" : "differ"} from v1 beyond the thresholds`
      : verdict.decision === "not_enough_data"
        ? gathered.failures.length > 0
          ? "not enough data: a replica could not be read, so the merged comparison is incomplete"
          : `not enough data yet: ${waiting.length ? waiting.join(", ") : "no app"} (send more traffic, or lower --min-compared)`
        : `promote: ${verdict.apps.map((a) => a.app).join(", ")} answer like v1`;
  lines.push("", `Decision: ${summary} (exit ${verdict.exitCode})`);
  return lines;
}

// ---------------------------------------------------------------- run

export interface VerdictRun {
  verdict: Verdict;
  gathered: Gathered;
  merged: CompareStats;
}

/** Gathers, merges and decides; `config` (default: the stack's files) supplies the apps and the stack's thresholds. */
export async function runVerdict(options: VerdictOptions, projectDir: string, config: StackConfig = loadStackConfig(projectDir, options.stack).config): Promise<VerdictRun> {
  const gathered = await gather({
    projectDir,
    local: options.local,
    admins: options.admin,
    kubernetes: options.kubernetes,
    namespace: () => options.namespace ?? config.namespace,
    token: options.token,
  });
  const merged = mergeStats(gathered.replicas.map((r) => r.stats));
  const { apps: configured, byVirtualService } = stackApps(config);
  const appOf = (route: string) => byVirtualService.get(virtualServiceOf(route)) ?? virtualServiceOf(route);
  // The stack's compared apps, and any other app the replicas compare (a proxy fed other routing).
  const seen = Object.keys(merged.routes).map(appOf);
  let apps = [...new Set([...configured, ...seen])];
  if (options.app.length > 0) {
    const unknown = options.app.filter((a) => !apps.includes(a));
    if (unknown.length) throw new UsageError(`npm run verdict --: --app ${unknown.join(", ")}: not a compared app (compared: ${apps.join(", ") || "none"})`);
    apps = options.app;
  }
  // Flags over the stack config's `verdict` (itself over the defaults).
  const thresholds = { ...config.verdict, ...options.thresholds };
  let verdict = decide(merged, apps, appOf, thresholds);
  // Without every replica the counts are partial: never promote or hold on them.
  const failed = gathered.failures.length;
  if (failed > 0 || gathered.replicas.length === 0) {
    const why = failed > 0 ? `${failed} ${failed === 1 ? "replica" : "replicas"} could not be read (the counts are partial)` : "no proxy replica was read";
    verdict = {
      ...verdict,
      decision: "not_enough_data",
      exitCode: EXIT_CODES.not_enough_data,
      apps: verdict.apps.map((a) => ({ ...a, decision: "not_enough_data", reasons: [why, ...a.reasons] })),
    };
  }
  return { verdict, gathered, merged };
}

export function verdictJson(run: VerdictRun): object {
  return {
    decision: run.verdict.decision,
    exitCode: run.verdict.exitCode,
    thresholds: run.verdict.thresholds,
    replicas: run.gathered.replicas.map((r) => ({ source: r.source, url: r.url, replicas: r.stats.replicas })),
    failures: run.gathered.failures,
    notes: run.gathered.notes,
    apps: run.verdict.apps.map((a) => ({
      app: a.app,
      decision: a.decision,
      reasons: a.reasons,
      passed: a.passed,
      figures: a.figures,
      noiseLearned: a.noiseLearned,
      routes: a.routes.map((r) => ({ route: r.route, figures: r.figures, skipped: r.stats.skipped, topDifferences: r.stats.topDifferences, noiseLearned: r.stats.noiseLearned })),
    })),
  };
}

export async function main(args: string[], projectDir: string): Promise<number> {
  const options = parseVerdictArgs(args, (text) => process.stdout.write(text));
  let run: VerdictRun;
  try {
    run = await runVerdict(options, projectDir);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    process.stderr.write(`npm run verdict: ${(error as Error).message}\n`);
    return EXIT_CODES.not_enough_data;
  }
  if (run.gathered.replicas.length === 0 && !options.json) {
    process.stderr.write(
      [
        "npm run verdict: no proxy replica to read the comparison from:",
        ...run.gathered.notes.map((n) => `  ${n}`),
        ...run.gathered.failures.map((f) => `  could not read ${f}`),
        "Start the local stack (npm run demo), or pass --admin http://<proxy>:9901, or run against a cluster (--kubernetes).",
      ].join("\n") + "\n",
    );
    return EXIT_CODES.not_enough_data;
  }
  process.stdout.write(options.json ? JSON.stringify(verdictJson(run), null, 2) + "\n" : formatVerdict(run.verdict, run.gathered).join("\n") + "\n");
  return run.verdict.exitCode;
}
