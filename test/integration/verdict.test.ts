// `npm run verdict` against three real mirror proxies (real sockets, the real
// movies service as v1 and v2): the merged counts equal the sum of each
// replica's own /compare/stats, and the exit code says promote (0), hold (1)
// or not enough data (2). The CLI runs as a process, as a CI step would run it.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startMoviesServer } from "../../workloads/movies/src/server.ts";
import type { CompareStats } from "../../workloads/mirror-proxy/src/compare/stats.ts";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { closedPort, DR, request, startProxy, waitFor } from "../proxy/helpers.ts";
import { REPO_ROOT } from "./helpers.ts";

type Server = Awaited<ReturnType<typeof startMoviesServer>>;

const vs = (name: string, host: string, mirror: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name} }
spec:
  hosts: ["${host}"]
  http:
    - name: mirror
      route: [{ destination: { host: movies, subset: v1 } }]
      mirror: { host: movies, subset: ${mirror} }`;

let servers: Server[] = [];
let proxies: MirrorProxy[] = [];
let stateDir: string;
// Different traffic per replica, so a merge that dropped or doubled one would show.
const MOVIES = [31, 47, 22];
const TWIN = [40, 25, 35];

async function stats(p: MirrorProxy): Promise<CompareStats> {
  return JSON.parse((await request(p.adminPort, { path: "/compare/stats" })).body) as CompareStats;
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), "verdict-"));
  const quiet = { port: 0, host: "127.0.0.1", log: () => undefined };
  servers = await Promise.all([startMoviesServer({ version: "v1", ...quiet }), startMoviesServer({ version: "v1", ...quiet }), startMoviesServer({ version: "v2", ...quiet })]);
  const [v1, twin, v2] = servers;
  const text = [
    DR("movies", "movies", ["v1", "twin", "v2"]),
    vs("movies", "movies.example", "v2"),
    vs("twin", "twin.example", "twin"), // v1 mirrored to another v1: answers alike
    `apiVersion: traffic-mirroring/v1
kind: MirrorProxy
spec:
  upstreams: { movies/v1: "${v1.url}", movies/twin: "${twin.url}", movies/v2: "${v2.url}" }
  compare: { routes: ["*"] }`,
  ].join("\n---\n");
  proxies = await Promise.all(["p1", "p2", "p3"].map((replica) => startProxy(text, { replica })));
  await Promise.all(
    proxies.map(async (p, i) => {
      for (let n = 0; n < MOVIES[i]; n++) expect((await request(p.port, { headers: { host: "movies.example" } })).status).toBe(200);
      for (let n = 0; n < TWIN[i]; n++) expect((await request(p.port, { headers: { host: "twin.example" } })).status).toBe(200);
    }),
  );
  for (const [i, p] of proxies.entries()) {
    await waitFor(async () => {
      const s = await stats(p);
      const done = (route: string, want: number) => {
        const r = s.routes[route];
        return r.mirrored === want && r.compared + Object.values(r.skipped).reduce((a, b) => a + b, 0) === want;
      };
      return done("movies/mirror", MOVIES[i]) && done("twin/mirror", TWIN[i]);
    }, 10_000, `replica ${i + 1} settled`);
  }
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => s.close()));
  rmSync(stateDir, { recursive: true, force: true });
});

function verdict(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const admins = proxies.flatMap((p) => ["--admin", `http://127.0.0.1:${p.adminPort}`]);
    const child = spawn(process.execPath, ["local/verdict.ts", ...admins, "--no-local", "--no-kubernetes", ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOCAL_STACK_DIR: stateDir },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

interface JsonRoute { route: string; figures: { mirrored: number; compared: number; differing: number; shadowErrors: number; latencyDelta: { count: number } }; topDifferences: Array<{ path: string; count: number }> }
interface JsonVerdict { decision: string; exitCode: number; replicas: Array<{ replicas: string[] }>; apps: Array<{ app: string; decision: string; reasons: string[]; routes: JsonRoute[] }> }

test("three replicas: the merged counts are exactly the sum of each replica's own; movies holds", async () => {
  const each = await Promise.all(proxies.map(stats));
  const run = await verdict(["--json", "--min-compared", "50"]);
  expect(run.stderr).toBe("");
  const out = JSON.parse(run.stdout) as JsonVerdict;
  expect(out.replicas.map((r) => r.replicas[0])).toEqual(["p1", "p2", "p3"]);
  const routes = new Map(out.apps.flatMap((a) => a.routes).map((r) => [r.route, r]));
  for (const route of ["movies/mirror", "twin/mirror"]) {
    const merged = routes.get(route)!;
    const sum = (pick: (s: CompareStats["routes"][string]) => number) => each.reduce((total, s) => total + pick(s.routes[route]), 0);
    expect(merged.figures.mirrored).toBe(sum((r) => r.mirrored));
    expect(merged.figures.compared).toBe(sum((r) => r.compared));
    expect(merged.figures.differing).toBe(sum((r) => r.differing));
    expect(merged.figures.shadowErrors).toBe(sum((r) => r.shadowErrors));
    expect(merged.figures.latencyDelta.count).toBe(sum((r) => r.latencyDelta.count));
  }
  // And the sums are the traffic sent: every copy compared.
  expect(routes.get("movies/mirror")!.figures.compared).toBe(MOVIES.reduce((a, b) => a + b));
  expect(routes.get("twin/mirror")!.figures.compared).toBe(TWIN.reduce((a, b) => a + b));
  expect(routes.get("twin/mirror")!.figures.differing).toBe(0);
  const movies = routes.get("movies/mirror")!;
  expect(movies.figures.differing).toBe(movies.figures.compared);
  const topCount = (s: CompareStats, p: string) => s.routes["movies/mirror"].topDifferences.find((d) => d.path === p)?.count ?? 0;
  for (const p of movies.topDifferences) expect(p.count).toBe(each.reduce((total, s) => total + topCount(s, p.path), 0));
  expect(movies.topDifferences.map((p) => p.path)).toContain("$[*].rating");

  expect(out.apps.find((a) => a.app === "movies")!.decision).toBe("hold");
  expect(out.decision).toBe("hold");
  expect(run.code).toBe(1);
}, 90_000); // runs the CLI as a process several times (a few seconds each on a loaded machine)

test("exit 0 when v2 answers like v1 within the thresholds, 2 when too few answers were compared", async () => {
  const promote = await verdict(["--app", "twin", "--min-compared", "50", "--max-diff", "5%"]);
  expect(promote.code).toBe(0);
  expect(promote.stdout).toMatch(/^twin: PROMOTE: difference rate 0 % \(0 of 100, 95 % CI 0 %–3\.\d+ %\) ≤ 5 %/m);
  expect(promote.stdout).toContain("Decision: promote: twin answer like v1 (exit 0)");

  // 0 of 100 differ, but at 1 % the interval (0–3.7 %) still reaches above the maximum: more traffic decides.
  const unsure = await verdict(["--app", "twin", "--min-compared", "50"]);
  expect(unsure.code).toBe(2);
  expect(unsure.stdout).toMatch(/twin: NOT ENOUGH DATA: .*the interval still reaches above --max-diff 1 %/);

  const few = await verdict(["--app", "twin", "--min-compared", "1000", "--max-diff", "5%"]);
  expect(few.code).toBe(2);
  expect(few.stdout).toContain("twin: NOT ENOUGH DATA: 100 answers compared, --min-compared is 1000");

  const held = await verdict(["--app", "movies"]);
  expect(held.code).toBe(1);
  expect(held.stdout).toMatch(/^movies: HOLD: difference rate 100 % \(100 of 100, 95 % CI 96\.\d+ %–100 %\) is above --max-diff 1 %/m);
  expect(held.stdout).toMatch(/\$\[\*\]\.rating +100 {2}e\.g\. GET \/: \$\[\d\]\.rating: \(absent in v1\) → \d/);
}, 90_000); // runs the CLI as a process several times (a few seconds each on a loaded machine)

test("a replica that cannot be read makes the verdict 'not enough data', naming it; bad flags name the flag", async () => {
  const gone = await closedPort();
  const run = await verdict(["--app", "twin", "--min-compared", "50", "--max-diff", "5%", "--admin", `http://127.0.0.1:${gone}`]);
  expect(run.code).toBe(2);
  expect(run.stdout).toContain(`could not read --admin: http://127.0.0.1:${gone}/compare/stats: ECONNREFUSED`);
  expect(run.stdout).toMatch(/^twin: NOT ENOUGH DATA: 1 replica could not be read/m);
  expect(run.stdout).toContain("not enough data: a replica could not be read");

  const bad = await verdict(["--max-diff", "abc"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--max-diff must be a percentage from 0 to 100, e.g. 1% or 0.5%, got "abc"');
}, 90_000); // runs the CLI as a process several times (a few seconds each on a loaded machine)
