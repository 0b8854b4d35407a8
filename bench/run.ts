// npm run bench: the mirror proxy against direct access and nginx's `mirror`,
// side by side, one run, one load generator (wrk). See issue 3, part 7.
//
//   npm run bench -- [--duration 10] [--warmup 2] [--connections 50]
//                    [--only direct,proxy,nginx-fast] [--out bench/results]
import { fork, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Command, Option } from "commander";
import { profileFiles, sharesOfFiles } from "./profile-shares.ts";
import { NGINX_BIN, mirrorMetricLines, nodeFlagsFromDockerfile, proxyConfigYaml } from "./configs.ts";
import { canConnect, childPids, cpuMeter, freePort, installCleanup, processCpu, sampleRss, stopAll, ticksPerSecond, track } from "./procs.ts";
import { PROXY_ENTRY_TS, buildProxyJs, nginxMissingReason, runWrk, startNginx, startProxy, writeWrkLua, type RunningProxy } from "./servers.ts";
import {
  abSummary,
  buildRows,
  cpuPer1k,
  renderAb,
  roundOrder,
  withBaselineTwins,
  evaluateTargets,
  renderRoundsTargets,
  targetsOverRounds,
  renderMarkdown,
  renderTargets,
  renderText,
  selectCases,
  type CaseDef,
  type CaseResult,
} from "./report.ts";

const BENCH_DIR = path.dirname(path.resolve(process.argv[1]));

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  threads: number;
  only?: string;
  out: string;
  proxyBuild: "js" | "ts";
  proxyEntry?: string;
  proxyNodeArgs?: string;
  quietWait: number;
  rounds: number;
  profile?: string;
  workers: number[];
  baseline?: string;
}

function positive(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
    return n;
  };
}

function workerList(v: string): number[] {
  return v.split(",").map((w) => {
    const n = Number(w.trim());
    if (!Number.isInteger(n) || n < 2 || n > 64) throw new Error(`--workers: each count must be a whole number 2-64, got "${w}"`);
    return n;
  });
}

function parseOptions(): Options {
  const program = new Command()
    .name("bench")
    .description("Benchmark the mirror proxy against direct access and nginx's mirror directive (wrk, 127.0.0.1 only).")
    .option("--duration <seconds>", "measured seconds per case", positive("--duration"), 10)
    .option("--warmup <seconds>", "warm-up seconds per case (not counted)", positive("--warmup"), 2)
    .option("--connections <n>", "wrk connections", positive("--connections"), 50)
    .option("--threads <n>", "wrk threads", positive("--threads"), 2)
    .option("--quiet-wait <seconds>", "before each case, wait up to this long for other processes to use < 20% CPU", Number, 0)
    .option("--rounds <n>", "run every case n times, interleaved, and keep the round least disturbed by other processes", positive("--rounds"), 1)
    .option("--only <cases>", "comma list of case ids, kinds (direct, proxy, nginx) or shadows (off, fast, slow, closed)")
    .option("--out <dir>", "where the markdown table and raw JSON go", path.join(BENCH_DIR, "results"))
    .addOption(
      new Option("--proxy-build <how>", "run the proxy from JavaScript emitted by tsc (as in its image) or from its .ts sources")
        .choices(["js", "ts"])
        .default("js"),
    )
    .option("--proxy-entry <file>", "run this proxy entry point instead (overrides --proxy-build)")
    .option("--workers <list>", "also run the proxy with --workers N (node:cluster), mirroring to the fast shadow, for each N of a comma list (e.g. 2,4)", workerList, [])
    .option("--baseline <git-ref>", "A/B: also run every proxy case on the proxy of this git ref (compiled alike), alternating with this tree's in each round; prints medians and gains (use with --rounds)")
    .option("--profile <dir>", "write a V8 CPU profile of the proxy per case (node --cpu-prof) into dir, and print its CPU shares by part")
    .option("--proxy-node-args <args>", "node flags for the proxy process, space-separated (default: those of the CMD in workloads/mirror-proxy/Dockerfile)")
    .parse();
  return program.opts<Options>();
}

// ---------------------------------------------------------------- upstreams

interface Upstream {
  child: ChildProcess;
  ports: Record<string, number>;
  counts(): Promise<Record<string, number>>;
}

async function startUpstream(role: "primary" | "shadows"): Promise<Upstream> {
  const child = track(
    fork(path.join(BENCH_DIR, "upstreams.ts"), [role], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] }),
  );
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`upstreams ${role}: not ready after 10 s`)), 10_000);
    child.once("exit", (code) => reject(new Error(`upstreams ${role} exited (${code})`)));
    child.on("message", (m: { type?: string; ports?: Record<string, number> }) => {
      if (m.type === "ready" && m.ports) {
        clearTimeout(t);
        resolve(m.ports);
      }
    });
  });
  return {
    child,
    ports,
    counts: () =>
      new Promise((resolve) => {
        const on = (m: { type?: string; counts?: Record<string, number> }) => {
          if (m.type === "counts" && m.counts) {
            child.off("message", on);
            resolve(m.counts);
          }
        };
        child.on("message", on);
        child.send({ type: "counts" });
      }),
  };
}

// --------------------------------------------------------------------- misc

function versionOf(cmd: string, args: string[]): string {
  // nginx -v and wrk -v print to stderr (wrk -v also exits 1).
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n")[0].replace(/ Copyright.*/, "").trim() || "unknown";
}

/** The workloads/ tree of a git ref, extracted into dir (for a baseline build); returns dir. */
function exportTree(ref: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const archive = spawnSync("git", ["archive", "--format=tar", ref, "workloads"], { maxBuffer: 256 * 1024 * 1024 });
  if (archive.status !== 0) throw new Error(`--baseline ${ref}: git archive failed: ${archive.stderr.toString()}`);
  const tar = spawnSync("tar", ["-x", "-C", dir], { input: archive.stdout });
  if (tar.status !== 0) throw new Error(`--baseline ${ref}: tar failed: ${tar.stderr.toString()}`);
  return dir;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}


// --------------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = parseOptions();
  const selected = selectCases(opts.only, opts.workers);
  const cases = opts.baseline ? withBaselineTwins(selected, opts.baseline) : selected;
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mirror-bench-"));
  installCleanup(async () => {
    await stopAll(2000);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const luaPath = writeWrkLua(tmp);

  const cpus = os.cpus().length;
  const nginxMissing = nginxMissingReason();
  const machine = {
    cpus,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    node: process.version,
    wrk: versionOf("wrk", ["-v"]),
    nginx: nginxMissing ? "absent" : versionOf(NGINX_BIN, ["-v"]),
    loadAvgAtStart: os.loadavg()[0],
  };
  const estimate = opts.rounds * cases.reduce(
    (t, c) => t + (c.probe ? Math.min(opts.warmup, 1) + Math.min(opts.duration, 3) : opts.warmup + opts.duration) + 1.5,
    0,
  );
  console.log(
    `mirror-proxy benchmark: ${opts.rounds > 1 ? `${opts.rounds} rounds of ` : ""}${cases.length} case(s) x (${opts.warmup} s warm-up + ${opts.duration} s) (probes: 1 connection, <= 3 s), about ${Math.ceil(estimate)} s\n` +
      `wrk ${opts.threads} threads, ${opts.connections} connections, 127.0.0.1 only. ${machine.node}, ${machine.nginx}, ${machine.wrk}\n` +
      `NOTE: wrk, the upstreams (2 Node processes) and the server under test share this machine's ${cpus} core(s), nothing pinned;\n` +
      `      ratios within one run are the figures to read, absolute req/s are machine- and load-dependent (load avg ${machine.loadAvgAtStart.toFixed(2)}).`,
  );

  const idle = cpuMeter();
  await sleep(1000);
  const before = idle.stop();
  if (before.otherPct > 10) {
    console.log(
      `WARNING: other processes already use ${before.otherPct.toFixed(0)}% of the machine's CPU: figures will be noisy ` +
        `(column "other CPU %" shows it per case).`,
    );
  }
  const [primary, shadows] = await Promise.all([startUpstream("primary"), startUpstream("shadows")]);
  const P = primary.ports.primary;
  const shadowPort = { off: null, fast: shadows.ports.fastShadow, slow: shadows.ports.slowShadow, closed: shadows.ports.closed };
  const shadowCountKey = { off: "", fast: "fastShadow", slow: "slowShadow", closed: "" };
  console.log(
    `upstreams: primary :${P}, fast shadow :${shadowPort.fast}, 200 ms shadow :${shadowPort.slow}, closed port :${shadowPort.closed}\n`,
  );

  let proxyEntry = opts.proxyEntry ?? PROXY_ENTRY_TS;
  const dockerfile = path.join("workloads", "mirror-proxy", "Dockerfile");
  const proxyNodeArgs =
    opts.proxyNodeArgs !== undefined
      ? opts.proxyNodeArgs.split(/\s+/).filter(Boolean)
      : fs.existsSync(dockerfile)
        ? nodeFlagsFromDockerfile(fs.readFileSync(dockerfile, "utf8"))
        : [];
  let proxyMissing = fs.existsSync(proxyEntry) ? null : `${proxyEntry} does not exist (yet)`;
  if (!proxyMissing && !opts.proxyEntry && opts.proxyBuild === "js" && cases.some((c) => c.kind === "proxy")) {
    try {
      const built = buildProxyJs(tmp);
      proxyEntry = built.entry;
      console.log(`proxy: compiled with tsc (workloads/tsconfig.build.json) -> ${proxyEntry}`);
      console.log(`proxy: node flags ${proxyNodeArgs.join(" ") || "(none)"}${opts.proxyNodeArgs === undefined ? " (from its Dockerfile CMD)" : ""}`);
      if (built.warnings) console.log(`proxy: tsc reported (JS emitted anyway):\n${built.warnings}`);
    } catch (e) {
      proxyMissing = `could not compile: ${(e as Error).message.split("\n")[0]}`;
    }
  } else if (!proxyMissing && cases.some((c) => c.kind === "proxy")) {
    console.log(`proxy: ${proxyEntry}`);
  }
  let baselineEntry: string | undefined;
  if (opts.baseline && !proxyMissing) {
    baselineEntry = buildProxyJs(path.join(tmp, "baseline"), exportTree(opts.baseline, path.join(tmp, "baseline-src"))).entry;
    console.log(`baseline: the proxy of ${opts.baseline} (git archive), compiled alike -> ${baselineEntry}`);
  }

  // With --rounds N every case runs N times, interleaved (round 1 of every
  // case, then round 2...), and the round least disturbed by other processes
  // is kept: a cheap defence on a shared machine.
  const best = new Map<string, CaseResult>();
  // --profile: the profiles this run wrote (a case's file is named after it, and its round with --rounds).
  const profiled = new Set<string>();
  if (opts.profile) fs.mkdirSync(opts.profile, { recursive: true });
  const allRounds: CaseResult[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const [i, c] of roundOrder(cases, round).entries()) {
      const head = `[${opts.rounds > 1 ? `round ${round}/${opts.rounds} ` : ""}${i + 1}/${cases.length}] ${c.id.padEnd(12)} ${c.label}`;
      const skip = c.kind === "nginx" ? nginxMissing : c.kind === "proxy" ? proxyMissing : null;
      if (skip) {
        if (round === 1) console.log(`${head}: SKIPPED (${skip})`);
        best.set(c.id, { ...c, skipped: skip });
        continue;
      }
      if (opts.quietWait > 0) await waitQuiet(opts.quietWait);
      const t0 = Date.now();
      process.stdout.write(`${head}: starting... `);
      let r: CaseResult;
      try {
        let nodeArgs = proxyNodeArgs;
        if (opts.profile && c.kind === "proxy") {
          const name = `${c.id}${opts.rounds > 1 ? `-r${round}` : ""}.cpuprofile`;
          nodeArgs = [...proxyNodeArgs, "--cpu-prof", `--cpu-prof-dir=${path.resolve(opts.profile)}`, `--cpu-prof-name=${name}`];
          profiled.add(path.join(opts.profile, name));
        }
        r = await runCase(c, { opts, proxyEntry: c.baseline ? baselineEntry! : proxyEntry, proxyNodeArgs: nodeArgs, tmp, luaPath, P, shadowPort: shadowPort[c.shadow], shadowKey: shadowCountKey[c.shadow], primary, shadows });
        const w = r.wrk!;
        const perK = cpuPer1k(r);
        console.log(
          `${Math.round(w.rps).toLocaleString("en-US")} req/s, p50 ${w.latencyMs.p50.toFixed(2)} ms, p99 ${w.latencyMs.p99.toFixed(2)} ms` +
            (perK !== undefined ? `, CPU ${perK.toFixed(0)} ms/1k req` : "") +
            (w.non2xx ? `, ${w.non2xx} non-2xx` : "") +
            (r.peakRssMb !== undefined ? `, peak RSS ${r.peakRssMb.toFixed(1)} MB` : "") +
            (r.cpu && r.cpu.otherPct > 10 ? `, other processes used ${r.cpu.otherPct.toFixed(0)}% CPU` : "") +
            ` (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
        );
      } catch (e) {
        const msg = (e as Error).message;
        console.log(`FAILED: ${msg}`);
        r = { ...c, skipped: `failed: ${msg.split("\n")[0]}` };
      }
      if (opts.rounds > 1) r.round = round;
      allRounds.push(r);
      const prev = best.get(c.id);
      if (!prev || prev.skipped || (!r.skipped && (r.cpu?.otherPct ?? 0) < (prev.cpu?.otherPct ?? 0))) best.set(c.id, r);
      await sleep(500);
    }
  }
  const results = cases.map((c) => best.get(c.id)!);

  await stopAll(3000);
  const proxyDesc =
    (opts.proxyEntry ??
      (opts.proxyBuild === "js"
        ? `${PROXY_ENTRY_TS} compiled by tsc (workloads/tsconfig.build.json, CommonJS, as in its image)`
        : `${PROXY_ENTRY_TS} (Node type stripping)`)) +
    `, NODE_ENV=production${proxyNodeArgs.length ? `, node ${proxyNodeArgs.join(" ")}` : ""}`;

  const rows = buildRows(results);
  const targets = evaluateTargets(results);
  const text = renderText(rows);
  const md = renderMarkdown(rows);
  console.log(`\n${text}\n`);
  console.log("Targets (issue 14):");
  console.log(renderTargets(targets));
  // --rounds N: the targets of each round, and a verdict per target by majority of the rounds.
  let roundsDoc = "";
  const overRounds = opts.rounds > 1 ? targetsOverRounds(allRounds.filter((r) => !r.skipped), opts.rounds) : undefined;
  if (overRounds) {
    const table = renderRoundsTargets(overRounds);
    console.log(`\nTargets over the ${opts.rounds} rounds (verdict: the majority of the rounds that measured it):\n${table}`);
    roundsDoc = `\n\n## Targets over the ${opts.rounds} rounds\n\nEach round's targets from that round's cases alone; the verdict is the majority of the rounds that measured it (with an odd count: whether the median ratio meets the bound). The table above and "Targets" keep, per case, the round least disturbed by other processes.\n\n${table}`;
  }
  let abDoc = "";
  if (opts.baseline) {
    const table = renderAb(abSummary(allRounds), opts.baseline);
    console.log(`\nA/B against ${opts.baseline} (medians over the rounds; the twins alternate which runs first):\n${table}`);
    abDoc = `\n\n## A/B against \`${opts.baseline}\`\n\nEach proxy case ran on both builds in every round, one right after the other (which first alternates); medians over the rounds.\n\n${table}`;
  }
  let profileDoc = "";
  if (opts.profile) {
    const files = profileFiles([opts.profile]).filter((f) => profiled.has(f));
    if (files.length) {
      const table = sharesOfFiles(files);
      console.log(`\nProxy CPU by part (node --cpu-prof, self time; profiles in ${opts.profile}):\n${table}`);
      profileDoc = `\n\n## Proxy CPU by part\n\nSelf time of each sample, attributed to the first frame from the leaf up that belongs to a part (bench/profile.ts); profiles in \`${opts.profile}\`. The profiler's overhead is in the CPU column of these cases.\n\n${table}`;
    } else console.log(`\n--profile: no profile was written into ${opts.profile}`);
  }
  const metricsNotes = results.filter((r) => r.mirrorMetrics?.length);
  if (metricsNotes.length) {
    console.log("\nProxy mirror metrics at the end of each case (non-zero):");
    for (const r of metricsNotes) console.log(`  ${r.id}:\n    ${r.mirrorMetrics!.join("\n    ")}`);
  }
  const notes = [
    `req/s counts responses with status < 400 only (wrk counts >= 400 as errors; the upstreams only answer 200).`,
    `copies/req = requests received by the shadow / requests received by the primary during the measured run.`,
    `CPU ms/1k req: user + system time (/proc/<pid>/stat, ${1000 / ticksPerSecond()} ms ticks) of the server under test during the measured run per 1,000 responses; ` +
      `proxy: its process (and cluster workers); nginx: its worker only (the master does no per-request work). "CPU x nginx" = proxy / nginx in the same shadow case.`,
    `peak RSS: the proxy process (max of VmHWM and VmRSS sampled every 100 ms, fresh process per case); nginx: master + worker, sampled.`,
    `wrk, upstreams and the server under test share ${cpus} core(s); nothing pinned. ` +
      `"other CPU %" = CPU used during the measured run by processes the benchmark did not start (% of all cores): noise.`,
  ];

  fs.mkdirSync(opts.out, { recursive: true });
  const base = path.join(opts.out, `bench-${stamp(startedAt)}`);
  const mdDoc =
    `# mirror-proxy benchmark, ${startedAt.toISOString()}\n\n` +
    `${machine.cpus} x ${machine.cpuModel}; ${machine.node}; ${machine.nginx}; ${machine.wrk}; ` +
    `wrk ${opts.threads} threads, ${opts.connections} connections, ${opts.warmup} s warm-up + ${opts.duration} s per case ` +
    `(\`-1c\` rows: 1 connection, 1 thread, <= 3 s). Proxy: ${proxyDesc}.\n\n` +
    `${md}\n\n## Targets\n\n| status | target | measured |\n|---|---|---|\n` +
    targets.map((t) => `| ${t.status} | ${t.name} | ${t.measured} |`).join("\n") +
    roundsDoc +
    abDoc +
    profileDoc +
    `\n\n## Notes\n\n${notes.map((n) => `- ${n}`).join("\n")}\n`;
  const json = JSON.stringify({ startedAt, machine, options: opts, proxy: proxyDesc, results, allRounds: opts.rounds > 1 ? allRounds : undefined, rows, targets, targetsOverRounds: overRounds, notes }, null, 2);
  for (const [file, body] of [
    [`${base}.md`, mdDoc],
    [`${base}.json`, json],
    [path.join(opts.out, "latest.md"), mdDoc],
    [path.join(opts.out, "latest.json"), json],
  ]) {
    fs.writeFileSync(file, body);
  }
  console.log(`\n${notes.map((n) => `note: ${n}`).join("\n")}`);
  console.log(`\nwrote ${base}.md and ${base}.json (also latest.md / latest.json)`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** Waits (bounded) until processes outside the benchmark use < 20% of the CPU. */
async function waitQuiet(maxS: number): Promise<void> {
  const end = Date.now() + maxS * 1000;
  let warned = false;
  for (;;) {
    const m = cpuMeter();
    await sleep(1000);
    const other = m.stop().otherPct;
    if (other < 20) return;
    if (Date.now() >= end) {
      console.log(`  (other processes still use ${other.toFixed(0)}% CPU after ${maxS} s: going on)`);
      return;
    }
    if (!warned) {
      process.stdout.write(`  (waiting for other processes to calm down: ${other.toFixed(0)}% CPU)\n`);
      warned = true;
    }
  }
}

interface CaseEnv {
  opts: Options;
  proxyEntry: string;
  proxyNodeArgs: string[];
  tmp: string;
  luaPath: string;
  P: number;
  shadowPort: number | null;
  shadowKey: string;
  primary: Upstream;
  shadows: Upstream;
}

async function runCase(c: CaseDef, env: CaseEnv): Promise<CaseResult> {
  const { opts } = env;
  if (c.shadow === "closed" && env.shadowPort !== null && (await canConnect(env.shadowPort))) {
    throw new Error(`the "closed" port ${env.shadowPort} accepts connections now (taken by another process)`);
  }
  let url: string;
  let pid: number | undefined;
  let tree = false;
  let stop = async () => {};
  let proxy: RunningProxy | undefined;
  const dir = path.join(env.tmp, c.id);
  fs.mkdirSync(dir, { recursive: true });

  if (c.kind === "direct") {
    url = `http://127.0.0.1:${env.P}/`;
  } else if (c.kind === "nginx") {
    const nginx = await startNginx({ dir, listenPort: await freePort(), primaryPort: env.P, shadowPort: env.shadowPort });
    url = `http://127.0.0.1:${nginx.port}/`;
    pid = nginx.child.pid;
    tree = true;
    stop = nginx.stop;
  } else {
    const configFile = path.join(dir, "mirror-proxy.yaml");
    fs.writeFileSync(configFile, proxyConfigYaml({ primaryPort: env.P, shadowPort: env.shadowPort, compare: c.compare }));
    proxy = await startProxy({ entry: env.proxyEntry, configFile, nodeArgs: env.proxyNodeArgs, args: c.workers ? ["--workers", String(c.workers)] : [] });
    url = `http://127.0.0.1:${proxy.port}/`;
    pid = proxy.child.pid;
    tree = c.workers !== undefined; // the primary and its workers
    stop = proxy.stop;
  }

  const rss = pid !== undefined ? sampleRss(pid, tree) : undefined;
  try {
    const loadAvg1 = os.loadavg()[0];
    process.stdout.write(`warm-up... `);
    const load = c.probe
      ? { connections: 1, threads: 1, warmup: Math.min(opts.warmup, 1), duration: Math.min(opts.duration, 3) }
      : { connections: opts.connections, threads: opts.threads, warmup: opts.warmup, duration: opts.duration };
    await runWrk({ url, connections: load.connections, threads: load.threads, durationS: load.warmup, luaPath: env.luaPath });
    // Let the 200 ms shadow's in-flight copies of the warm-up settle.
    await sleep(300);
    const before = { ...(await env.primary.counts()), ...(await env.shadows.counts()) };
    process.stdout.write(`measuring... `);
    const meter = cpuMeter();
    // nginx: its worker(s) only; the proxy: its process and any cluster workers.
    const serverCpu = pid === undefined ? undefined : processCpu(() => (tree ? childPids(pid!) : [pid!, ...childPids(pid!)]));
    const w = await runWrk({
      url,
      connections: load.connections,
      threads: load.threads,
      durationS: load.duration,
      luaPath: env.luaPath,
    });
    const cpu = meter.stop();
    const server = serverCpu?.stop();
    const after = { ...(await env.primary.counts()), ...(await env.shadows.counts()) };
    const peak = rss?.stop();
    const mb = (kb: number | undefined) => (kb ?? 0) / 1024;
    const rssByProcessMb =
      c.workers && peak && pid !== undefined
        ? { primary: mb(peak.byPidKb.get(pid)), workers: [...peak.byPidKb].filter(([p]) => p !== pid).map(([, kb]) => mb(kb)) }
        : undefined;
    let mirrorMetrics: string[] | undefined;
    if (proxy) {
      try {
        mirrorMetrics = mirrorMetricLines(await proxy.metrics());
      } catch (e) {
        mirrorMetrics = [`(could not read /metrics: ${(e as Error).message})`];
      }
    }
    const { stdout, ...wrk } = w;
    return {
      ...c,
      wrk,
      wrkRaw: stdout,
      loadAvg1,
      cpu,
      serverCpuMs: server?.ms,
      serverCpuPids: server?.pids,
      peakRssMb: peak ? Math.max(peak.peakSampledKb, tree ? 0 : peak.hwmKb) / 1024 : undefined,
      rssByProcessMb,
      received: {
        primary: after.primary - before.primary,
        shadow: env.shadowKey ? after[env.shadowKey] - before[env.shadowKey] : 0,
      },
      mirrorMetrics,
    };
  } finally {
    rss?.stop();
    await stop();
  }
}

main().catch(async (e) => {
  console.error(e instanceof Error ? e.message : e);
  await stopAll(2000);
  process.exit(1);
});
