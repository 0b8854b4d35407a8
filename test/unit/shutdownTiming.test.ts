// A pod's graceful stop must fit the kubelet's clock: terminationGracePeriodSeconds
// counts from the start of the preStop hook, and SIGKILL comes when it runs out. So the
// preStop sleep, then the process's own drain after SIGTERM, then its exit, must all
// end before it. Read from what the program renders and the workloads' own timeouts.
import { DEFAULT_SHUTDOWN_GRACE_MS } from "../../workloads/shared/http-service.ts";
import { DEFAULT_DRAIN_TIMEOUT_MS } from "../../workloads/mirror-proxy/src/proxy.ts";
import { byType, runProgram, T, useMockedMachine } from "../support/pulumiProgram";

/** Time left for the process to exit once its drain timed out. */
const EXIT_MARGIN_MS = 1000;

beforeAll(useMockedMachine);

/** The preStop `sleep N` of a container, in ms (0 without one). */
function preStopMs(container: Record<string, any>): number {
  const command: string[] | undefined = container.lifecycle?.preStop?.exec?.command;
  if (!command) return 0;
  expect(command[0]).toBe("sleep");
  return Number(command[1]) * 1000;
}

/** The drain timeout the container's process runs with. */
function drainMs(container: Record<string, any>): number {
  if (container.name !== "mirror-proxy") return DEFAULT_SHUTDOWN_GRACE_MS;
  const args: string[] = container.args ?? [];
  const i = args.indexOf("--drain-timeout");
  return i >= 0 ? Number(args[i + 1]) : DEFAULT_DRAIN_TIMEOUT_MS;
}

test.each(["proxy", "istio"])("mesh %s: every Deployment's preStop + drain + exit fits in terminationGracePeriodSeconds", async (mesh) => {
  const run = await runProgram({ nodeIp: "10.0.0.1", mesh });
  const deployments = byType(run, T.deployment);
  expect(deployments.length).toBeGreaterThanOrEqual(4);
  const budgets = deployments.map((d) => {
    const pod = d.inputs.spec.template.spec;
    const [container] = pod.containers;
    const needed = preStopMs(container) + drainMs(container) + EXIT_MARGIN_MS;
    return { deployment: d.inputs.metadata.name, neededMs: needed, graceMs: (pod.terminationGracePeriodSeconds ?? 30) * 1000 };
  });
  expect(budgets.filter((b) => b.neededMs > b.graceMs)).toEqual([]);
});
