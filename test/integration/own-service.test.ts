// Your own service on the local stack: the example stack file
// (examples/own-service/Pulumi.billing.yaml, the README's) declares billing,
// whose `local.command` starts examples/own-service/app.ts as v1 and v2. Real
// processes and sockets on 127.0.0.1: GETs of beta users are copied to v2,
// POSTs are not, and the copy alone is shaped (no authorization or cookie,
// x-dark-launch set), as each version's own log shows.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { request } from "undici";
import { parse } from "yaml";
import { linesSince, markLogs } from "../../local/lib/mirrorCounts.ts";
import { isAlive, sleep } from "../../local/lib/processes.ts";
import { logFields } from "../../workloads/shared/log.ts";
import { localApps, startLocalStack, type LocalStack } from "../../local/lib/stack.ts";
import { ownAppNotes } from "../../local/lib/ownApps.ts";
import { parseStackConfig } from "../../components/config";
import { REPO_ROOT, runCurl } from "./helpers";

const EXAMPLE = path.join(REPO_ROOT, "examples/own-service/Pulumi.billing.yaml");
const exampleValues = (): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(parse(readFileSync(EXAMPLE, "utf8")).config as Record<string, unknown>).map(([key, value]) => [key.replace("traffic-mirroring:", ""), value]),
  );

describe("billing, an app of your own, on the local stack", () => {
  const runDir = mkdtempSync(path.join(os.tmpdir(), "own-service-"));
  let stack: LocalStack;

  beforeAll(async () => {
    // The example's values as overrides of the project's defaults (no other stack file: compare stays off).
    stack = await startLocalStack({ projectDir: REPO_ROOT, stack: "own-service-itest", runDir, overrides: exampleValues() });
  }, 30_000);

  afterAll(async () => {
    if (!stack) return;
    const pids = stack.processes.map((proc) => proc.pid);
    const results = await stack.stop();
    rmSync(runDir, { recursive: true, force: true });
    expect(results.map((result) => result.name).sort()).toEqual([
      "billing-v1",
      "billing-v2",
      "hostname-v1",
      "hostname-v2",
      "mirror-proxy",
      "movies-v1",
      "movies-v2",
    ]);
    expect(results.filter((result) => result.killed || result.exit.code !== 0)).toEqual([]);
    expect(pids.filter(isAlive)).toEqual([]);
  }, 30_000);

  /** The request lines billing's version logged since `marks` (the example app's logfmt). */
  const logged = (version: "v1" | "v2", marks: ReturnType<typeof markLogs>) =>
    linesSince(stack, "billing", version, marks)
      .map((line) => logFields(line))
      .filter((fields) => fields.method !== undefined);

  async function send(method: string, headers: Record<string, string>) {
    const response = await request(`${stack.url}/invoices`, {
      method,
      headers: { host: "billing.example.com", authorization: "Bearer secret", cookie: "session=abc", ...headers },
      body: method === "POST" ? '{"amount":12}' : undefined,
    });
    return { status: response.statusCode, body: await response.body.text() };
  }

  /** Waits until v1 logged `primaries` requests, then a little for copies in flight. */
  async function settle(marks: ReturnType<typeof markLogs>, primaries: number) {
    for (let i = 0; i < 200 && logged("v1", marks).length < primaries; i++) await sleep(25);
    await sleep(300);
  }

  test("a GET of a beta user: v1 answers, v2 gets a copy without credentials and with x-dark-launch", async () => {
    const marks = markLogs(stack, "billing");
    const reply = await send("GET", { "x-beta-user": "yes" });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ version: "v1", release: "1.4.2" });
    await settle(marks, 1);
    expect(logged("v1", marks)).toEqual([
      expect.objectContaining({ method: "GET", path: "/invoices", version: "v1", mirrored: "false", authorization: "present", cookie: "present", dark_launch: "absent" }),
    ]);
    expect(logged("v2", marks)).toEqual([
      expect.objectContaining({
        method: "GET",
        host: "billing.example.com-shadow",
        version: "v2",
        mirrored: "true",
        authorization: "absent",
        cookie: "absent",
        dark_launch: "true",
      }),
    ]);
  });

  /** A mirrored GET sent last, waited for in v2's log: copies of what was sent before it had their chance too. */
  async function barrier(marks: ReturnType<typeof markLogs>) {
    await send("GET", { "x-beta-user": "yes", "x-barrier": "1" });
    for (let i = 0; i < 200 && !logged("v2", marks).some((fields) => fields.method === "GET"); i++) await sleep(25);
    await sleep(200);
  }

  test("a POST of a beta user is served by v1 only: writes are not mirrored", async () => {
    const marks = markLogs(stack, "billing");
    const reply = await send("POST", { "x-beta-user": "yes" });
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body)).toMatchObject({ version: "v1" });
    await barrier(marks);
    expect(logged("v1", marks).map((fields) => fields.method)).toEqual(["POST", "GET"]);
    expect(logged("v2", marks).map((fields) => fields.method)).toEqual(["GET"]);
  });

  test("HEAD and OPTIONS are copied, PUT and DELETE are not; without the header nothing is", async () => {
    const marks = markLogs(stack, "billing");
    for (const method of ["HEAD", "OPTIONS", "PUT", "DELETE"]) await send(method, { "x-beta-user": "yes" });
    await send("GET", {});
    await barrier(marks);
    expect(logged("v1", marks).map((fields) => fields.method)).toEqual(["HEAD", "OPTIONS", "PUT", "DELETE", "GET", "GET"]);
    expect(logged("v2", marks).map((fields) => fields.method).sort()).toEqual(["GET", "HEAD", "OPTIONS"]);
  });

  test("the exported curl command for the mirrored request works as pasted; the tutorials' apps run beside it", async () => {
    const { curlCommands } = await import("../../components/ingress");
    const commands = curlCommands(stack.url, stack.config.apps.billing);
    expect(commands.billingMirrored).toBe(`curl -s -H 'Host: billing.example.com' -H 'x-beta-user: yes' ${stack.url}/invoices`);
    const marks = markLogs(stack, "billing");
    expect((await runCurl(commands.billingMirrored)).status).toBe(200);
    await settle(marks, 1);
    expect(logged("v2", marks)).toHaveLength(1);
    expect((await runCurl(`curl -s ${stack.url}/`)).status).toBe(200); // movies
  });
});

describe("an app without local.command", () => {
  test("is cluster-only locally, with the key that would start it; the others run", () => {
    const values = exampleValues() as { apps: { billing: Record<string, any> } };
    delete values.apps.billing.v2.local;
    const { apps, clusterOnly } = localApps(parseStackConfig(values));
    expect(apps.map((app) => app.name)).toEqual(["hostname", "movies"]);
    expect(clusterOnly).toEqual([{ app: "billing", reason: "no apps.billing.v2.local.command says how to start it here" }]);
  });

  test("the demo names the apps that mirror writes and those that are cluster-only", () => {
    const values = exampleValues() as { apps: { billing: Record<string, any> } };
    values.apps.billing.mirror.writes = true;
    delete values.apps.billing.v1.local;
    const config = parseStackConfig(values);
    const notes = ownAppNotes({ config, clusterOnly: localApps(config).clusterOnly } as unknown as LocalStack);
    expect(notes).toEqual([
      "warning: billing mirrors writes (traffic-mirroring:apps.billing.mirror.writes = true): v2 receives copies of POST, PUT, PATCH and DELETE requests too, so their side effects happen twice unless v2 is isolated",
      "billing: cluster-only (no apps.billing.v1.local.command says how to start it here); not started here",
    ]);
  });
});
