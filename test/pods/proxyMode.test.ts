// Proxy mode on a real container engine: the images built with `podman build`
// from the real Dockerfiles, the objects the program renders (under Pulumi's
// mocks) played with `podman kube play` as they are, plus what a cluster adds
// (cluster.ts names each addition). Then the live integration checks: curl the
// exposed URL, count requests in `podman logs`, a ConfigMap update under
// traffic, a proxy pod deleted under load.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { demoApp, type AppName, type Version } from "../../components/apps";
import { curlCommand } from "../../components/ingress";
import { parseStackConfig } from "../../components/config";
import { requestsIn, type RequestFilter } from "../../local/lib/requestLog.ts";
import { shadowInFlight, waitForSettledCounts } from "../../local/lib/mirrorCounts.ts";
import { requestFor, sendRequest, sendRequests, type RequestResult, type RequestSpec } from "../../local/lib/traffic.ts";
import { accountedFor, appRoutes, fetchCompare, learnedNoise, waitForCompared } from "../../local/lib/compareReport.ts";
import { hostnameCookieRequests } from "../../local/lib/demo.ts";
import { Agent } from "undici";
import { expectedCopies, runCurl } from "../integration/helpers";
import { waitFor } from "../proxy/helpers.ts";
import { byType, named, runProgram, T, useMockedMachine, type ProgramRun } from "../support/pulumiProgram";
import { PodCluster, type PlayedPod } from "./cluster";
import { podman } from "./podman";

const NAMESPACE = "mirror-demo";
/** movies' share: a value whose binomial bounds say something (100 % would be trivially exact). */
const MOVIES_PERCENT = 50;
const RELOADED_PERCENT = 20;
const MOVIES_REQUESTS = 300;
const STACK = { mesh: "proxy", nodeIp: "127.0.0.1", compare: "true" };
const stackWith = (moviesPercent: number) => ({ ...STACK, apps: JSON.stringify({ movies: { mirrorPercent: moviesPercent } }) });
/** The same stack config, parsed as the program parses it (hosts, cookie for the curl commands). */
const config = parseStackConfig(stackWith(MOVIES_PERCENT));

/** The Kubernetes object a recorded resource stands for: apiVersion and kind from its type token. */
function manifest(resource: { type: string; inputs: Record<string, any> }): Record<string, any> {
  const [, groupVersion, kind] = /^kubernetes:(.+):(\w+)$/.exec(resource.type)!;
  return { ...resource.inputs, apiVersion: groupVersion.replace(/^core\//, ""), kind };
}

/** `podman build` of each image the program builds, with its context and Dockerfile (components/workloadImage.ts). */
async function buildImages(run: ProgramRun): Promise<string[]> {
  return Promise.all(
    byType(run, T.image).map(async (image) => {
      const { imageName, build } = image.inputs;
      const exists = await podman(["image", "exists", imageName]).then(() => true, () => false);
      if (!exists) await podman(["build", "--quiet", "-f", build.dockerfile, "-t", imageName, build.context], { timeoutMs: 300_000 });
      return imageName as string;
    }),
  );
}

const ok = (results: RequestResult[]) => results.filter((r) => r.status !== 200);

/** Requests from `workers` keep-alive clients, back to back, until stop() (which returns them all). */
function steadyLoad(spec: RequestSpec, workers: number): { stop(): Promise<RequestResult[]> } {
  const dispatcher = new Agent({ connections: workers, keepAliveTimeout: 4000 });
  const results: RequestResult[] = [];
  let stopping = false;
  const running = Promise.all(
    Array.from({ length: workers }, async () => {
      while (!stopping) {
        const at = Date.now();
        results.push({ ...(await sendRequest(spec, dispatcher)), at } as RequestResult);
      }
    }),
  );
  return {
    async stop() {
      stopping = true;
      await running;
      await dispatcher.close();
      return results;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("proxy mode on podman: the rendered pods, played as they are", () => {
  const workDir = mkdtempSync(path.join(tmpdir(), "tm-pods-"));
  const cluster = new PodCluster(NAMESPACE, workDir);
  let run: ProgramRun;
  let url = "";

  beforeAll(async () => {
    useMockedMachine();
    run = await runProgram(stackWith(MOVIES_PERCENT));
    const started = Date.now();
    const images = await buildImages(run);
    console.log(`pods: images ${images.join(", ")} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await cluster.start();
    const objects = run.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== T.namespace).map(manifest);
    await cluster.apply(objects);
    await cluster.waitReady();
    await proxiesKnowEveryMember();
    url = `http://127.0.0.1:${await cluster.kubeProxyNodePort("mirror-proxy")}`;
  }, 600_000);

  afterAll(async () => {
    await cluster.teardown();
    rmSync(workDir, { recursive: true, force: true });
  }, 120_000);

  /**
   * A pod that became ready after a proxy's last resolution joins at its next one (every 5 s, as
   * pods come and go in a cluster). The checks start from the steady state: every proxy's log
   * names all the v1 pods of each app as members (else its first noise pairs would hit one pod).
   */
  async function proxiesKnowEveryMember(): Promise<void> {
    for (const proxy of cluster.podsWith({ app: "mirror-proxy" })) {
      for (const app of ["hostname", "movies"] as const) {
        const ips = cluster.podsWith({ app, version: "v1" }).map((p) => p.ip);
        await waitFor(async () => {
          const lines = (await cluster.logs(proxy.name)).split("\n").filter((l) => /mirror-proxy: upstream \S+: /.test(l) && ips.some((ip) => l.includes(`${ip}:`)));
          return lines.length > 0 && ips.every((ip) => lines[lines.length - 1].includes(`${ip}:`));
        }, 15_000, `${proxy.name} to resolve every ${app} v1 pod (${ips.join(", ")})`);
      }
    }
  }

  /** Request lines in `podman logs` of every pod app=<app>,version=<v>. */
  async function podRequests(app: AppName, version: Version, filter: RequestFilter) {
    const pods = cluster.podsWith({ app, version });
    const logs = await Promise.all(pods.map((p) => cluster.logs(p.name)));
    return logs.flatMap((text) => requestsIn(text.split("\n"), filter));
  }

  /** Copies still in flight in the proxy pods (their admin /metrics). */
  async function proxiesInFlight(): Promise<number | undefined> {
    const figures = await Promise.all(cluster.podsWith({ app: "mirror-proxy" }).filter((p) => !p.terminating).map((p) => shadowInFlight(`http://${p.ip}:9901`)));
    return figures.some((f) => f === undefined) ? undefined : figures.reduce((a, b) => a! + b!, 0);
  }

  const settledCounts = (app: AppName, primaries: number, filter: RequestFilter) =>
    waitForSettledCounts(
      async () => ({ v1: (await podRequests(app, "v1", { ...filter, mirrored: false })).length, v2: (await podRequests(app, "v2", filter)).length }),
      { primaries, inFlight: proxiesInFlight, pollMs: 300, deadlineMs: 30_000 },
    );

  test("every pod is ready: 2 proxies, hostname v1 x2 and v2, movies v1 x2 and v2", () => {
    const names = [...cluster.pods.values()].map((p) => p.name.replace(`-${cluster.runId}`, "")).sort();
    expect(names).toEqual(["hostname-v1-0", "hostname-v1-1", "hostname-v2-0", "mirror-proxy-0", "mirror-proxy-1", "movies-v1-0", "movies-v1-1", "movies-v2-0"]);
  });

  test("hostname: v1 answers; only the cookie request reaches v2, with the shadow Host", async () => {
    const app = demoApp("hostname");
    const settings = config.apps.hostname;
    const since = new Date(Date.now() - 1000).toISOString();
    const filter = { host: "hostname.example.com", path: "/version/", since };

    const plain = await runCurl(curlCommand(url, app, settings));
    expect(plain).toEqual({ status: 200, body: expect.stringMatching(/^hostname-v1-\w+-\d v1\n$/) });
    expect(await settledCounts("hostname", 1, filter)).toEqual({ v1: 1, v2: 0, settled: true });

    const mirrored = await runCurl(curlCommand(url, app, settings, "user=test"));
    expect(mirrored).toEqual({ status: 200, body: expect.stringMatching(/^hostname-v1-\w+-\d v1\n$/) });
    expect(await settledCounts("hostname", 2, filter)).toEqual({ v1: 2, v2: 1, settled: true });
    const copies = await podRequests("hostname", "v2", filter);
    expect(copies.map((copy) => [copy.host.replace(/:\d+$/, ""), copy.mirrored])).toEqual([["hostname.example.com-shadow", true]]);
  }, 120_000);

  test(`movies: v2's share of ${MOVIES_REQUESTS} requests within the exact binomial bounds of mirrorPercent ${MOVIES_PERCENT}`, async () => {
    const host = `pods-${cluster.runId}-a.example.com`;
    const results = await sendRequests(requestFor(url, demoApp("movies"), config.apps.movies, { host }), MOVIES_REQUESTS, 4);
    expect(ok(results)).toEqual([]);
    const counts = await settledCounts("movies", MOVIES_REQUESTS, { host });
    const { low, high } = expectedCopies(MOVIES_REQUESTS, MOVIES_PERCENT);
    console.log(`pods: movies ${MOVIES_REQUESTS} requests, ${counts.v2} copies in v2 (${((100 * counts.v2) / MOVIES_REQUESTS).toFixed(1)} %, bounds ${low}-${high})`);
    expect({ ...counts, inBounds: counts.v2 >= low && counts.v2 <= high }).toEqual({ v1: MOVIES_REQUESTS, v2: counts.v2, settled: true, inBounds: true });
  }, 120_000);

  test("hostname with compare: each v1 pod is a member of its own, so the pod name is learned as noise, never a mismatch", async () => {
    // One proxy replica (its /compare is its own): the requests go to that pod directly.
    const proxy = cluster.podsWith({ app: "mirror-proxy" })[1];
    // /compare answers loopback clients only: through a port-forward, as the README's walk-through does.
    const admin = `http://127.0.0.1:${await cluster.portForward(proxy.name, 9901)}`;
    const before = accountedFor(await fetchCompare(admin), "hostname");
    const spec = requestFor(`http://${proxy.ip}:8080`, demoApp("hostname"), config.apps.hostname, { cookie: "user=test" });
    const requests = hostnameCookieRequests(true);
    const bodies = new Set<string>();
    for (let sent = 1; sent <= requests; sent++) {
      const result = await sendRequest(spec, undefined, true);
      expect(result.status).toBe(200);
      bodies.add((result.body ?? "").trim());
      expect((await waitForCompared(admin, { hostname: before + sent })).settled).toBe(true);
    }
    // Round-robin over the headless Service's two addresses: both v1 pods answered.
    const v1Pods = cluster.podsWith({ app: "hostname", version: "v1" }).map((p) => `${p.name} v1`);
    expect([...bodies].sort()).toEqual(v1Pods.sort());
    const report = (await fetchCompare(admin))!;
    expect(learnedNoise(report, "hostname")).toEqual(["body"]);
    const [[, route]] = appRoutes(report, "hostname");
    console.log(`pods: hostname compare on ${proxy.name}: ${requests} requests, ${route.compared} compared, ${route.mismatch} differ, noise learned: ${learnedNoise(report, "hostname").join(", ")}`);
    expect({ mismatch: route.mismatch, topDifferences: route.topDifferences }).toEqual({ mismatch: 0, topDifferences: [] });
  }, 120_000);

  test(`ConfigMap update under traffic: mirrorPercent ${MOVIES_PERCENT} -> ${RELOADED_PERCENT}, written as the kubelet does, both proxies reload, no request fails`, async () => {
    const updated = await runProgram(stackWith(RELOADED_PERCENT));
    const data = named(updated, T.configMap, "mirror-proxy").inputs.data;
    expect(data).not.toEqual(named(run, T.configMap, "mirror-proxy").inputs.data);
    const proxies = cluster.podsWith({ app: "mirror-proxy" });
    const reloadsBefore = await Promise.all(proxies.map(async (p) => (await cluster.logs(p.name)).split("config reloaded").length));

    const load = steadyLoad(requestFor(url, demoApp("movies"), config.apps.movies, { host: `pods-${cluster.runId}-reload.example.com` }), 4);
    await sleep(1500);
    const started = Date.now();
    await cluster.kubeletConfigMap("mirror-proxy", data);
    // Both replicas see the swapped ..data symlink and reload.
    for (;;) {
      const reloads = await Promise.all(proxies.map(async (p) => (await cluster.logs(p.name)).split("config reloaded").length));
      if (reloads.every((n, i) => n > reloadsBefore[i])) break;
      if (Date.now() - started > 20_000) throw new Error(`not every proxy reloaded in 20 s: ${JSON.stringify({ reloadsBefore, reloads })}`);
      await sleep(200);
    }
    const reloadMs = Date.now() - started;
    await sleep(1500);
    const during = await load.stop();
    console.log(`pods: ConfigMap update: ${during.length} requests under traffic, ${ok(during).length} failed, both proxies reloaded ${reloadMs} ms after the write`);
    expect(ok(during)).toEqual([]);

    const host = `pods-${cluster.runId}-b.example.com`;
    const results = await sendRequests(requestFor(url, demoApp("movies"), config.apps.movies, { host }), MOVIES_REQUESTS, 4);
    expect(ok(results)).toEqual([]);
    const counts = await settledCounts("movies", MOVIES_REQUESTS, { host });
    const { low, high } = expectedCopies(MOVIES_REQUESTS, RELOADED_PERCENT);
    console.log(`pods: movies after reload: ${MOVIES_REQUESTS} requests, ${counts.v2} copies (${((100 * counts.v2) / MOVIES_REQUESTS).toFixed(1)} %, bounds ${low}-${high})`);
    expect({ ...counts, inBounds: counts.v2 >= low && counts.v2 <= high }).toEqual({ v1: MOVIES_REQUESTS, v2: counts.v2, settled: true, inBounds: true });
  }, 180_000);

  test("a proxy pod deleted under load (endpoints, preStop, SIGTERM): it drains and exits 0, no request is lost", async () => {
    const [victim] = cluster.podsWith({ app: "mirror-proxy" });
    const load = steadyLoad(requestFor(url, demoApp("movies"), config.apps.movies, { host: `pods-${cluster.runId}-drain.example.com` }), 8);
    await sleep(2000);
    const { exitCode, seconds } = await cluster.deletePod(victim.name);
    await sleep(1000);
    const results = await load.stop();
    const logs = await cluster.logs(victim.name);
    for (const failed of ok(results)) console.log(`pods: failed ${JSON.stringify(failed)} ${(failed as { at?: number }).at! - victim.sigtermAt!} ms after SIGTERM`);
    console.log(`pods: proxy deleted under load: ${results.length} requests, ${ok(results).length} failed; ${victim.name} exited ${exitCode} after ${seconds.toFixed(1)} s (preStop included)`);
    expect(ok(results)).toEqual([]);
    expect(exitCode).toBe(0);
    expect(logs).toMatch(/mirror-proxy: SIGTERM, draining\n(.*\n)*mirror-proxy: drained, bye/);
  }, 120_000);
});
