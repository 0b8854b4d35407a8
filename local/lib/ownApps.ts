// `npm run demo`, for the apps declared in stack config (not the tutorials'):
// what the demo says about them, and a short tour of each one that runs
// locally: a request the mirror match selects, the same as a write, and what
// reached v2, counted by the proxy (any app's log format will do).
import * as path from "node:path";
import { request, type Dispatcher } from "undici";
import type { App } from "../../components/apps.ts";
import { appList, writeMirroringWarnings } from "../../components/config.ts";
import { curlCommands, mirroredRequest, type ExampleRequest } from "../../components/ingress.ts";
import { upstreamKey, versionDestination } from "../../components/routing.ts";
import { sleep } from "./processes.ts";
import type { LocalStack } from "./stack.ts";

/** The lines describeStack adds: writes-mirroring warnings and the cluster-only apps. */
export function ownAppNotes(stack: LocalStack): string[] {
  return [
    ...writeMirroringWarnings(stack.config).map((warning) => `warning: ${warning}`),
    ...stack.clusterOnly.map(({ app, reason }) => `${app}: cluster-only (${reason}); not started here`),
  ];
}

/** The apps of your own the local stack runs (the built-ins have their tutorials). */
export function ownAppsRunning(stack: LocalStack): App[] {
  return appList(stack.config).filter((app) => !app.builtIn && stack.services(app.name, "v1").length > 0);
}

/** `mirror_proxy_mirror_copies_sent_total` of one upstream key, from the proxy's admin /metrics. */
async function copiesSent(stack: LocalStack, key: string): Promise<number> {
  const text = await (await fetch(`${stack.adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`mirror_proxy_mirror_copies_sent_total{upstream="${key}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

async function send(stack: LocalStack, app: App, req: ExampleRequest): Promise<string> {
  const host = app.hosts[0] === "*" ? undefined : app.hosts[0].replace(/^\*\./, `${app.name}.`);
  try {
    // undici's request, not fetch: fetch may not set Host.
    const response = await request(`${stack.url}${req.path}`, {
      method: req.method as Dispatcher.HttpMethod,
      headers: { ...(host ? { host } : {}), ...req.headers, ...(req.cookie ? { cookie: req.cookie } : {}) },
      ...(req.method === "POST" ? { body: "{}" } : {}),
      signal: AbortSignal.timeout(5000),
    });
    const body = (await response.body.text()).trim();
    return `HTTP ${response.statusCode}${body ? `: ${body.length > 200 ? `${body.slice(0, 200)}...` : body}` : ""}`;
  } catch (error) {
    return `request failed: ${(error as Error).message}`;
  }
}

/** One app's tour: the selected request as a read, then as a write; v2's copies counted after each. */
export async function ownAppTour(stack: LocalStack, app: App, say: (line?: string) => void): Promise<void> {
  const writes = app.mirror.writes ? "writes mirrored too" : "writes not mirrored (only GET, HEAD, OPTIONS)";
  const shaped = app.mirror.copyHeaders
    ? `; the copy shaped: ${[...Object.keys(app.mirror.copyHeaders.set).map((name) => `${name} set`), ...app.mirror.copyHeaders.remove.map((name) => `${name} removed`)].join(", ")}`
    : "";
  say(`── Your app: ${app.name}, mirrorPercent ${app.mirrorPercent} %, ${writes}${shaped} ──`);
  const selected = mirroredRequest(app) ?? { method: "GET", path: app.curlPath, headers: {} };
  const key = upstreamKey(versionDestination(app, "v2", stack.config.namespace));
  const commands = curlCommands(stack.url, app);
  for (const method of ["GET", "POST"]) {
    const example = { ...selected, method };
    const before = await copiesSent(stack, key);
    const command = (commands[`${app.name}Mirrored`] ?? commands[app.name]).replace(/^curl -s/, method === "GET" ? "curl -s" : `curl -s -X ${method}`);
    say(`$ ${command}`);
    say(await send(stack, app, example));
    await sleep(200); // a copy leaves at once; give it time to be counted
    const copies = (await copiesSent(stack, key)) - before;
    say(`  → v2 received ${copies} ${copies === 1 ? "copy" : "copies"}${method !== "GET" && !app.mirror.writes ? " (a write: not mirrored)" : ""}`);
  }
  const logs = stack.processes.filter((proc) => proc.app === app.name).map((proc) => path.relative(process.cwd(), proc.logFile) || proc.logFile);
  say(`  each version's own log: ${logs.join(", ")}`);
}
