// `npm run demo`: the local stack, then the two tutorials replayed against it.
import * as path from "node:path";
import { demoApp, type AppName } from "../../components/apps.ts";
import { appList, StackConfigError } from "../../components/config.ts";
import { curlCommand, curlCommands } from "../../components/ingress.ts";
import { parseDemoArgs, type DemoOptions } from "./cli.ts";
import { COMPARE_NOISE, PROXY_NAME } from "../../components/proxyConfig.ts";
import { formatCompareReport, waitForCompared, type CompareWait } from "./compareReport.ts";
import { verdictEnding } from "./demoVerdict.ts";
import { countSince, linesSince, markLogs, settledCountsSince, type LogMarks } from "./mirrorCounts.ts";
import { isAlive, signalGroup, sleep } from "./processes.ts";
import { progressReporter, type ProgressStream } from "./progress.ts";
import { labelLine, lastLines } from "./requestLog.ts";
import { LocalStackError, startLocalStack, type LocalStack } from "./stack.ts";
import { ownAppNotes, ownAppsRunning, ownAppTour } from "./ownApps.ts";
import { defaultRunDir, defaultStateFile, removeStateFile, stackLiveness } from "./state.ts";
import { formatShare } from "./stats.ts";
import { requestFor, sendRequest, sendRequests } from "./traffic.ts";

export interface DemoIo {
  out: ProgressStream;
  projectDir: string;
  /** Resolves on Ctrl-C (or SIGTERM): the demo then stops everything. */
  interrupted: Promise<string>;
}

const LOG_TAIL = 3;

/** `.tmp/x` relative to where the user stands, absolute when that is shorter. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.length < file.length ? relative : file;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => "  " + row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd());
}

/** Cookie requests the hostname tutorial sends: one, or when compared enough to get past the noise warm-up (minSamples v1/v1 pairs) and compare a few. */
export function hostnameCookieRequests(compare: boolean): number {
  return compare ? COMPARE_NOISE.minSamples + 3 : 1;
}

/** Apps whose v2 answers are compared with v1's. */
function comparedApps(stack: LocalStack): AppName[] {
  return appList(stack.config).filter((app) => app.compare).map((app) => app.name);
}

/** v1's `mirrored=true` lines: the proxy's noise-sampling copies (only compared apps get them). */
function noiseCopies(count: number): string {
  return `${count} noise-sampling ${count === 1 ? "copy" : "copies"} (mirrored=true in v1's logs; not v2 copies)`;
}

/** Said once, the first time such a line shows in v1's log. */
const NOISE_COPY_EXPLAINED =
  "(v1's mirrored=true line is a noise-sampling copy, not a v2 copy: the proxy sent the request to the other v1 pod too, to learn what differs between two v1 answers)";

/**
 * The last lines of an app's v1 and v2 logs, labelled like `npm run logs`;
 * several processes of a version are merged by time, each line tagged with its process.
 */
export function logTails(stack: LocalStack, app: AppName, count = LOG_TAIL): string[] {
  return (["v1", "v2"] as const).flatMap((version) => {
    const lines = lastLines(linesSince(stack, app, version), count);
    return lines.length ? lines.map((line) => labelLine(`${app} ${version}`, line)) : [labelLine(`${app} ${version}`, "(no lines yet)")];
  });
}

export function describeStack(stack: LocalStack): string[] {
  const percents = appList(stack.config).map((app) => `${app.name} ${app.mirrorPercent} %`).join(", ");
  const rows = [["process", "pid", "url", "log"]];
  for (const proc of stack.processes) rows.push([proc.name, String(proc.pid), proc.url, shown(proc.logFile)]);
  const compared = comparedApps(stack);
  return [
    `Local stack "${stack.stack}" from ${stack.configFiles.map((file) => path.basename(file)).join(" + ")}: mirrorPercent ${percents}, mirror cookie ${stack.config.mirrorCookie.name}=${stack.config.mirrorCookie.value}`,
    compared.length
      ? `compare: ${compared.join(", ")} (v2's answers compared with v1's; ${compared.map((app) => `${app} v1 × ${stack.services(app, "v1").length}`).join(", ")}, so noise is learned between two v1 pods)`
      : "compare: off",
    `Routing: ${shown(stack.routingFile)} (the proxy-mode ConfigMap's routing, rendered by renderMirrorProxyYaml)`,
    ...ownAppNotes(stack),
    "",
    ...table(rows),
    `  ${PROXY_NAME} admin: ${stack.adminUrl}/metrics`,
    "",
    `ingressUrl: ${stack.url}`,
    "curl commands:",
    ...table(
      appList(stack.config).flatMap((app) =>
        Object.entries(curlCommands(stack.url, app)).map(([key, command]) => [key === app.name ? key : `${app.name} (mirrored)`, command]),
      ),
    ),
  ];
}

/** Waits until the proxy has compared (or skipped) `count` copies of an app; nothing when the app is not compared. */
async function comparedSoFar(stack: LocalStack, app: AppName, count: number): Promise<CompareWait | undefined> {
  if (!stack.config.apps[app].compare) return undefined;
  return waitForCompared(stack.adminUrl, { [app]: count }, { deadlineMs: 5000 });
}

/** Tutorial 1; returns the copies v2 received (for the comparison report). */
async function hostnameTutorial(stack: LocalStack, say: (line?: string) => void): Promise<number> {
  const app = demoApp("hostname");
  const settings = stack.config.apps.hostname;
  const cookie = `${stack.config.mirrorCookie.name}=${stack.config.mirrorCookie.value}`;
  const settle = (marks: LogMarks, primaries: number) => settledCountsSince(stack, app.name, marks, primaries, 5000);
  say(`── Tutorial 1: ${app.name}, mirrored to v2 only with the cookie ${cookie} ──`);
  let cookieMarks: LogMarks | undefined;
  let copies = 0;
  for (const withCookie of [false, true]) {
    const marks = markLogs(stack, app.name);
    if (withCookie) cookieMarks = marks;
    say(`$ ${curlCommand(stack.url, app, settings, withCookie ? cookie : undefined)}`);
    const result = await sendRequest(requestFor(stack.url, app, settings, { cookie: withCookie ? cookie : undefined }), undefined, true);
    say(result.status !== undefined ? (result.body ?? "").trimEnd() || `(HTTP ${result.status}, empty body)` : `request failed: ${result.error}`);
    const counts = await settle(marks, 1);
    if (withCookie) {
      copies = counts.v2;
      await comparedSoFar(stack, app.name, copies);
    }
    say();
    for (const line of logTails(stack, app.name)) say(line);
    if (counts.v1Noise > 0) say(NOISE_COPY_EXPLAINED);
    say();
  }
  const total = hostnameCookieRequests(settings.compare);
  if (total > 1 && cookieMarks) {
    const more = total - 1;
    say(
      `hostname is compared: the proxy first learns what differs between two v1 pods (warm-up: ${COMPARE_NOISE.minSamples} v1/v1 pairs, not compared), ` +
        `so ${more} more cookie requests, one at a time:`,
    );
    say(`$ for i in $(seq ${more}); do ${curlCommand(stack.url, app, settings, cookie)} > /dev/null; done`);
    const spec = requestFor(stack.url, app, settings, { cookie });
    const failures: string[] = [];
    for (let sent = 2; sent <= total; sent++) {
      const result = await sendRequest(spec);
      if (result.status !== 200) failures.push(String(result.error ?? result.status));
      // Each one compared (or skipped) before the next, so the warm-up ends where it should.
      const copiesSoFar = countSince(stack, app.name, cookieMarks).v2;
      await comparedSoFar(stack, app.name, Math.min(copiesSoFar, sent));
    }
    if (failures.length) say(`${failures.length} of ${more} requests did not get HTTP 200: ${[...new Set(failures)].join(", ")}`);
    const counts = await settle(cookieMarks, total - failures.length);
    copies = counts.v2;
    say(
      `${app.name}: ${total} cookie requests → v1 served ${counts.v1}, v2 received ${counts.v2} mirrored copies` +
        (counts.v1Noise > 0 ? `; v1 also received ${noiseCopies(counts.v1Noise)}` : "") +
        (counts.settled ? "" : " — still changing when the deadline passed"),
    );
    say();
  }
  return copies;
}

/** Tutorial 2; returns the copies v2 received (for the comparison report). */
async function moviesTutorial(stack: LocalStack, requests: number, out: ProgressStream, say: (line?: string) => void): Promise<number> {
  const app = demoApp("movies");
  const settings = stack.config.apps.movies;
  say(`── Tutorial 2: ${app.name}, each request copied to v2 with probability mirrorPercent = ${settings.mirrorPercent} % ──`);
  say(`$ for i in $(seq ${requests}); do ${curlCommand(stack.url, app, settings)} > /dev/null; done`);
  const marks = markLogs(stack, app.name);
  const progress = progressReporter(`${app.name}`, requests, out);
  const results = await sendRequests(requestFor(stack.url, app, settings), requests, 1, (done) => progress.tick(done));
  progress.finish();
  const failed = results.filter((result) => result.status !== 200);
  if (failed.length) say(`${failed.length} of ${requests} requests did not get HTTP 200: ${[...new Set(failed.map((r) => r.error ?? r.status))].join(", ")}`);
  const counts = await settledCountsSince(stack, app.name, marks, requests - failed.length, 10_000);
  for (const line of logTails(stack, app.name)) say(line);
  say();
  say(
    `${app.name}: ${requests} requests → v1 served ${counts.v1}, v2 received ${counts.v2} mirrored copies ` +
      `(${formatShare(counts.v2, counts.v1)}; mirrorPercent ${settings.mirrorPercent})` +
      (counts.settled ? "" : " — still changing when the deadline passed"),
  );
  if (counts.v1Noise > 0) say(`${app.name}: v1 also received ${noiseCopies(counts.v1Noise)}, counted in neither figure`);
  return counts.v2;
}

/** The closing block: the proxy's /compare, once every mirrored copy has been compared or skipped. */
async function comparisonReport(stack: LocalStack, copies: Record<AppName, number>, say: (line?: string) => void): Promise<void> {
  const compared = comparedApps(stack);
  say(`── Comparison of v2 with v1: the mirror proxy's admin ${stack.adminUrl}/compare ──`);
  try {
    const wait = await waitForCompared(stack.adminUrl, Object.fromEntries(compared.map((app) => [app, copies[app]])), { deadlineMs: 10_000 });
    const lines = formatCompareReport(wait.report, {
      compared,
      v1Pods: (app) => stack.services(app, "v1").map((proc) => proc.pod ?? proc.name),
      adminUrl: stack.adminUrl,
      settled: wait.settled,
    });
    for (const line of lines) say(line);
  } catch (error) {
    say(`could not read ${stack.adminUrl}/compare: ${(error as Error).message}`);
  }
}

/** Stops a stack a previous demo left behind (its demo process died without cleaning up). */
async function clearStaleStack(stateFile: string, say: (line: string) => void): Promise<void> {
  const liveness = stackLiveness(stateFile);
  if (liveness.kind === "running") {
    throw new LocalStackError(
      `a local stack is already running at ${liveness.state.url} (npm run demo, pid ${liveness.state.pid}); stop it with Ctrl-C there first`,
    );
  }
  if (liveness.kind === "stale") {
    for (const proc of liveness.leftovers) {
      say(`stopping ${proc.name} (pid ${proc.pid}) left behind by an earlier npm run demo`);
      signalGroup(proc.pid, "SIGKILL");
    }
    for (let tries = 0; tries < 100 && liveness.leftovers.some((proc) => isAlive(proc.pid)); tries++) await sleep(20);
    removeStateFile(stateFile);
  }
}

export async function runDemo(options: DemoOptions, io: DemoIo): Promise<number> {
  const say = (line = "") => void io.out.write(line + "\n");
  const stateFile = defaultStateFile(io.projectDir);
  await clearStaleStack(stateFile, say);
  let stack: LocalStack | undefined;
  let interruptedBy: string | undefined;
  void io.interrupted.then((signal) => (interruptedBy = signal));
  try {
    stack = await startLocalStack({
      projectDir: io.projectDir,
      stack: options.stack,
      overrides: options.set,
      runDir: defaultRunDir(io.projectDir),
      stateFile,
      listenPort: options.port,
      onProgress: say,
    });
    say();
    for (const line of describeStack(stack)) say(line);
    say();
    const replay = (async () => {
      const hostname = await hostnameTutorial(stack, say);
      const movies = await moviesTutorial(stack, options.requests, io.out, say);
      for (const app of ownAppsRunning(stack)) {
        say();
        await ownAppTour(stack, app, say);
      }
      say();
      await comparisonReport(stack, { hostname, movies }, say);
      say();
      await verdictEnding(stack, io.projectDir, io.out, say);
      return "done";
    })();
    const first = interruptedBy ?? (await Promise.race([replay, io.interrupted]));
    if (first === "done" && !options.once) {
      say();
      say(`The local stack is up at ${stack.url}. Try the curl commands above, or:`);
      say("  npm run traffic -- --app movies --count 200");
      say("  npm run logs -- movies --follow");
      say("Ctrl-C stops everything.");
      await io.interrupted;
    }
    if (first !== "done" || !options.once) say(`\n${interruptedBy ?? "interrupted"}: stopping the local stack`);
    return 0;
  } finally {
    if (stack) {
      const results = await stack.stop();
      const forced = results.filter((result) => result.killed).map((result) => result.name);
      say(
        `Stopped ${results.length} processes` +
          (forced.length ? ` (${forced.join(", ")} needed SIGKILL)` : ", all exited on SIGTERM") +
          "; none left running" + // stop() waited for every exit
          `. Logs kept in ${shown(path.join(stack.runDir, "logs"))}/`,
      );
    }
  }
}

/** The CLI: signals, errors as clear messages and exit codes (bad flags: support/entry.ts). */
export async function main(args: string[], projectDir: string): Promise<number> {
  const options = parseDemoArgs(args, (text) => process.stdout.write(text));
  let signals = 0;
  const interrupted = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      // A second Ctrl-C means now: the exit handler SIGKILLs what is left.
      if (signals > 1) process.exit(130);
      resolve(signal);
    };
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);
  });
  try {
    return await runDemo(options, { out: process.stdout, projectDir, interrupted });
  } catch (error) {
    if (error instanceof StackConfigError || error instanceof LocalStackError) {
      process.stderr.write(`npm run demo: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
