// The same checks against a deployed stack: curl its ingressUrl, read the
// pods' logs through the Kubernetes API. Runs when INGRESS_URL is set or
// `pulumi stack output ingressUrl` answers; otherwise says why and skips.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { demoApp, type AppName, type Version } from "../../components/apps";
import { curlCommand } from "../../components/ingress";
import { loadStackConfig } from "../../components/stackFiles";
import { connectKube, type KubeLogs } from "../../local/lib/kube.ts";
import { waitForSettledCounts } from "../../local/lib/mirrorCounts.ts";
import { requestsIn, type RequestFilter } from "../../local/lib/requestLog.ts";
import { findOnPath, requestFor, sendRequests } from "../../local/lib/traffic.ts";
import { expectedCopies, REPO_ROOT, runCurl } from "./helpers";

const STACK = process.env.PULUMI_STACK ?? "dev";
const MOVIES_REQUESTS = 200;
/** No proxy figure to tell when copies have landed: counts must hold this long. */
const QUIET_MS = 3000;

/** The live URL, or why there is none (decided before the tests are declared, so a skip counts as skipped). */
function liveTarget(): { url: string; source: string } | { skip: string } {
  const fromEnv = process.env.INGRESS_URL?.trim();
  if (fromEnv) return { url: fromEnv.replace(/\/+$/, ""), source: "INGRESS_URL" };
  const pulumi = findOnPath("pulumi");
  if (!pulumi) return { skip: "INGRESS_URL is not set and there is no pulumi CLI on PATH to ask `pulumi stack output ingressUrl`" };
  try {
    const url = execFileSync(pulumi, ["stack", "output", "ingressUrl", "--stack", STACK], { encoding: "utf8", timeout: 20_000, stdio: ["ignore", "pipe", "pipe"] }).trim();
    if (/^https?:\/\//.test(url)) return { url, source: `pulumi stack output ingressUrl --stack ${STACK}` };
    return { skip: `INGRESS_URL is not set and \`pulumi stack output ingressUrl --stack ${STACK}\` gave no URL (${JSON.stringify(url)})` };
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split("\n")[0];
    return { skip: `INGRESS_URL is not set and \`pulumi stack output ingressUrl --stack ${STACK}\` failed: ${stderr}` };
  }
}

const target = liveTarget();
if ("skip" in target) console.log(`live integration tests skipped: ${target.skip}`);
const describeLive = "url" in target ? describe : describe.skip;

describeLive("live stack: its ingressUrl curled, pod logs read through the Kubernetes API", () => {
  const url = "url" in target ? target.url : "";
  const { config } = loadStackConfig(REPO_ROOT, STACK);
  let kube: KubeLogs;

  beforeAll(async () => {
    kube = await connectKube(config.namespace);
  });

  /** Request lines of every `app=<app>,version=<v>` pod matching the filter. */
  async function podRequests(app: AppName, version: Version, filter: RequestFilter) {
    const pods = await kube.read(app, version, { sinceSeconds: 600 });
    if (pods.length === 0) throw new Error(`no pods app=${app},version=${version} in namespace ${config.namespace} (context ${kube.context})`);
    return pods.flatMap((pod) => requestsIn(pod.lines, filter));
  }

  async function settledCounts(app: AppName, primaries: number, filter: RequestFilter) {
    return waitForSettledCounts(
      async () => ({
        v1: (await podRequests(app, "v1", { ...filter, mirrored: false })).length,
        v2: (await podRequests(app, "v2", filter)).length,
      }),
      { primaries, quietMs: QUIET_MS, pollMs: 500, deadlineMs: 60_000 },
    );
  }

  test("hostname: v1 answers; only the cookie request reaches v2, with the shadow Host", async () => {
    const app = demoApp("hostname");
    const settings = config.apps.hostname;
    // Pod clocks may differ from ours a little: lines from just before the test are not ours, a second is margin enough on an otherwise idle stack.
    const since = new Date(Date.now() - 1000).toISOString();
    const filter = { host: "hostname.example.com", path: "/version/", since };

    const plain = await runCurl(curlCommand(url, app, settings));
    expect(plain.status).toBe(200);
    expect(plain.body).toMatch(/\bv1\b/);
    expect(await settledCounts("hostname", 1, filter)).toEqual({ v1: 1, v2: 0, settled: true });

    const cookie = `${config.mirrorCookie.name}=${config.mirrorCookie.value}`;
    const mirrored = await runCurl(curlCommand(url, app, settings, cookie));
    expect(mirrored.status).toBe(200);
    expect(mirrored.body).toMatch(/\bv1\b/);
    expect(await settledCounts("hostname", 2, filter)).toEqual({ v1: 2, v2: 1, settled: true });
    const copies = await podRequests("hostname", "v2", filter);
    // The copy's Host: `-shadow` appended (Envoy's classic behaviour, our proxy's default, Istio
    // before 1.28 or with DISABLE_SHADOW_HOST_SUFFIX=false as the README installs it), or not
    // (Istio 1.28+ by default: the demo service then cannot tell it is a copy; our proxy with
    // shadowHostSuffix "" still marks it with its header). v2 gets nothing but copies here.
    const copy = copies.map((c) => [c.host.replace(/:\d+$/, ""), c.mirrored]);
    expect([
      [["hostname.example.com-shadow", true]],
      [["hostname.example.com", false]],
      [["hostname.example.com", true]],
    ]).toContainEqual(copy);
  }, 180_000);

  test(`movies: v2's share of ${MOVIES_REQUESTS} requests within the exact binomial bound of the stack's mirrorPercent`, async () => {
    const app = demoApp("movies");
    const settings = config.apps.movies;
    // A Host of our own (movies answers any) makes this run's lines countable exactly.
    const host = settings.hosts.includes("*") ? `itest-${randomBytes(4).toString("hex")}.example.com` : undefined;
    const since = new Date(Date.now() - 1000).toISOString();
    const results = await sendRequests(requestFor(url, app, settings, { host }), MOVIES_REQUESTS, 4);
    expect(results.filter((result) => result.status !== 200)).toEqual([]);
    const counts = await settledCounts("movies", MOVIES_REQUESTS, host ? { host } : { path: "/", since });
    expect(counts.v1).toBe(MOVIES_REQUESTS);
    const { low, high } = expectedCopies(MOVIES_REQUESTS, settings.mirrorPercent);
    expect({ v2: counts.v2, inBound: counts.v2 >= low && counts.v2 <= high }).toEqual({ v2: counts.v2, inBound: true });
  }, 180_000);
});
