// The demo pods' logs through the Kubernetes API (what `kubectl logs -l
// app=<app>,version=<v>` shows), for `npm run logs -- --kubernetes` and the
// live integration test. @kubernetes/client-node is ESM-only: loaded lazily,
// so nothing here costs anything without a cluster.
import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import type { AppName, Version } from "../../components/apps.ts";

type KubernetesClient = typeof import("@kubernetes/client-node");

let client: Promise<KubernetesClient> | undefined;
function loadClient(): Promise<KubernetesClient> {
  // A real dynamic import (not rewritten to require by a CommonJS compile).
  const dynamicImport = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<KubernetesClient>;
  client ??= dynamicImport("@kubernetes/client-node");
  return client;
}

/** The kubeconfig file kubectl would use, if one exists. */
export function kubeconfigPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = env.KUBECONFIG ? env.KUBECONFIG.split(path.delimiter).filter(Boolean) : [path.join(os.homedir(), ".kube", "config")];
  return candidates.find((file) => existsSync(file));
}

export function podSelector(app: AppName, version: Version): string {
  return `app=${app},version=${version}`;
}

export interface PodLogs {
  pod: string;
  lines: string[];
}

export interface KubeLogs {
  /** Logs of every pod `app=<app>,version=<version>` in `namespace`, container `<app>`. */
  read(app: AppName, version: Version, options?: { tailLines?: number; sinceSeconds?: number }): Promise<PodLogs[]>;
  /** Streams new lines of those pods until `signal` aborts; resolves when every stream ended. */
  follow(app: AppName, version: Version, onLine: (pod: string, line: string) => void, options: { tailLines: number; signal: AbortSignal }): Promise<void>;
  context: string;
}

function describeKubeError(error: unknown, what: string): Error {
  const body = (error as { body?: unknown }).body;
  const code = (error as { code?: number }).code;
  const detail = typeof body === "string" ? body : body ? JSON.stringify(body) : (error as Error).message;
  return new Error(`${what} failed${code ? ` (HTTP ${code})` : ""}: ${String(detail).slice(0, 300)}`);
}

export async function connectKube(namespace: string): Promise<KubeLogs> {
  if (!kubeconfigPath() && !process.env.KUBERNETES_SERVICE_HOST) {
    throw new Error("no kubeconfig to reach the cluster: set KUBECONFIG or create ~/.kube/config (e.g. minikube start)");
  }
  const k8s = await loadClient();
  const kubeConfig = new k8s.KubeConfig();
  try {
    kubeConfig.loadFromDefault();
  } catch (error) {
    throw new Error(`cannot load a kubeconfig (KUBECONFIG or ~/.kube/config): ${(error as Error).message}`);
  }
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const context = kubeConfig.getCurrentContext();

  async function pods(app: AppName, version: Version): Promise<string[]> {
    const labelSelector = podSelector(app, version);
    try {
      const list = await core.listNamespacedPod({ namespace, labelSelector });
      return list.items.map((pod) => pod.metadata?.name).filter((name): name is string => Boolean(name)).sort();
    } catch (error) {
      throw describeKubeError(error, `listing pods ${labelSelector} in namespace ${namespace} (context ${context})`);
    }
  }

  return {
    context,
    async read(app, version, options = {}) {
      const names = await pods(app, version);
      return Promise.all(
        names.map(async (name) => {
          try {
            const text = await core.readNamespacedPodLog({ name, namespace, container: app, ...options });
            return { pod: name, lines: String(text).split("\n").filter(Boolean) };
          } catch (error) {
            throw describeKubeError(error, `reading the log of pod ${name}, container ${app}`);
          }
        }),
      );
    },
    async follow(app, version, onLine, options) {
      const names = await pods(app, version);
      const log = new k8s.Log(kubeConfig);
      await Promise.all(
        names.map(async (name) => {
          let partial = "";
          const finished = new Promise<void>((resolve) => {
            const sink = new Writable({
              write(chunk: Buffer, _encoding, done) {
                const text = partial + chunk.toString("utf8");
                const lines = text.split("\n");
                partial = lines.pop() ?? "";
                for (const line of lines) if (line) onLine(name, line);
                done();
              },
              final(done) {
                if (partial) onLine(name, partial);
                done();
                resolve();
              },
            });
            sink.on("close", resolve);
            sink.on("error", () => resolve());
            options.signal.addEventListener("abort", () => resolve(), { once: true });
            void log
              .log(namespace, name, app, sink, { follow: true, tailLines: options.tailLines })
              .then((controller) => options.signal.addEventListener("abort", () => controller.abort(), { once: true }))
              .catch((error: unknown) => {
                onLine(name, `(cannot follow: ${describeKubeError(error, "log stream").message})`);
                resolve();
              });
          });
          await finished;
        }),
      );
    },
  };
}
