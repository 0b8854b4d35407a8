// Scaling the mirror proxy out with Kubernetes: a CPU-based HorizontalPodAutoscaler
// for its Deployment, and the pod's CPU/memory requests and limits sized from what
// `npm run bench` measured (CPU per request, peak RSS), so "target utilization"
// means "this many requests per second per pod".
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/**
 * What one proxy process costs, from `npm run bench` (bench/README.md), mirroring 100 %
 * to a fast shadow (the costliest case without comparison) on 2 cores, wrk 50 connections.
 * Update these with a new bench run when the hot path changes. From `npm run bench --
 * --rounds 3` on 2026-12-01 at 15:33 UTC (the config checked in a child process, node
 * --no-concurrent-recompilation): the median of the three rounds, rounded up.
 */
export const PROXY_BENCH = {
  /** CPU ms per 1,000 requests, proxy-fast (rounds: 93, 98, 107). */
  cpuMsPer1kRequests: 98,
  /** The same, comparing every answer (proxy-fast-compare; rounds: 136, 141, 138). */
  compareCpuMsPer1kRequests: 138,
  /** Peak RSS, MiB, one process mirroring (the highest of the proxy-* cases; rounds: 96.7, 96.5, 96.3). */
  peakRssMiB: 97,
  /** Peak RSS, MiB, one process comparing every answer (proxy-fast-compare; rounds: 98.2, 97.5, 97.7). */
  comparePeakRssMiB: 98,
  /** With --workers N: the primary process (it only holds the cluster and the admin port), MiB (npm run bench -- --workers 2 --rounds 3: 77.9, 78.3, ...). */
  clusterPrimaryRssMiB: 78,
} as const;

/** Head room over the measured peak for the memory limit (bursts of copies in flight, bodies held for comparison). */
const MEMORY_HEADROOM_MIB = 64;
/**
 * The config check's child process (workloads/mirror-proxy/src/configCheck.ts), beside one
 * serving process while it checks a reload, MiB: its peak RSS, 69-70 MB for ~0.2 s
 * (`/usr/bin/time` on configChecker.js with the image's node flags). In the limit: a reload
 * during a burst must not push the pod over it.
 */
export const CONFIG_CHECK_RSS_MIB = 72;
/**
 * With --workers N each worker checks reloads in-process (not N children at once), so it
 * holds the YAML parser and the schemas: what the serving process saved by the child, MiB
 * (idle and peak RSS, 77 -> 69 and 101 -> 93 MB, when they left it).
 */
export const IN_PROCESS_CHECK_MIB = 8;
/** One event loop does not use much more than one core. */
const CPU_PER_WORKER_MILLI = 1000;

export interface ProxyScaling {
  /** Fewest proxy pods; at least 2, so the PodDisruptionBudget (minAvailable 1) still lets a node drain. */
  minReplicas: number;
  /** Most proxy pods the autoscaler may run. */
  maxReplicas: number;
  /** Average CPU use, % of the pod's CPU request, the autoscaler keeps the pods at. */
  targetCpuUtilization: number;
  /** Requests per second one pod should carry at that utilization: sizes the CPU request. */
  targetRequestsPerSecond: number;
  /** Proxy processes per pod (`--workers`, node:cluster); > 1 only for pods given more than one CPU. */
  workers: number;
}

export const PROXY_SCALING_DEFAULTS: ProxyScaling = {
  minReplicas: 2,
  maxReplicas: 6,
  targetCpuUtilization: 70,
  targetRequestsPerSecond: 1000,
  workers: 1,
};

// Pulumi hands top-level values over as strings; `--path` values keep their YAML type.
const int = (min: number, max: number) =>
  z.union([z.number(), z.string()]).transform((raw, ctx) => {
    const n = typeof raw === "number" ? raw : raw.trim() === "" ? NaN : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: "custom", message: `an integer from ${min} to ${max}` });
      return z.NEVER;
    }
    return n;
  });

/** The `proxyScaling` stack config object (every key optional; defaults above). */
export const proxyScalingSchema = z.strictObject({
  minReplicas: int(2, 100).optional(),
  maxReplicas: int(2, 100).optional(),
  targetCpuUtilization: int(10, 100).optional(),
  targetRequestsPerSecond: int(1, 1_000_000).optional(),
  workers: int(1, 16).optional(),
});

export interface ProxyResources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/** CPU the pod uses at its target rate, divided by the target utilization: the CPU request, millicores. */
export function cpuRequestMilli(s: ProxyScaling, compare = false): number {
  const cpuMsPer1k = compare ? PROXY_BENCH.compareCpuMsPer1kRequests : PROXY_BENCH.cpuMsPer1kRequests;
  // (ms per request) x (requests per second) = ms of CPU per second = millicores.
  const used = (cpuMsPer1k / 1000) * s.targetRequestsPerSecond;
  return Math.ceil(used / (s.targetCpuUtilization / 100) / 10) * 10;
}

/**
 * The proxy container's requests and limits. CPU: request from cpuRequestMilli, limit one
 * core per worker (a Node event loop is single-threaded; a lower limit would throttle it
 * in the middle of requests). Memory: request the measured peak (per worker, each holding
 * the config check, plus the cluster's primary process), limit that plus head room, plus the
 * config check's child for one process.
 */
export function proxyResources(s: ProxyScaling, compare: boolean): ProxyResources {
  const perProcess = compare ? PROXY_BENCH.comparePeakRssMiB : PROXY_BENCH.peakRssMiB;
  const memory = s.workers > 1 ? s.workers * (perProcess + IN_PROCESS_CHECK_MIB) + PROXY_BENCH.clusterPrimaryRssMiB : perProcess;
  const mem = Math.ceil(memory / 16) * 16;
  const limit = mem + MEMORY_HEADROOM_MIB + (s.workers > 1 ? 0 : CONFIG_CHECK_RSS_MIB);
  return {
    requests: { cpu: `${cpuRequestMilli(s, compare)}m`, memory: `${mem}Mi` },
    limits: { cpu: `${s.workers * CPU_PER_WORKER_MILLI}m`, memory: `${limit}Mi` },
  };
}

/**
 * Applies the defaults and checks what the schema cannot see alone; problems name the key
 * (`prefix.key`), the value and what is allowed.
 */
export function resolveProxyScaling(
  raw: z.infer<typeof proxyScalingSchema> | undefined,
  prefix: string,
  compare = false,
): { scaling: ProxyScaling; problems: string[] } {
  const scaling: ProxyScaling = { ...PROXY_SCALING_DEFAULTS, ...Object.fromEntries(Object.entries(raw ?? {}).filter(([, v]) => v !== undefined)) };
  const problems: string[] = [];
  if (scaling.maxReplicas < scaling.minReplicas) {
    problems.push(`${prefix}.maxReplicas = ${scaling.maxReplicas}: expected at least minReplicas (${scaling.minReplicas})`);
  }
  const cpu = cpuRequestMilli(scaling, compare);
  const most = scaling.workers * CPU_PER_WORKER_MILLI;
  if (cpu > most) {
    const per1k = compare ? PROXY_BENCH.compareCpuMsPer1kRequests : PROXY_BENCH.cpuMsPer1kRequests;
    const fits = Math.floor(((most / 1000) * (scaling.targetCpuUtilization / 100) * 1_000_000) / per1k);
    problems.push(
      `${prefix}.targetRequestsPerSecond = ${scaling.targetRequestsPerSecond}: needs a ${cpu}m CPU request at ${scaling.targetCpuUtilization} % ` +
        `(${per1k} CPU ms per 1,000 requests, measured by npm run bench), more than ${scaling.workers} worker(s) can use (${most}m); ` +
        `expected at most ${fits}, or more workers`,
    );
  }
  return { scaling, problems };
}

/**
 * The `proxyScaling` stack config value as Pulumi hands it over (JSON text at the top level,
 * an object with `--path`, or absent), validated: the scaling to use, or problems naming
 * `key.field`, the value and what is allowed.
 */
export function parseProxyScalingConfig(raw: unknown, key: string, compare = false): { scaling: ProxyScaling; problems: string[] } {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return { scaling: PROXY_SCALING_DEFAULTS, problems: [`${key} = ${JSON.stringify(raw)}: expected a JSON object with ${Object.keys(proxyScalingSchema.shape).join(", ")}`] };
    }
  }
  const parsed = proxyScalingSchema.safeParse(value ?? {});
  if (!parsed.success) {
    return {
      scaling: PROXY_SCALING_DEFAULTS,
      problems: parsed.error.issues.map((i) =>
        i.code === "unrecognized_keys"
          ? `${key}: unknown key ${i.keys.join(", ")} (allowed: ${Object.keys(proxyScalingSchema.shape).join(", ")})`
          : i.path.length === 0
            ? `${key} = ${JSON.stringify(value)}: expected an object with ${Object.keys(proxyScalingSchema.shape).join(", ")}`
            : `${key}.${i.path.join(".")} = ${JSON.stringify((value as Record<string, unknown>)[String(i.path[0])])}: expected ${i.message}`,
      ),
    };
  }
  return resolveProxyScaling(parsed.data, key, compare);
}

export interface ProxyAutoscalerArgs {
  /** Namespace of the proxy Deployment. */
  namespace: pulumi.Input<string>;
  /** Name of the Deployment to scale (the HPA takes the same name). */
  deploymentName: string;
  /** Labels of the proxy objects. */
  labels: Record<string, string>;
  /** Replica bounds and target utilization. */
  scaling: ProxyScaling;
}

/** A CPU-based autoscaling/v2 HorizontalPodAutoscaler for the proxy Deployment. */
export class ProxyAutoscaler extends pulumi.ComponentResource {
  constructor(name: string, args: ProxyAutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:proxy:ProxyAutoscaler", name, {}, opts);
    const s = args.scaling;
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      args.deploymentName,
      {
        metadata: { name: args.deploymentName, namespace: args.namespace, labels: args.labels },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: args.deploymentName },
          minReplicas: s.minReplicas,
          maxReplicas: s.maxReplicas,
          metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: s.targetCpuUtilization } } }],
          // Scale down slowly: a proxy pod going away cuts its keep-alive clients over to the others.
          behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] } },
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
