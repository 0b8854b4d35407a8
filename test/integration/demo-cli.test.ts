// `npm run demo -- --once` as a user runs it: a real process that starts the
// local stack, replays both tutorials, ends with the comparison report, stops
// everything and exits; and its failures (bad config, port in use) as clear
// messages with nothing left behind.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { isAlive } from "../../local/lib/processes.ts";
import { REPO_ROOT } from "./helpers";

const NODE_24 = path.join(REPO_ROOT, "node_modules/.bin/node");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: string[], stackDir: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      NODE_24,
      [path.join(REPO_ROOT, "local/demo.ts"), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, LOCAL_STACK_DIR: stackDir }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Every `(pid N)` / table pid the demo printed. */
function printedPids(output: string): number[] {
  const pids = [
    ...output.matchAll(/\(pid (\d+)\)/g),
    ...output.matchAll(/^ {2}\S+-v\d(?:-\d+)?\s+(\d+)\s/gm),
    ...output.matchAll(/^ {2}mirror-proxy\s+(\d+)\s/gm),
  ];
  return [...new Set(pids.map((match) => Number(match[1])))];
}

describe("npm run demo", () => {
  let stackDir: string;
  beforeEach(() => {
    stackDir = mkdtempSync(path.join(os.tmpdir(), "mirror-demo-"));
  });
  afterEach(() => rmSync(stackDir, { recursive: true, force: true }));

  test("--once: replays both tutorials, ends with the comparison report, then stops every process and removes its state file", async () => {
    const run = await runDemo(["--once", "--requests", "20"], stackDir);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    const out = run.stdout;
    expect(out).toMatch(/^ingressUrl: http:\/\/127\.0\.0\.1:\d+$/m);
    expect(out).toMatch(/curl -s -H 'Host: hostname.example.com' --cookie 'user=test' http:\/\/127\.0\.0\.1:\d+\/version\//);
    // The dev stack compares both apps: two v1 processes each.
    expect(out).toMatch(/^ {2}hostname-v1-2\s+\d+\s+http:\/\/127\.0\.0\.1:\d+\s+\S+hostname-v1-2\.log$/m);
    expect(out).toMatch(/^ {2}movies-v1-2\s+\d+\s/m);
    // Tutorial 1: after the cookie request, v2's log shows its copy with the shadow Host (and nothing else).
    expect(out).toMatch(/hostname v2 \| \S+ method=GET path=\/version\/ host=hostname\.example\.com-shadow version=v2 mirrored=true status=200/);
    expect(out.match(/hostname v2 \| \S+ method=GET/g)).toHaveLength(1);
    // v1's copy of it is a noise-sampling copy to the other v1, said as such.
    expect(out).toMatch(/hostname v1 \| \S+ method=GET path=\/version\/ host=hostname\.example\.com-shadow version=v1 mirrored=true status=200 {2}\[hostname-v1(-2)?\]/);
    expect(out).toContain("v1's mirrored=true line is a noise-sampling copy, not a v2 copy");
    // Past the warm-up: more cookie requests, said so, counted exactly.
    expect(out).toContain("so 7 more cookie requests, one at a time:");
    expect(out).toMatch(/^hostname: 8 cookie requests → v1 served 8, v2 received 8 mirrored copies; v1 also received [5-8] noise-sampling copies \(mirrored=true in v1's logs; not v2 copies\)$/m);
    // Tutorial 2 at the dev stack's mirrorPercent (100): client requests only in v1's count.
    expect(out).toContain("movies: 20 requests → v1 served 20, v2 received 20 mirrored copies (100 %; mirrorPercent 100)");
    expect(out).toMatch(/^movies: v1 also received \d+ noise-sampling copies/m);
    // The comparison report.
    expect(out).toMatch(/^comparison of v2 with v1: \d+ compared, \d+ differ \([\d.]+ %\), top differences: \$\[\*\]\.(rating|year) \(\d+\), \$\[\*\]\.(rating|year) \(\d+\); skipped: noise_warmup \d+; noise learned: hostname: body$/m);
    expect(out).toMatch(/^ {2}hostname\/\S+: [1-9]\d* compared, 0 differ/m);
    expect(out).toMatch(/→ hostname: .*learned body as noise.*not reported/);
    expect(out).toMatch(/→ movies: .*reported/);
    expect(out).toMatch(/^Example mismatch \(movies\/\S+\): GET \/ /m);
    expect(out).toContain("  $[3].year: 1999 → 2000");
    // The ending: enough traffic for a confident verdict, the verdict per app, the dashboard.
    expect(out).toMatch(/^\$ npm run verdict$/m);
    expect(out).toMatch(/^Verdict from 1 proxy replica: \S+ \(local stack \(npm run demo, pid \d+\), http:\/\/127\.0\.0\.1:\d+\)$/m);
    expect(out).toMatch(/^hostname: PROMOTE: difference rate 0 % \(0 of \d+, 95 % CI 0 %–0\.\d+ %\) ≤ 1 %; shadow errors 0 % .*; noise learned: body$/m);
    expect(out).toMatch(/^movies: HOLD: difference rate 100 % \(\d+ of \d+, 95 % CI 9\d\.\d+ %–100 %\) is above --max-diff 1 %$/m);
    expect(out).toMatch(/^ {6}\$\[\*\]\.year +\d+ {2}e\.g\. GET \/: \$\[3\]\.year: 1999 → 2000$/m);
    expect(out).toContain("Decision: hold: movies differs from v1 beyond the thresholds (exit 1)");
    expect(out).toMatch(/^Dashboard: http:\/\/127\.0\.0\.1:\d+\/compare\/ui /m);
    expect(out).toMatch(/Stopped 7 processes, all exited on SIGTERM; none left running/);
    const pids = printedPids(out);
    expect(pids).toHaveLength(7);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(path.join(stackDir, "local-stack.json"))).toBe(false);
    expect(existsSync(path.join(stackDir, "local-stack/logs/movies-v2.log"))).toBe(true);
    expect(existsSync(path.join(stackDir, "local-stack/logs/movies-v1-2.log"))).toBe(true);
  }, 120_000); // the verdict ending sends 840 requests one at a time

  test("--set compare=false: one v1 per app, no noise copies, and the report says comparison is off", async () => {
    const run = await runDemo(["--once", "--requests", "10", "--set", "compare=false"], stackDir);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    expect(run.stdout).toContain("compare: off");
    expect(run.stdout).not.toContain("noise-sampling");
    expect(run.stdout).not.toMatch(/v1 \| .*mirrored=true/);
    expect(run.stdout).toContain("movies: 10 requests → v1 served 10, v2 received 10 mirrored copies (100 %; mirrorPercent 100)");
    expect(run.stdout).toContain("Comparison is off (compare: false in the stack config)");
    expect(run.stdout).toContain("No app is compared (compare: false), so there is nothing to decide.");
    expect(run.stdout).toMatch(/Stopped 5 processes, all exited on SIGTERM; none left running/);
  }, 60_000);

  test("a bad config value fails before anything starts, naming the key", async () => {
    const run = await runDemo(["--once", "--set", "mirrorPercent=150"], stackDir);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('traffic-mirroring:mirrorPercent = "150"');
    expect(run.stdout).not.toContain("starting");
  }, 30_000);

  test("a traffic port in use: a clear error, and the services already started are stopped", async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const run = await runDemo(["--once", "--port", String(port)], stackDir);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`mirror-proxy exited \\(code 1\\) while starting[\\s\\S]*EADDRINUSE[\\s\\S]*${port}`));
      const pids = printedPids(run.stdout);
      expect(pids).toHaveLength(7); // the six services it had started (two v1 per compared app), and the proxy that failed
      expect(pids.filter(isAlive)).toEqual([]);
      expect(existsSync(path.join(stackDir, "local-stack.json"))).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 30_000);
});
