// Pure part of the benchmark: the cases, the table and the issue's targets.
import type { WrkResult } from "./wrk.ts";

export type Kind = "direct" | "proxy" | "nginx";
export type Shadow = "off" | "fast" | "slow" | "closed";

export interface CaseDef {
  id: string;
  kind: Kind;
  shadow: Shadow;
  label: string;
  /** Latency probe: 1 connection, 1 thread, short (not part of the targets). */
  probe?: boolean;
  /** The proxy also compares each shadow answer with the primary's (issue 5). */
  compare?: boolean;
  /** The proxy runs with --workers N (node:cluster); absent = one process, no cluster. */
  workers?: number;
  /** --baseline: this run is of the baseline build (id `<case>~base`), the twin of case `<case>`. */
  baseline?: boolean;
}

const SHADOW_LABEL: Record<Shadow, string> = {
  off: "no mirroring",
  fast: "mirror 100% -> fast shadow",
  slow: "mirror 100% -> 200 ms shadow",
  closed: "mirror 100% -> closed port",
};

export const CASES: CaseDef[] = [
  { id: "direct", kind: "direct", shadow: "off", label: "direct to primary" },
  ...(["proxy", "nginx"] as const).flatMap((kind) =>
    (["off", "fast", "slow", "closed"] as const).map((shadow) => ({
      id: `${kind}-${shadow}`,
      kind,
      shadow,
      label: `${kind === "proxy" ? "mirror-proxy" : "nginx"} ${SHADOW_LABEL[shadow]}`,
    })),
  ),
  // What comparing costs: against "mirror 100% -> fast shadow" (every answer differs: worst case).
  {
    id: "proxy-fast-compare",
    kind: "proxy",
    shadow: "fast",
    compare: true,
    label: "mirror-proxy mirror 100% -> fast shadow + compare",
  },
  // Unloaded latency (1 connection): with 50 saturating connections p50 is
  // about connections / throughput, so it mostly restates req/s.
  { id: "direct-1c", kind: "direct", shadow: "off", label: "direct to primary, 1 connection", probe: true },
  { id: "proxy-off-1c", kind: "proxy", shadow: "off", label: "mirror-proxy no mirroring, 1 connection", probe: true },
];

/** --workers 2,4: the proxy with N cluster workers, mirroring to the fast shadow (RSS per worker count). */
export function workerCases(workers: number[]): CaseDef[] {
  return workers.map((n) => ({ id: `proxy-fast-w${n}`, kind: "proxy", shadow: "fast", workers: n, label: `mirror-proxy --workers ${n}, ${SHADOW_LABEL.fast}` }));
}

/**
 * --only: a comma list of case ids (proxy-slow), kinds (proxy, nginx, direct)
 * or shadows (off, fast, slow, closed). Unknown words are an error.
 */
export function selectCases(only: string | undefined, workers: number[] = []): CaseDef[] {
  const all = [...CASES, ...workerCases(workers)];
  if (!only) return all;
  const words = only
    .split(",")
    .map((w) => w.trim())
    .filter(Boolean);
  for (const w of words) {
    if (!all.some((c) => c.id === w || c.kind === w || c.shadow === w)) {
      throw new Error(`--only: unknown case "${w}" (cases: ${all.map((c) => c.id).join(", ")})`);
    }
  }
  return all.filter((c) => words.some((w) => c.id === w || c.kind === w || c.shadow === w));
}

export interface CaseResult extends CaseDef {
  /** With --rounds: which round this result comes from. */
  round?: number;
  /** Why the case did not run. */
  skipped?: string;
  wrk?: WrkResult;
  /** Peak RSS of the process under test, MB (nginx: master + worker; --workers: primary + workers). */
  peakRssMb?: number;
  /** --workers: peak RSS of the primary process and of each worker, MB. */
  rssByProcessMb?: { primary: number; workers: number[] };
  /** Requests the upstreams received during the measured run. */
  received?: { primary: number; shadow: number };
  /** Proxy metrics about copies at the end of the case (non-zero lines). */
  mirrorMetrics?: string[];
  /** 1-minute load average when the case started. */
  loadAvg1?: number;
  /** Machine CPU during the measured run, % of all cores: total and not ours. */
  cpu?: { busyPct: number; otherPct: number };
  /** wrk's raw output for the measured run. */
  wrkRaw?: string;
  /**
   * CPU time (user + system, /proc/<pid>/stat) of the server under test during the
   * measured run, ms: the proxy process (and its cluster workers); nginx's worker
   * process(es) only (the master does no per-request work).
   */
  serverCpuMs?: number;
  /** The pids serverCpuMs was read from. */
  serverCpuPids?: number[];
}

/** CPU ms per 1,000 responses of the measured run, or undefined when not measured. */
export function cpuPer1k(r: CaseResult): number | undefined {
  if (r.serverCpuMs === undefined || !r.wrk || r.wrk.requests <= 0) return undefined;
  return r.serverCpuMs / (r.wrk.requests / 1000);
}

export interface Row {
  id: string;
  label: string;
  skipped?: string;
  rps?: number;
  p50?: number;
  p99?: number;
  non2xx?: number;
  socketErrors?: number;
  vsNginx?: number;
  vsProxyOff?: number;
  /** Server CPU ms per 1,000 requests (proxy; nginx: its worker). */
  cpuPer1k?: number;
  /** cpuPer1k / nginx's in the same shadow case (proxy rows only). */
  cpuVsNginx?: number;
  peakRssMb?: number;
  /** Copies received by the shadow per request received by the primary. */
  copiesPerRequest?: number;
  /** CPU used by processes outside the benchmark during the run, % of all cores. */
  otherCpuPct?: number;
}

export function buildRows(results: CaseResult[]): Row[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  const rps = (id: string) => byId.get(id)?.wrk?.rps;
  const cpu = (id: string) => {
    const r = byId.get(id);
    return r && !r.skipped ? cpuPer1k(r) : undefined;
  };
  return results.map((r) => {
    if (r.skipped || !r.wrk) return { id: r.id, label: r.label, skipped: r.skipped ?? "not run" };
    const w = r.wrk;
    // Probe rows (1 connection) are not comparable with the 50-connection ones.
    const nginxSame = r.kind === "proxy" && !r.probe ? rps(`nginx-${r.shadow}`) : undefined;
    const proxyOff = r.probe ? undefined : rps("proxy-off");
    const se = w.socketErrors;
    const own = cpuPer1k(r);
    const nginxCpu = r.kind === "proxy" && !r.probe ? cpu(`nginx-${r.shadow}`) : undefined;
    return {
      id: r.id,
      label: r.label,
      rps: w.rps,
      p50: w.latencyMs.p50,
      p99: w.latencyMs.p99,
      non2xx: w.non2xx,
      socketErrors: se.connect + se.read + se.write + se.timeout,
      vsNginx: nginxSame ? w.rps / nginxSame : undefined,
      vsProxyOff: proxyOff ? w.rps / proxyOff : undefined,
      cpuPer1k: own,
      cpuVsNginx: own !== undefined && nginxCpu ? own / nginxCpu : undefined,
      peakRssMb: r.peakRssMb,
      copiesPerRequest:
        r.shadow !== "off" && r.received && r.received.primary > 0 ? r.received.shadow / r.received.primary : undefined,
      otherCpuPct: r.cpu?.otherPct,
    };
  });
}

const HEAD = ["case", "req/s", "p50 ms", "p99 ms", "CPU ms/1k req", "CPU x nginx", "x nginx same", "x proxy off", "peak RSS MB", "non-2xx", "sock err", "copies/req", "other CPU %"];

function fmt(n: number | undefined, digits: number): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cells(r: Row): string[] {
  if (r.skipped) return [r.id, `skipped: ${r.skipped}`, ...HEAD.slice(2).map(() => "")];
  return [
    r.id,
    fmt(r.rps, 0),
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    fmt(r.cpuPer1k, 0),
    fmt(r.cpuVsNginx, 2),
    fmt(r.vsNginx, 2),
    fmt(r.vsProxyOff, 2),
    fmt(r.peakRssMb, 1),
    fmt(r.non2xx, 0),
    fmt(r.socketErrors, 0),
    r.copiesPerRequest === undefined ? "-" : fmt(r.copiesPerRequest, 2),
    fmt(r.otherCpuPct, 0),
  ];
}

export function renderText(rows: Row[]): string {
  const table = [HEAD, ...rows.filter((r) => !r.skipped).map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const id0 = Math.max(widths[0], ...rows.map((r) => r.id.length));
  widths[0] = id0;
  return [HEAD, ...rows.map((r) => (r.skipped ? null : cells(r)))]
    .map((c, k) =>
      c === null
        ? `${rows[k - 1].id.padEnd(id0)}  skipped: ${rows[k - 1].skipped}`
        : c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  "),
    )
    .join("\n");
}

export function renderMarkdown(rows: Row[]): string {
  const lines = [`| ${HEAD.join(" | ")} |`, `|${HEAD.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const r of rows) lines.push(`| ${cells(r).join(" | ")} |`);
  return lines.join("\n");
}

export interface TargetResult {
  name: string;
  status: "PASS" | "FAIL" | "SKIP" | "INFO";
  measured: string;
}

export const RSS_LIMIT_MB = 100;
export const RSS_LIMIT_COMPARE_MB = 120;

/** Above this share of CPU used by other processes, a case is flagged noisy. */
export const NOISY_OTHER_CPU_PCT = 20;

export function evaluateTargets(results: CaseResult[]): TargetResult[] {
  const get = (id: string) => {
    const r = results.find((x) => x.id === id);
    return r && !r.skipped ? r.wrk : undefined;
  };
  const out: TargetResult[] = [];
  const check = (name: string, ok: boolean | undefined, measured: string, ids: string[] = []) => {
    const noisy = results.filter((r) => ids.includes(r.id) && r.cpu && r.cpu.otherPct > NOISY_OTHER_CPU_PCT);
    const note = noisy.length
      ? ` [noisy: other processes used ${noisy.map((r) => `${r.cpu!.otherPct.toFixed(0)}% CPU in ${r.id}`).join(", ")}]`
      : "";
    out.push({ name, status: ok === undefined ? "SKIP" : ok ? "PASS" : "FAIL", measured: measured + (ok === undefined ? "" : note) });
  };

  const ratio = (name: string, id: string, baseId: string, min: number) => {
    const w = get(id);
    const base = get(baseId);
    check(
      `${name}: req/s >= ${min} x ${baseId}`,
      w && base ? w.rps >= min * base.rps : undefined,
      w && base ? `${(w.rps / base.rps).toFixed(2)} x (${fmt(w.rps, 0)} vs ${fmt(base.rps, 0)} req/s)` : `needs ${id} and ${baseId}`,
      [id, baseId],
    );
  };
  ratio("mirror, fast shadow", "proxy-fast", "nginx-fast", 1.2);
  ratio("no mirroring", "proxy-off", "nginx-off", 0.5);

  const off = get("proxy-off");
  for (const [id, what] of [
    ["proxy-slow", "200 ms shadow"],
    ["proxy-closed", "closed shadow port"],
  ] as const) {
    const w = get(id);
    const have = w && off;
    ratio(what, id, "proxy-off", 0.9);
    check(
      `${what}: p99 <= 1.2 x proxy-off`,
      have ? w.latencyMs.p99 <= 1.2 * off.latencyMs.p99 : undefined,
      have
        ? `${(w.latencyMs.p99 / off.latencyMs.p99).toFixed(2)} x (${fmt(w.latencyMs.p99, 2)} vs ${fmt(off.latencyMs.p99, 2)} ms)`
        : `needs ${id} and proxy-off`,
      [id, "proxy-off"],
    );
  }
  ratio("mirror + compare", "proxy-fast-compare", "proxy-fast", 0.8);

  // Memory: one process (the --workers rows are reported on their own), mirroring and comparing apart.
  for (const [comparing, limit, what] of [
    [false, RSS_LIMIT_MB, "proxy case without compare"],
    [true, RSS_LIMIT_COMPARE_MB, "proxy case with compare"],
  ] as const) {
    const runs = results.filter((r) => r.kind === "proxy" && !r.skipped && r.peakRssMb !== undefined && !r.workers && !r.baseline && !!r.compare === comparing);
    const worst = runs.reduce<CaseResult | undefined>((a, r) => (!a || r.peakRssMb! > a.peakRssMb! ? r : a), undefined);
    check(
      `peak RSS < ${limit} MB in every ${what}`,
      worst ? worst.peakRssMb! < limit : undefined,
      worst ? `max ${worst.peakRssMb!.toFixed(1)} MB (${worst.id}) over ${runs.length} case(s)` : "no such case ran",
    );
  }

  const pfr = results.find((r) => r.id === "proxy-fast" && !r.skipped);
  const nfr = results.find((r) => r.id === "nginx-fast" && !r.skipped);
  const pcpu = pfr && cpuPer1k(pfr);
  const ncpu = nfr && cpuPer1k(nfr);
  check(
    "mirror, fast shadow: proxy CPU per request <= 2 x nginx worker's",
    pcpu !== undefined && ncpu ? pcpu <= 2 * ncpu : undefined,
    pcpu !== undefined && ncpu
      ? `${(pcpu / ncpu).toFixed(2)} x (${fmt(pcpu, 0)} vs ${fmt(ncpu, 0)} CPU ms per 1,000 requests)`
      : "needs proxy-fast and nginx-fast with CPU times",
    ["proxy-fast", "nginx-fast"],
  );

  const direct = get("direct");
  check(
    "p50 added over direct < 1 ms without mirroring",
    off && direct ? off.latencyMs.p50 - direct.latencyMs.p50 < 1 : undefined,
    off && direct
      ? `+${(off.latencyMs.p50 - direct.latencyMs.p50).toFixed(2)} ms (${fmt(off.latencyMs.p50, 2)} vs ${fmt(direct.latencyMs.p50, 2)} ms)`
      : "needs proxy-off and direct",
    ["proxy-off", "direct"],
  );

  for (const r of results.filter((x) => x.workers && !x.skipped && x.wrk)) {
    const per = r.rssByProcessMb;
    const w = r.wrk!;
    const perK = cpuPer1k(r);
    out.push({
      name: `(info) --workers ${r.workers}: memory and throughput`,
      status: "INFO",
      measured:
        `peak RSS ${fmt(r.peakRssMb, 1)} MB in all` +
        (per ? ` (primary ${fmt(per.primary, 1)} MB, workers ${per.workers.map((x) => fmt(x, 1)).join(" / ")} MB)` : "") +
        (get("proxy-fast") ? `, ${(w.rps / get("proxy-fast")!.rps).toFixed(2)} x proxy-fast req/s` : "") +
        (perK !== undefined ? `, CPU ${fmt(perK, 0)} ms/1k req` : ""),
    });
  }

  const d1 = get("direct-1c");
  const p1 = get("proxy-off-1c");
  if (d1 && p1) {
    out.push({
      name: "(info) p50 added over direct at 1 connection (unloaded)",
      status: "INFO",
      measured: `+${(p1.latencyMs.p50 - d1.latencyMs.p50).toFixed(2)} ms (${fmt(p1.latencyMs.p50, 2)} vs ${fmt(d1.latencyMs.p50, 2)} ms)`,
    });
  }

  const proxyErrors = results
    .filter((r) => r.kind === "proxy" && r.wrk)
    .map((r) => {
      const se = r.wrk!.socketErrors;
      return { id: r.id, n: r.wrk!.non2xx + se.connect + se.read + se.write + se.timeout };
    });
  const bad = proxyErrors.filter((e) => e.n > 0);
  check(
    "(extra) primary unaffected: no non-2xx or socket errors in any proxy case",
    proxyErrors.length ? bad.length === 0 : undefined,
    proxyErrors.length ? (bad.length ? bad.map((b) => `${b.id}: ${b.n}`).join(", ") : "0 errors") : "no proxy case ran",
  );
  return out;
}

/** One target over the rounds of a --rounds run: its result in each round and the verdict. */
export interface RoundsTarget {
  name: string;
  /** One per round, in round order (SKIP where the round lacked a case). */
  perRound: TargetResult[];
  /** PASS when more than half the rounds that measured it passed (for an odd count: the median ratio meets the bound), FAIL otherwise, SKIP/INFO when no round measured it. */
  status: TargetResult["status"];
}

/**
 * The targets of each round on their own (each ratio from cases run minutes apart in the same
 * round), and a verdict per target by majority of the rounds: on a shared machine one
 * disturbed case turns a single round's ratio either way, interleaved rounds do not.
 */
export function targetsOverRounds(allRounds: CaseResult[], rounds: number): RoundsTarget[] {
  const perRound = Array.from({ length: rounds }, (_, i) => evaluateTargets(allRounds.filter((r) => r.round === i + 1)));
  return perRound[0].map((t, k) => {
    const each = perRound.map((ts) => ts[k]);
    const measured = each.filter((x) => x.status === "PASS" || x.status === "FAIL");
    const status: TargetResult["status"] = measured.length === 0 ? (t.status === "INFO" ? "INFO" : "SKIP") : measured.filter((x) => x.status === "PASS").length * 2 > measured.length ? "PASS" : "FAIL";
    return { name: t.name, perRound: each, status };
  });
}

/** Markdown: target | verdict | round 1 | round 2 ... */
export function renderRoundsTargets(t: RoundsTarget[]): string {
  const n = t[0]?.perRound.length ?? 0;
  const head = `| status | target | ${Array.from({ length: n }, (_, i) => `round ${i + 1}`).join(" | ")} |\n|---|---|${"---|".repeat(n)}`;
  return [head, ...t.map((x) => `| ${x.status} | ${x.name} | ${x.perRound.map((r) => `${r.status} ${r.measured.replace(/\|/g, "/")}`).join(" | ")} |`)].join("\n");
}

export function renderTargets(t: TargetResult[]): string {
  const w = Math.max(...t.map((x) => x.name.length));
  return t.map((x) => `${x.status.padEnd(4)}  ${x.name.padEnd(w)}  ${x.measured}`).join("\n");
}

/** --baseline: every case's twin on the baseline build, run right before or after it in each round. */
export function withBaselineTwins(cases: CaseDef[], ref: string): CaseDef[] {
  return cases.flatMap((c) => (c.kind === "proxy" ? [c, { ...c, id: `${c.id}~base`, baseline: true, label: `${c.label} [baseline ${ref}]` }] : [c]));
}

/** Round r's order: twins swap places every other round, so neither build always runs first. */
export function roundOrder(cases: CaseDef[], round: number): CaseDef[] {
  if (round % 2 === 1) return cases;
  const out = [...cases];
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i + 1].baseline && out[i + 1].id === `${out[i].id}~base`) {
      [out[i], out[i + 1]] = [out[i + 1], out[i]];
      i++;
    }
  }
  return out;
}

export interface AbRow {
  id: string;
  rounds: number;
  /** Medians over the rounds: baseline (A) and this build (B). */
  cpuA?: number;
  cpuB?: number;
  rpsA: number;
  rpsB: number;
  /** CPU per request saved by B: 1 - the median over the rounds of B/A (paired, so the machine's load of each round cancels). */
  cpuGain?: number;
  /** req/s gained by B: the median of B/A over the rounds, - 1. */
  rpsGain: number;
  /** B's CPU per request below A's in every round. */
  cpuBetterEveryRound: boolean;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Pairs every case with its baseline twin round by round; medians and gains. */
export function abSummary(all: CaseResult[]): AbRow[] {
  const rows: AbRow[] = [];
  const ids = [...new Set(all.filter((r) => !r.baseline && r.kind === "proxy").map((r) => r.id))];
  for (const id of ids) {
    const pairs = [...new Set(all.map((r) => r.round ?? 1))]
      .map((round) => [all.find((r) => r.id === `${id}~base` && (r.round ?? 1) === round), all.find((r) => r.id === id && (r.round ?? 1) === round)] as const)
      .filter(([a, b]) => a?.wrk && b?.wrk && !a.skipped && !b.skipped);
    if (pairs.length === 0) continue;
    const cpuA = pairs.map(([a]) => cpuPer1k(a!));
    const cpuB = pairs.map(([, b]) => cpuPer1k(b!));
    const haveCpu = cpuA.every((x) => x !== undefined) && cpuB.every((x) => x !== undefined);
    const rpsA = median(pairs.map(([a]) => a!.wrk!.rps));
    const rpsB = median(pairs.map(([, b]) => b!.wrk!.rps));
    const mA = haveCpu ? median(cpuA as number[]) : undefined;
    const mB = haveCpu ? median(cpuB as number[]) : undefined;
    rows.push({
      id,
      rounds: pairs.length,
      cpuA: mA,
      cpuB: mB,
      rpsA,
      rpsB,
      cpuGain: haveCpu ? 1 - median(pairs.map((_, i) => (cpuB[i] as number) / (cpuA[i] as number))) : undefined,
      rpsGain: median(pairs.map(([a, b]) => b!.wrk!.rps / a!.wrk!.rps)) - 1,
      cpuBetterEveryRound: haveCpu && pairs.every((_, i) => (cpuB[i] as number) < (cpuA[i] as number)),
    });
  }
  return rows;
}

export function renderAb(rows: AbRow[], ref: string): string {
  const pct = (x: number | undefined) => (x === undefined ? "-" : `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)} %`);
  const lines = [
    `| case | rounds | CPU ms/1k req, baseline ${ref} | CPU ms/1k req, this build | CPU saved (paired) | B cheaper every round | req/s, baseline | req/s, this build | req/s gained (paired) |`,
    "|---|---:|---:|---:|---:|---|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(`| ${r.id} | ${r.rounds} | ${fmt(r.cpuA, 0)} | ${fmt(r.cpuB, 0)} | ${pct(r.cpuGain)} | ${r.cpuBetterEveryRound ? "yes" : "no"} | ${fmt(r.rpsA, 0)} | ${fmt(r.rpsB, 0)} | ${pct(r.rpsGain)} |`);
  }
  return lines.join("\n");
}
