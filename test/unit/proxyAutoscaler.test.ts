// The proxy scales out with Kubernetes: a CPU-based HorizontalPodAutoscaler for the
// mirror-proxy Deployment, requests/limits sized from the bench's CPU per request and
// peak RSS, and a PodDisruptionBudget consistent with the HPA's minimum.
import { cpuRequestMilli, IN_PROCESS_CHECK_MIB, parseProxyScalingConfig, PROXY_BENCH, PROXY_SCALING_DEFAULTS, proxyResources, proxyScalingSchema, resolveProxyScaling } from "../../components/proxyAutoscaler";
import { validateObject } from "../support/schemas";
import { named, ProgramRun, runProgram, T, useMockedMachine } from "../support/pulumiProgram";

beforeAll(useMockedMachine);

describe("mirror-proxy autoscaling (mesh: proxy)", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ nodeIp: "192.168.49.2", mesh: "proxy" });
  });

  test("renders an autoscaling/v2 HPA on CPU for the mirror-proxy Deployment, valid against the Kubernetes schema", () => {
    const hpa = named(run, T.hpa, "mirror-proxy").inputs;
    expect(hpa).toEqual({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "mirror-proxy", namespace: "mirror-demo", labels: { app: "mirror-proxy" } },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "mirror-proxy" },
        minReplicas: 2,
        maxReplicas: 6,
        metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
        behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] } },
      },
    });
    expect(validateObject(hpa)).toBe(true);
    // The Deployment it targets exists under that name.
    expect(named(run, T.deployment, hpa.spec.scaleTargetRef.name).inputs.kind).toBe("Deployment");
  });

  test("the PDB's minAvailable 1 stays below the HPA's minimum, and the Deployment starts at that minimum", () => {
    const hpa = named(run, T.hpa, "mirror-proxy").inputs.spec;
    const pdb = named(run, T.pdb, "mirror-proxy").inputs.spec;
    const deployment = named(run, T.deployment, "mirror-proxy").inputs.spec;
    expect(pdb.minAvailable).toBe(1);
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(2);
    expect(pdb.minAvailable).toBeLessThan(hpa.minReplicas);
    expect(deployment.replicas).toBe(hpa.minReplicas);
  });

  test("the proxy container's requests and limits come from the bench figures", () => {
    const [container] = named(run, T.deployment, "mirror-proxy").inputs.spec.template.spec.containers;
    // 98 CPU ms per 1,000 requests x 1,000 req/s = 98m used, / 70 % = 140m;
    // memory: 97 MiB peak RSS -> 112Mi, + 64Mi head room + 72Mi for the config check's child.
    expect(container.resources).toEqual({ requests: { cpu: "140m", memory: "112Mi" }, limits: { cpu: "1000m", memory: "248Mi" } });
    expect(container.args).toEqual(["--config", "/etc/mirror-proxy/routing.yaml"]);
  });
});

describe("proxy scaling settings", () => {
  test("CPU request = CPU ms per request x target req/s per pod / target utilization", () => {
    const s = { ...PROXY_SCALING_DEFAULTS, targetRequestsPerSecond: 2000, targetCpuUtilization: 50 };
    expect(cpuRequestMilli(s)).toBe(Math.ceil(((PROXY_BENCH.cpuMsPer1kRequests * 2) / 0.5) / 10) * 10);
    expect(cpuRequestMilli(s, true)).toBe(Math.ceil(((PROXY_BENCH.compareCpuMsPer1kRequests * 2) / 0.5) / 10) * 10);
  });

  test("more workers: a core and a measured process's memory each, plus the cluster's primary", () => {
    const r = proxyResources({ ...PROXY_SCALING_DEFAULTS, workers: 2, targetRequestsPerSecond: 3000 }, false);
    expect(r.limits.cpu).toBe("2000m");
    // Each worker checks reloads in-process (IN_PROCESS_CHECK_MIB); no checker child beside them.
    const mem = Math.ceil((2 * (PROXY_BENCH.peakRssMiB + IN_PROCESS_CHECK_MIB) + PROXY_BENCH.clusterPrimaryRssMiB) / 16) * 16;
    expect(r.requests.memory).toBe(`${mem}Mi`);
    expect(r.limits.memory).toBe(`${mem + 64}Mi`);
  });

  test("rejects bounds that cannot hold, naming the key, the value and what is allowed", () => {
    expect(proxyScalingSchema.safeParse({ minReplicas: 1 }).error?.issues[0]).toMatchObject({ path: ["minReplicas"], message: "an integer from 2 to 100" });
    expect(proxyScalingSchema.safeParse({ targetCpuUtilization: "150" }).success).toBe(false);
    expect(proxyScalingSchema.safeParse({ maxReplica: 3 }).success).toBe(false);
    expect(proxyScalingSchema.parse({ maxReplicas: "8", workers: 2 })).toEqual({ maxReplicas: 8, workers: 2 });

    expect(resolveProxyScaling({ minReplicas: 4, maxReplicas: 3 }, "traffic-mirroring:proxyScaling").problems).toEqual([
      "traffic-mirroring:proxyScaling.maxReplicas = 3: expected at least minReplicas (4)",
    ]);
    const [tooFast] = resolveProxyScaling({ targetRequestsPerSecond: 10000 }, "p").problems;
    expect(tooFast).toMatch(/^p\.targetRequestsPerSecond = 10000: needs a \d+m CPU request at 70 % .* more than 1 worker\(s\) can use \(1000m\); expected at most \d+, or more workers$/);
    expect(resolveProxyScaling({ targetRequestsPerSecond: 10000, workers: 3 }, "p").problems).toEqual([]);
    expect(resolveProxyScaling(undefined, "p")).toEqual({ scaling: PROXY_SCALING_DEFAULTS, problems: [] });
  });
});

describe("the proxyScaling stack config value", () => {
  const KEY = "traffic-mirroring:proxyScaling";
  test("JSON text (top-level pulumi config) or an object (--path); absent = defaults", () => {
    expect(parseProxyScalingConfig('{"maxReplicas": 10, "targetCpuUtilization": "60"}', KEY)).toEqual({
      scaling: { ...PROXY_SCALING_DEFAULTS, maxReplicas: 10, targetCpuUtilization: 60 },
      problems: [],
    });
    expect(parseProxyScalingConfig({ minReplicas: 3 }, KEY).scaling.minReplicas).toBe(3);
    expect(parseProxyScalingConfig(undefined, KEY)).toEqual({ scaling: PROXY_SCALING_DEFAULTS, problems: [] });
  });

  test("every problem names the key, the value and what is allowed", () => {
    expect(parseProxyScalingConfig("{oops", KEY).problems).toEqual([
      `${KEY} = "{oops": expected a JSON object with minReplicas, maxReplicas, targetCpuUtilization, targetRequestsPerSecond, workers`,
    ]);
    expect(parseProxyScalingConfig({ minReplicas: 1, maxReplica: 4 }, KEY).problems.sort()).toEqual([
      `${KEY}.minReplicas = 1: expected an integer from 2 to 100`,
      `${KEY}: unknown key maxReplica (allowed: minReplicas, maxReplicas, targetCpuUtilization, targetRequestsPerSecond, workers)`,
    ]);
    expect(parseProxyScalingConfig(7, KEY).problems).toEqual([`${KEY} = 7: expected an object with minReplicas, maxReplicas, targetCpuUtilization, targetRequestsPerSecond, workers`]);
    expect(parseProxyScalingConfig({ minReplicas: 5, maxReplicas: 3 }, KEY).problems).toEqual([`${KEY}.maxReplicas = 3: expected at least minReplicas (5)`]);
  });
});

describe("proxyScaling from the stack config (the program under mocks)", () => {
  test("bounds, target and workers reach the HPA, the container's resources and its --workers", async () => {
    const scaling = { minReplicas: 3, maxReplicas: 8, targetCpuUtilization: 60, targetRequestsPerSecond: 2000, workers: 2 };
    const run = await runProgram({ nodeIp: "192.168.49.2", mesh: "proxy", proxyScaling: JSON.stringify(scaling) });
    const hpa = named(run, T.hpa, "mirror-proxy").inputs;
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 8, metrics: [{ resource: { target: { averageUtilization: 60 } } }] });
    expect(validateObject(hpa)).toBe(true);
    const deployment = named(run, T.deployment, "mirror-proxy").inputs;
    expect(deployment.spec.replicas).toBe(3);
    const [container] = deployment.spec.template.spec.containers;
    expect(container.args.slice(-2)).toEqual(["--workers", "2"]);
    // 98 ms/1k x 2,000 req/s = 196m used, / 60 % = 327m -> 330m; 2 x (97 + 8 for the in-process check) + 78 = 288Mi.
    expect(container.resources).toEqual({ requests: { cpu: "330m", memory: "288Mi" }, limits: { cpu: "2000m", memory: "352Mi" } });
    expect(validateObject(deployment)).toBe(true);
  });

  test("a bad proxyScaling fails the program, naming the key", async () => {
    await expect(runProgram({ nodeIp: "192.168.49.2", mesh: "proxy", proxyScaling: '{"minReplicas": 1}' })).rejects.toThrow(
      "traffic-mirroring:proxyScaling.minReplicas = 1: expected an integer from 2 to 100",
    );
  });
});
