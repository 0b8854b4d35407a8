// Where `npm run verdict` reads the comparison from: every proxy replica's
// admin `/compare/stats` (the mergeable form, see
// workloads/mirror-proxy/src/compare/stats.ts). The replicas are the local
// stack's proxy (the state file of `npm run demo`), the `--admin` URLs given,
// and in a cluster every pod `app=mirror-proxy` of the stack's namespace,
// found through the Kubernetes API and reached through a port-forward (or
// its pod IP when run inside the cluster).
import net from "node:net";
import { checkStats, type CompareStats } from "../../workloads/mirror-proxy/src/compare/stats.ts";
import { PROXY_NAME, PROXY_PORTS } from "../../components/proxyConfig.ts";
import { kubeconfigPath } from "./kube.ts";
import { defaultStateFile, stackLiveness } from "./state.ts";

export interface ReplicaStats {
  /** Where it came from: `local stack`, `--admin`, `pod <name>`. */
  source: string;
  url: string;
  stats: CompareStats;
}

export interface Gathered {
  replicas: ReplicaStats[];
  /** Replicas that were found but could not be read: the verdict cannot be complete. */
  failures: string[];
  /** Sources skipped, and why (no local stack, no cluster). */
  notes: string[];
}

/** The admin token header, when the proxy's comparison endpoints need one. */
export interface FetchOptions {
  token?: string;
  timeoutMs?: number;
}

/** One replica's `/compare/stats`, checked; an error naming the URL and what is wrong. */
export async function fetchStats(adminUrl: string, options: FetchOptions = {}): Promise<CompareStats> {
  const url = `${adminUrl.replace(/\/+$/, "")}/compare/stats`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 5000), headers: options.token ? { authorization: `Bearer ${options.token}` } : {} });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  if (response.status === 404) throw new Error(`${url}: HTTP 404 (${text.trim().slice(0, 200)}): comparison is off on this proxy, or it predates /compare/stats`);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${text.trim().slice(0, 200)}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${url}: not JSON (${text.slice(0, 80)})`);
  }
  const problem = checkStats(value);
  if (problem) throw new Error(`${url}: not a comparison statistics document: ${problem}`);
  return value as CompareStats;
}

async function readAll(targets: Array<{ source: string; url: string }>, options: FetchOptions, into: Gathered): Promise<void> {
  const results = await Promise.allSettled(targets.map((t) => fetchStats(t.url, options)));
  results.forEach((r, i) => {
    if (r.status === "fulfilled") into.replicas.push({ ...targets[i], stats: r.value });
    else into.failures.push(`${targets[i].source}: ${(r.reason as Error).message}`);
  });
}

export interface GatherOptions extends FetchOptions {
  projectDir: string;
  /** Read the local stack's proxy when one runs. */
  local: boolean;
  admins: string[];
  /** "auto": when a kubeconfig (or in-cluster account) exists; "on": required; "off": never. */
  kubernetes: "auto" | "on" | "off";
  namespace: () => string;
  env?: NodeJS.ProcessEnv;
}

export async function gather(options: GatherOptions): Promise<Gathered> {
  const into: Gathered = { replicas: [], failures: [], notes: [] };
  const targets: Array<{ source: string; url: string }> = [];
  if (options.local) {
    const local = stackLiveness(defaultStateFile(options.projectDir));
    if (local.kind === "running") targets.push({ source: `local stack (npm run demo, pid ${local.state.pid})`, url: local.state.adminUrl });
    else into.notes.push("local stack: none running (npm run demo)");
  }
  for (const url of options.admins) targets.push({ source: "--admin", url });
  await readAll(targets, options, into);
  const env = options.env ?? process.env;
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST);
  if (options.kubernetes === "off") return into;
  if (options.kubernetes === "auto" && !kubeconfigPath(env) && !inCluster) {
    into.notes.push("cluster: skipped, no kubeconfig (KUBECONFIG or ~/.kube/config) and not inside a cluster");
    return into;
  }
  try {
    await gatherPods(options.namespace(), inCluster, options, into);
  } catch (error) {
    const message = `cluster: ${(error as Error).message}`;
    if (options.kubernetes === "on") into.failures.push(message);
    else into.notes.push(`${message} (skipped; --kubernetes makes it an error)`);
  }
  return into;
}

type KubernetesClient = typeof import("@kubernetes/client-node");

async function gatherPods(namespace: string, inCluster: boolean, options: FetchOptions, into: Gathered): Promise<void> {
  // A real dynamic import: @kubernetes/client-node is ESM-only and costs nothing without a cluster.
  const k8s = (await (new Function("s", "return import(s)") as (s: string) => Promise<KubernetesClient>)("@kubernetes/client-node"));
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const labelSelector = `app=${PROXY_NAME}`;
  let pods;
  try {
    pods = await core.listNamespacedPod({ namespace, labelSelector });
  } catch (error) {
    const code = (error as { code?: number }).code;
    throw new Error(`listing pods ${labelSelector} in namespace ${namespace} (context ${kc.getCurrentContext()}) failed${code ? ` (HTTP ${code})` : ""}: ${(error as Error).message.slice(0, 200)}`);
  }
  const running = pods.items.filter((p) => p.status?.phase === "Running" && p.metadata?.name);
  if (running.length === 0) {
    into.notes.push(`cluster: no running pod ${labelSelector} in namespace ${namespace} (context ${kc.getCurrentContext()})`);
    return;
  }
  const port = PROXY_PORTS.admin;
  if (inCluster) {
    await readAll(running.map((p) => ({ source: `pod ${p.metadata!.name}`, url: `http://${p.status!.podIP}:${port}` })), options, into);
    return;
  }
  // Outside the cluster: one local listener per pod, each connection port-forwarded to the pod's admin port
  // (as kubectl port-forward does; it reaches a port bound to the pod's loopback too).
  const forward = new k8s.PortForward(kc);
  const servers: net.Server[] = [];
  try {
    const targets = await Promise.all(
      running.map(async (p) => {
        const name = p.metadata!.name!;
        const server = net.createServer((socket) => {
          forward.portForward(namespace, name, [port], socket, null, socket).catch((error: Error) => socket.destroy(error));
        });
        servers.push(server);
        await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
        return { source: `pod ${name} (port-forward)`, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` };
      }),
    );
    await readAll(targets, options, into);
  } finally {
    for (const s of servers) s.close();
  }
}
