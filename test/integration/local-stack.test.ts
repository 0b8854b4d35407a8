// The local stack as users run it (`npm run demo`): v1/v2 of both apps and the
// mirror proxy as real processes on 127.0.0.1, routed by the config the Pulumi
// program renders for proxy mode, curled through the stack's URL; mirroring
// checked in the services' own logs. The stack file compares (as the dev stack
// does) and the overrides turn it off, as `npm run demo -- --set compare=false` would.
import { readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { demoApp } from "../../components/apps";
import { curlCommand } from "../../components/ingress";
import { parseAllDocuments } from "yaml";
import { fetchCompare } from "../../local/lib/compareReport.ts";
import { linesSince, markLogs, settledCountsSince } from "../../local/lib/mirrorCounts.ts";
import { isAlive } from "../../local/lib/processes.ts";
import { requestsIn } from "../../local/lib/requestLog.ts";
import { startLocalStack, type LocalStack } from "../../local/lib/stack.ts";
import { requestFor, sendRequest, sendRequests } from "../../local/lib/traffic.ts";
import { expectedCopies, REPO_ROOT, runCurl, temporaryProject } from "./helpers";

const STACK = "itest";
/** Movies requests per mirrorPercent; at 50 % the exact bound is 66–134 copies. */
const MOVIES_REQUESTS = 200;

describe("local stack: the rendered proxy-mode config served on 127.0.0.1", () => {
  const project = temporaryProject(STACK, { mirrorPercent: "100", compare: "true" });
  const runDir = path.join(project.dir, "run");
  let stack: LocalStack;
  const shares = new Map<number, { v1: number; v2: number }>();

  beforeAll(async () => {
    stack = await startLocalStack({
      projectDir: project.dir,
      workloadsDir: path.join(REPO_ROOT, "workloads"),
      stack: STACK,
      runDir,
      overrides: { compare: "false" },
    });
  }, 30_000);

  afterAll(async () => {
    if (!stack) return;
    const pids = stack.processes.map((proc) => proc.pid);
    const results = await stack.stop();
    rmSync(project.dir, { recursive: true, force: true });
    expect(results.map((result) => result.name).sort()).toEqual(["hostname-v1", "hostname-v2", "mirror-proxy", "movies-v1", "movies-v2"]);
    // Each exited on SIGTERM (the services and the proxy drain and exit 0), and no pid is left.
    expect(results.filter((result) => result.killed || result.exit.code !== 0)).toEqual([]);
    expect(pids.filter(isAlive)).toEqual([]);
  }, 30_000);

  test("hostname: curl gets v1's answer; only the cookie request reaches v2, with the shadow Host", async () => {
    const app = demoApp("hostname");
    const settings = stack.config.apps.hostname;
    const marks = markLogs(stack, "hostname");

    const plain = await runCurl(curlCommand(stack.url, app, settings));
    expect(plain).toEqual({ status: 200, body: "hostname-v1-local v1\n" });
    // Anything the proxy copied by mistake has landed once nothing is in flight.
    const afterPlain = await settledCountsSince(stack, "hostname", marks, 1);
    expect(afterPlain).toEqual({ v1: 1, v2: 0, v1Noise: 0, settled: true });

    const withCookie = await runCurl(curlCommand(stack.url, app, settings, "user=test"));
    expect(withCookie).toEqual({ status: 200, body: "hostname-v1-local v1\n" });
    const afterCookie = await settledCountsSince(stack, "hostname", marks, 2);
    expect(afterCookie).toEqual({ v1: 2, v2: 1, v1Noise: 0, settled: true });

    const v2Lines = requestsIn(linesSince(stack, "hostname", "v2", marks));
    expect(v2Lines).toEqual([
      expect.objectContaining({ method: "GET", path: "/version/", host: "hostname.example.com-shadow", version: "v2", mirrored: true, status: 200 }),
    ]);
    const v1Lines = requestsIn(linesSince(stack, "hostname", "v1", marks));
    expect(v1Lines.map((line) => [line.host, line.mirrored])).toEqual([
      ["hostname.example.com", false],
      ["hostname.example.com", false],
    ]);
  });

  /** `pulumi config set mirrorPercent <p>` (the stack file) and the proxy's reload, then N movies requests. */
  async function moviesAt(percent: number): Promise<{ v1: number; v2: number }> {
    const cached = shares.get(percent);
    if (cached) return cached;
    project.setConfig({ mirrorPercent: String(percent) });
    const config = await stack.reconfigure({});
    expect(config.apps.movies.mirrorPercent).toBe(percent);

    const app = demoApp("movies");
    const spec = requestFor(stack.url, app, config.apps.movies);
    const marks = markLogs(stack, "movies");
    const sample = await sendRequest(spec, undefined, true);
    expect(sample.status).toBe(200);
    const movies = JSON.parse(sample.body ?? "[]") as Array<{ version: string }>;
    expect(movies.length).toBeGreaterThan(0);
    expect(new Set(movies.map((movie) => movie.version))).toEqual(new Set(["v1"]));

    const results = await sendRequests(spec, MOVIES_REQUESTS - 1, 4);
    expect(results.filter((result) => result.status !== 200)).toEqual([]);
    const counts = await settledCountsSince(stack, "movies", marks, MOVIES_REQUESTS);
    expect(counts.settled).toBe(true);
    expect(counts.v1).toBe(MOVIES_REQUESTS);
    // Every copy v2 logged carries the shadow Host.
    const copies = requestsIn(linesSince(stack, "movies", "v2", marks));
    expect(copies.filter((copy) => !/-shadow(:\d+)?$/.test(copy.host) || !copy.mirrored)).toEqual([]);
    const share = { v1: counts.v1, v2: counts.v2 };
    shares.set(percent, share);
    return share;
  }

  test.each([100, 50, 0])("movies at mirrorPercent %d: v2's copies within the exact binomial bound (failure < 1e-6)", async (percent) => {
    const { v2 } = await moviesAt(percent);
    const { low, high } = expectedCopies(MOVIES_REQUESTS, percent);
    expect({ percent, v2, inBound: v2 >= low && v2 <= high }).toEqual({ percent, v2, inBound: true });
  });

  test("changing mirrorPercent in config changes the share", async () => {
    const at100 = await moviesAt(100);
    const at50 = await moviesAt(50);
    const at0 = await moviesAt(0);
    expect(at100.v2).toBe(MOVIES_REQUESTS);
    expect(at50.v2).toBeLessThan(at100.v2);
    expect(at50.v2).toBeGreaterThan(at0.v2);
    expect(at0.v2).toBe(0);
  });

  test("compare: false (an override over the stack file's true): no compare block, one v1 per app, no noise copy ever reached v1", async () => {
    await moviesAt(100);
    expect(stack.config.apps).toMatchObject({ hostname: { compare: false }, movies: { compare: false } });
    const docs = parseAllDocuments(readFileSync(stack.routingFile, "utf8")).map((doc) => doc.toJS());
    const proxyDoc = docs.find((doc) => doc?.kind === "MirrorProxy");
    expect(proxyDoc.spec).not.toHaveProperty("compare");
    // One URL per version: no list, as before compare existed.
    expect(Object.values(proxyDoc.spec.upstreams).every((url) => typeof url === "string")).toBe(true);
    expect(stack.processes.map((proc) => proc.name).sort()).toEqual(["hostname-v1", "hostname-v2", "mirror-proxy", "movies-v1", "movies-v2"]);
    await expect(fetchCompare(stack.adminUrl)).resolves.toBeUndefined();
    for (const app of ["hostname", "movies"] as const) {
      const v1 = requestsIn(linesSince(stack, app, "v1"));
      expect(v1.length).toBeGreaterThan(0);
      expect({ app, noiseCopies: v1.filter((line) => line.mirrored).length }).toEqual({ app, noiseCopies: 0 });
    }
  });
});
