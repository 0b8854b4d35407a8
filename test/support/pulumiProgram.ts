// Runs the Pulumi program (index.ts) under Pulumi's unit-test mocks, one stack
// config per fresh module registry, and records every resource it registers.
// No Pulumi CLI and no cluster: the program is real, the engine is mocked.

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
  provider?: string;
}

export interface ProgramRun {
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
}

/** Pulumi type tokens of the resources the program registers. */
export const T = {
  namespace: "kubernetes:core/v1:Namespace",
  deployment: "kubernetes:apps/v1:Deployment",
  service: "kubernetes:core/v1:Service",
  configMap: "kubernetes:core/v1:ConfigMap",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  gateway: "kubernetes:networking.istio.io/v1:Gateway",
  destinationRule: "kubernetes:networking.istio.io/v1:DestinationRule",
  virtualService: "kubernetes:networking.istio.io/v1:VirtualService",
  gatewayApiGateway: "kubernetes:gateway.networking.k8s.io/v1:Gateway",
  httpRoute: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
  image: "docker:index/image:Image",
};

/** Hermetic: never ask a real minikube; build images for a fake Docker daemon. */
export function useMockedMachine(): void {
  process.env.MINIKUBE_BIN = "/nonexistent/minikube";
  // As `eval $(minikube docker-env)` sets it.
  process.env.DOCKER_HOST = "tcp://192.168.49.2:2376";
  process.env.MINIKUBE_ACTIVE_DOCKERD = "minikube";
  delete process.env.DOCKER_TLS_VERIFY;
}

/** `<type>/<metadata name>` of each resource whose inputs differ between two runs of the same shape. */
export function changedResources(before: ProgramRun, after: ProgramRun): string[] {
  expect(after.resources.map((r) => `${r.type}/${r.name}`)).toEqual(before.resources.map((r) => `${r.type}/${r.name}`));
  return before.resources
    .filter((resource, i) => JSON.stringify(resource.inputs) !== JSON.stringify(after.resources[i].inputs))
    .map((resource) => `${resource.type}/${resource.inputs.metadata?.name}`)
    .sort();
}

/** The ingress gateway Service as the mocked cluster reports it. */
export const MOCK_INGRESS_NODE_PORT = 31380;

type MockOptions = {
  /** The program to run, relative to the repo root (default: the stack's own index.ts). */
  program?: string;
  /** Ports of istio-system/istio-ingressgateway in the mocked cluster. */
  ingressPorts?: Array<{ name: string; port: number; nodePort?: number }>;
  /** How `mesh: auto` decides; by default the mocked cluster serves Istio's CRD. */
  detectMesh?: (input?: any) => Promise<{ mesh: "istio" | "proxy" | "gateway-api"; reason: string; gatewayClass?: { name: string; controllerName: string }; istioVersion?: string }>;
  /** mesh gateway-api: the GatewayClasses of the mocked cluster (name -> controller); default: istio's. */
  gatewayClasses?: Record<string, string>;
  /** What the mocked cluster writes into the Gateway's status.addresses; default none. */
  gatewayAddresses?: string[];
  /** Ports of the Gateway's own Service `<gateway>-<class>`; default one named http with MOCK_GATEWAY_NODE_PORT. */
  gatewayServicePorts?: Array<{ name: string; port: number; nodePort?: number }>;
};

/** Node port of the Gateway API Gateway's Service in the mocked cluster. */
export const MOCK_GATEWAY_NODE_PORT = 31080;

/** Node port the mocked API server gives NodePort Services that ask for none. */
export const MOCK_ALLOCATED_NODE_PORT = 30999;

/** What the API server fills in: node ports of NodePort Services. */
function serverState(type: string, inputs: Record<string, any>): Record<string, any> {
  if (type !== "kubernetes:core/v1:Service" || inputs.spec?.type !== "NodePort") return inputs;
  const ports = inputs.spec.ports.map((port: any) => ({ nodePort: MOCK_ALLOCATED_NODE_PORT, ...port }));
  return { ...inputs, spec: { ...inputs.spec, ports } };
}

async function resolveOutput(pulumi: typeof import("@pulumi/pulumi"), value: unknown): Promise<unknown> {
  // Stack exports may be promises of outputs: await, then unwrap.
  const settled = await value;
  // Output's internal promise rejects when an apply throws, unlike apply().
  if (pulumi.Output.isInstance(settled)) return (settled as unknown as { promise(): Promise<unknown> }).promise();
  return settled;
}

/**
 * Imports the program with the given `traffic-mirroring:*` config (plain keys,
 * e.g. `{ mirrorPercent: "25" }`) and returns what it registered and exported.
 * A config error surfaces as the rejection of this promise.
 */
export async function runProgram(config: Record<string, string>, options: MockOptions = {}): Promise<ProgramRun> {
  const resources: RecordedResource[] = [];
  const outputs: Record<string, unknown> = {};
  const ingressPorts = options.ingressPorts ?? [
    { name: "status-port", port: 15021, nodePort: 30021 },
    { name: "http2", port: 80, nodePort: MOCK_INGRESS_NODE_PORT },
    { name: "https", port: 443, nodePort: 30443 },
  ];

  // Each fresh copy of the Pulumi SDK adds its own process exit hooks.
  process.setMaxListeners(100);
  await jest.isolateModulesAsync(async () => {
    const pulumi: typeof import("@pulumi/pulumi") = require("@pulumi/pulumi");
    await pulumi.runtime.setMocks(
      {
        newResource(args) {
          resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
          // `Service.get` of the Istio ingress gateway: answer as a cluster would.
          if (args.type === "kubernetes:core/v1:Service" && args.id === "istio-system/istio-ingressgateway") {
            return { id: args.id, state: { spec: { type: "LoadBalancer", ports: ingressPorts } } };
          }
          // `Service.get` of the Gateway API Gateway's Service.
          if (args.type === "kubernetes:core/v1:Service" && args.id) {
            const ports = options.gatewayServicePorts ?? [{ name: "http", port: 80, nodePort: MOCK_GATEWAY_NODE_PORT }];
            return { id: args.id, state: { spec: { type: "LoadBalancer", ports } } };
          }
          if (args.type === "kubernetes:gateway.networking.k8s.io/v1:Gateway") {
            const addresses = (options.gatewayAddresses ?? []).map((value) => ({ type: "IPAddress", value }));
            return { id: `${args.name}-id`, state: { ...args.inputs, status: { addresses } } };
          }
          return { id: `${args.name}-id`, state: serverState(args.type, args.inputs) };
        },
        call(args) {
          return args.inputs;
        },
      },
      "traffic-mirroring",
      "dev",
      false, // preview off: unknown outputs never resolve under preview
    );
    pulumi.runtime.setAllConfig(
      Object.fromEntries(Object.entries(config).map(([key, value]) => [`traffic-mirroring:${key}`, value])),
    );

    const detectMesh =
      options.detectMesh ?? (async () => ({ mesh: "istio" as const, reason: "the mocked cluster serves the CRD" }));
    const meshDetect = require("../../components/meshDetect");
    meshDetect.setMeshDetector(detectMesh);
    const classes = options.gatewayClasses ?? { istio: "istio.io/gateway-controller" };
    meshDetect.setGatewayClassLookup(async (name: string) =>
      classes[name] ? { name, controllerName: classes[name], accepted: true } : undefined,
    );
    const program = require(`../../${options.program ?? "index"}`);
    // Settle every export together, so one failing apply leaves no other rejection unhandled.
    const entries = Object.entries(program);
    const settled = await Promise.allSettled(entries.map(([, value]) => resolveOutput(pulumi, value)));
    settled.forEach((result, i) => {
      if (result.status === "rejected") throw result.reason;
      outputs[entries[i][0]] = result.value;
    });
    // Let the last registrations land before the caller looks.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  });
  return { resources, outputs };
}

export function byType(run: ProgramRun, type: string): RecordedResource[] {
  return run.resources.filter((resource) => resource.type === type);
}

export function named(run: ProgramRun, type: string, metadataName: string): RecordedResource {
  const found = byType(run, type).find((resource) => resource.inputs.metadata?.name === metadataName);
  if (!found) {
    const names = byType(run, type).map((resource) => resource.inputs.metadata?.name);
    throw new Error(`no ${type} named ${metadataName} (have: ${names.join(", ")})`);
  }
  return found;
}
