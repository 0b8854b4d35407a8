// The demo's ending (issue 11): enough traffic for a confident verdict, the
// verdict of each compared app (`npm run verdict` against the local stack's
// proxy), and the dashboard's URL.
import { DEMO_APPS, type AppName } from "../../components/apps.ts";
import { curlCommand } from "../../components/ingress.ts";
import type { VerdictThresholds } from "../../components/verdictThresholds.ts";
import { wilson, type CompareStats } from "../../workloads/mirror-proxy/src/compare/stats.ts";
import { sleep } from "./processes.ts";
import { progressReporter, type ProgressStream } from "./progress.ts";
import type { LocalStack } from "./stack.ts";
import { requestFor, sendRequests } from "./traffic.ts";
import { formatVerdict, runVerdict } from "./verdict.ts";
import { fetchStats } from "./verdictSources.ts";

// One at a time, so the latency delta measures v2 and not a queue in front of it (v2 runs one process, v1 two).
const CONCURRENCY = 1;

/**
 * Requests per app after which a v2 that answers exactly like v1 can be promoted: the
 * Wilson upper bound of 0 differences in n is at most maxDiff, n ≥ minCompared, plus 10 %
 * for the copies not compared (noise warm-up), rounded up to 10.
 */
export function requestsForVerdict(t: VerdictThresholds): number {
  let n = Math.max(1, t.minCompared);
  while (wilson(0, n)[1] > t.maxDiff && n < 1_000_000) n++;
  return Math.ceil((n * 1.1) / 10) * 10;
}

/** Polls `/compare/stats` until every copy sampled for comparison has been compared or skipped. */
async function settled(adminUrl: string, deadlineMs: number): Promise<CompareStats> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const stats = await fetchStats(adminUrl);
    const done = Object.values(stats.routes).every((r) => r.compared + Object.values(r.skipped).reduce((a, b) => a + b, 0) === r.mirrored);
    if (done || Date.now() > deadline) return stats;
    await sleep(50);
  }
}

export async function verdictEnding(stack: LocalStack, projectDir: string, out: ProgressStream, say: (line?: string) => void): Promise<void> {
  const compared = DEMO_APPS.filter((app) => stack.config.apps[app.name].compare);
  say(`── Verdict: is v2 ready to be promoted? (npm run verdict) ──`);
  if (compared.length === 0) {
    say("No app is compared (compare: false), so there is nothing to decide.");
    return;
  }
  const t = stack.config.verdict;
  const count = requestsForVerdict(t);
  say(
    `A verdict needs at least --min-compared ${t.minCompared} compared answers, and for "promote" a 95 % interval of the difference rate under --max-diff ${t.maxDiff * 100} % ` +
      `(0 differences in 100 answers still allow 3.7 %): ${count} more requests per compared app, ${CONCURRENCY} at a time:`,
  );
  const cookie = `${stack.config.mirrorCookie.name}=${stack.config.mirrorCookie.value}`;
  for (const app of compared) {
    const settings = stack.config.apps[app.name];
    const withCookie = app.mirror.match?.cookie ? cookie : undefined;
    say(`$ for i in $(seq ${count}); do ${curlCommand(stack.url, app, settings, withCookie)} > /dev/null; done`);
    const progress = progressReporter(app.name, count, out);
    const results = await sendRequests(requestFor(stack.url, app, settings, { cookie: withCookie }), count, CONCURRENCY, (done) => progress.tick(done));
    progress.finish();
    const failed = results.filter((r) => r.status !== 200).length;
    if (failed > 0) say(`${failed} of ${count} ${app.name} requests did not get HTTP 200`);
  }
  try {
    await settled(stack.adminUrl, 15_000);
    say(`$ npm run verdict`);
    const run = await runVerdict({ stack: stack.stack, admin: [], local: true, kubernetes: "off", app: compared.map((a) => a.name as AppName), json: false, thresholds: {} }, projectDir, stack.config);
    for (const line of formatVerdict(run.verdict, run.gathered)) say(line);
  } catch (error) {
    say(`could not get the verdict from ${stack.adminUrl}: ${(error as Error).message}`);
  }
  say();
  say(`Dashboard: ${stack.adminUrl}/compare/ui (the same figures per route, refreshing every 2 s; open it in a browser while the stack runs)`);
}
