// `mesh: auto`: Istio when the cluster serves Istio's VirtualService CRD,
// else our mirror proxy. The detector is swappable so tests (and users
// without API access) can decide without a cluster.
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./config";
import { checkGatewayApiSupport, Finding, knownController, RoutingNeeds } from "./gatewayApiSupport";

export const ISTIO_VIRTUALSERVICE_CRD = "virtualservices.networking.istio.io";

export interface MeshDecision {
  mesh: "istio" | "proxy" | "gateway-api";
  /** Why, in words printed to the user. */
  reason: string;
  /** gateway-api: the accepted GatewayClass chosen, and its controller. */
  gatewayClass?: GatewayClassInfo;
  /** istio: the version istiod runs, when the cluster tells (compatibility warnings). */
  istioVersion?: string;
}

/** What the routing asks of a data plane, and the GatewayClass the config allows (if it names one). */
export interface DetectInput {
  needs: RoutingNeeds;
  gatewayClassName?: string;
}

export type MeshDetector = (input?: DetectInput) => Promise<MeshDecision>;

const DETECT_TIMEOUT_MS = 15_000;

function unreachable(cause: string): pulumi.RunError {
  return new pulumi.RunError(
    `mesh is "auto" but the cluster could not be asked whether it serves ${ISTIO_VIRTUALSERVICE_CRD} (${cause}). ` +
      `Set the data plane explicitly: pulumi config set ${PROJECT}:mesh istio   (or proxy)`,
  );
}

/** Versions of a CRD (`spec.versions`) as the API server returns it. */
export interface CrdVersions {
  spec?: { versions?: Array<{ name?: string; served?: boolean }> };
}

/**
 * The program applies `networking.istio.io/v1` objects, which Istio serves from 1.22 on.
 * An older Istio has the CRD without a served v1: say so and what to do (undefined when v1 is served).
 */
export function istioWithoutV1(crd: CrdVersions, context: string): pulumi.RunError | undefined {
  const versions = crd.spec?.versions ?? [];
  if (versions.some((v) => v.name === "v1" && v.served)) return undefined;
  const served = versions.filter((v) => v.served).map((v) => v.name).join(", ") || "none";
  return new pulumi.RunError(
    `the cluster (context ${context}) has Istio's CRD ${ISTIO_VIRTUALSERVICE_CRD} but does not serve its version v1 (served: ${served}): ` +
      `Istio is older than 1.22, and this program applies networking.istio.io/v1 objects. Upgrade Istio to 1.22 or later ` +
      `(istioctl upgrade), or deploy our mirror proxy instead: pulumi config set ${PROJECT}:mesh proxy`,
  );
}

/** Asks the cluster of the current kubeconfig context for Istio's CRD (and that it serves v1). */
export async function detectMeshFromCluster(): Promise<MeshDecision> {
  // ESM-only package: loaded lazily (Node 24 require()s ESM).
  const k8s = await import("@kubernetes/client-node");
  const kubeConfig = new k8s.KubeConfig();
  try {
    kubeConfig.loadFromDefault();
  } catch (err) {
    throw unreachable(`no usable kubeconfig: ${(err as Error).message}`);
  }
  const context = kubeConfig.getCurrentContext() || "(none)";
  const api = kubeConfig.makeApiClient(k8s.ApiextensionsV1Api);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${DETECT_TIMEOUT_MS / 1000} s`)), DETECT_TIMEOUT_MS);
  });
  try {
    const crd = await Promise.race([api.readCustomResourceDefinition({ name: ISTIO_VIRTUALSERVICE_CRD }), timeout]);
    const tooOld = istioWithoutV1(crd, context);
    if (tooOld) throw tooOld;
    return { mesh: "istio", reason: `the cluster (context ${context}) serves the CRD ${ISTIO_VIRTUALSERVICE_CRD}` };
  } catch (err) {
    if (err instanceof pulumi.RunError) throw err;
    const code = (err as { code?: number }).code;
    if (code === 404) {
      return { mesh: "proxy", reason: `the cluster (context ${context}) has no CRD ${ISTIO_VIRTUALSERVICE_CRD}: Istio is absent` };
    }
    throw unreachable(`context ${context}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- Gateway API (second question of auto)

export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";

export interface GatewayClassInfo {
  name: string;
  controllerName: string;
  /** Its `Accepted` condition is True: a controller runs for it. */
  accepted?: boolean;
}

/** What the cluster says about Gateway API. */
export interface GatewayApiFacts {
  /** `gateway.networking.k8s.io/v1` lists `httproutes`. */
  httpRoutesServed: boolean;
  classes: GatewayClassInfo[];
}

type GatewayClassObject = {
  metadata?: { name?: string };
  spec?: { controllerName?: string };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
};

function classInfo(object: GatewayClassObject): GatewayClassInfo {
  const accepted = (object.status?.conditions ?? []).some((c) => c.type === "Accepted" && c.status === "True");
  return { name: object.metadata?.name ?? "", controllerName: object.spec?.controllerName ?? "", accepted };
}

async function withDeadline<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${DETECT_TIMEOUT_MS / 1000} s`)), DETECT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function customObjectsApi() {
  const k8s = await import("@kubernetes/client-node");
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromDefault();
  return { api: kubeConfig.makeApiClient(k8s.CustomObjectsApi), context: kubeConfig.getCurrentContext() || "(none)" };
}

/** Asks the cluster whether it serves v1 HTTPRoutes, and for its GatewayClasses. */
export async function askGatewayApi(): Promise<GatewayApiFacts & { context: string }> {
  const { api, context } = await customObjectsApi();
  try {
    const resources = await withDeadline(api.getAPIResources({ group: GATEWAY_API_GROUP, version: "v1" }));
    const httpRoutesServed = resources.resources.some((r) => r.name === "httproutes");
    if (!httpRoutesServed) return { httpRoutesServed, classes: [], context };
    const list = (await withDeadline(
      api.listClusterCustomObject({ group: GATEWAY_API_GROUP, version: "v1", plural: "gatewayclasses" }),
    )) as { items?: GatewayClassObject[] };
    return { httpRoutesServed, classes: (list.items ?? []).map(classInfo), context };
  } catch (err) {
    if ((err as { code?: number }).code === 404) return { httpRoutesServed: false, classes: [], context };
    throw err;
  }
}

/** One GatewayClass by name (mesh gateway-api: whose controller the compatibility check asks about). */
export async function readGatewayClass(name: string): Promise<GatewayClassInfo | undefined> {
  const { api } = await customObjectsApi();
  try {
    const object = (await withDeadline(
      api.getClusterCustomObject({ group: GATEWAY_API_GROUP, version: "v1", plural: "gatewayclasses", name }),
    )) as GatewayClassObject;
    return classInfo(object);
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

function describeClass(c: GatewayClassInfo): string {
  const known = knownController(c.controllerName);
  return `${c.name} (${c.controllerName}${known ? `, ${known.name}` : ""})`;
}

/**
 * Pure: the Gateway API answer of `auto`, from the cluster's facts and the
 * routing's needs. An accepted class whose controller is known to lack a
 * need is passed over (it would silently not mirror); a class with no
 * failing need is chosen, fully confirmed ones first, then by name.
 */
export function decideGatewayApi(facts: GatewayApiFacts, input: DetectInput): { decision?: MeshDecision; findings: Finding[]; reason: string } {
  if (!facts.httpRoutesServed) return { findings: [], reason: `Gateway API is not served (no ${GATEWAY_API_GROUP}/v1 httproutes)` };
  const accepted = facts.classes.filter((c) => c.accepted && (!input.gatewayClassName || c.name === input.gatewayClassName));
  const wanted = input.gatewayClassName ? `GatewayClass ${input.gatewayClassName}` : "GatewayClass";
  if (accepted.length === 0) {
    const seen = facts.classes.map((c) => `${c.name}${c.accepted ? "" : " (not accepted)"}`).join(", ") || "none";
    return { findings: [], reason: `Gateway API is served but no accepted ${wanted} (classes: ${seen})` };
  }
  const rated = accepted
    .map((c) => ({ c, findings: checkGatewayApiSupport(input.needs, c) }))
    .map((r) => ({ ...r, fails: r.findings.filter((f) => f.level === "fail"), warns: r.findings.filter((f) => f.level === "warn").length }));
  const usable = rated.filter((r) => r.fails.length === 0).sort((a, b) => a.warns - b.warns || a.c.name.localeCompare(b.c.name));
  if (usable.length === 0) {
    const why = rated.map((r) => r.fails.map((f) => f.message).join("; ")).join("; ");
    return { findings: rated.flatMap((r) => r.fails), reason: `Gateway API is served, but no accepted GatewayClass can mirror as configured: ${why}` };
  }
  const chosen = usable[0];
  return {
    decision: {
      mesh: "gateway-api",
      reason: `Gateway API HTTPRoutes are served and GatewayClass ${describeClass(chosen.c)} is accepted (accepted: ${accepted.map((c) => c.name).join(", ")})`,
      gatewayClass: { name: chosen.c.name, controllerName: chosen.c.controllerName },
    },
    findings: chosen.findings,
    reason: "",
  };
}

/** `docker.io/istio/pilot:1.28.1-distroless` -> `1.28.1`; undefined for a tag that is no version. */
export function istioVersionOfImage(image: string | undefined): string | undefined {
  const tag = image?.slice(image.lastIndexOf(":") + 1) ?? "";
  return /^\d+\.\d+\.\d+/.exec(tag)?.[0];
}

/** The version of istiod (Deployment istio-system/istiod, its image tag); undefined when it cannot be told. */
export async function readIstioVersion(): Promise<string | undefined> {
  try {
    const k8s = await import("@kubernetes/client-node");
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromDefault();
    const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
    const istiod = await withDeadline(apps.readNamespacedDeployment({ name: "istiod", namespace: "istio-system" }));
    return istioVersionOfImage(istiod.spec?.template.spec?.containers[0]?.image);
  } catch {
    return undefined; // a revisioned or external control plane: the version stays unknown
  }
}

/** `auto` in order: 1. Istio's VirtualService CRD, 2. Gateway API with an accepted class that can mirror as asked, 3. the proxy. */
export async function detectDataPlane(input: DetectInput = { needs: new Set() }): Promise<MeshDecision> {
  const istio = await detectMeshFromCluster();
  if (istio.mesh === "istio") {
    const istioVersion = await readIstioVersion();
    return { ...istio, reason: `1. ${istio.reason}`, ...(istioVersion ? { istioVersion } : {}) };
  }
  let facts: GatewayApiFacts;
  try {
    facts = await askGatewayApi();
  } catch (err) {
    throw unreachable(`asking for ${GATEWAY_API_GROUP}/v1: ${(err as Error).message}`);
  }
  const gatewayApi = decideGatewayApi(facts, input);
  for (const finding of gatewayApi.findings.filter((f) => f.level === "warn")) pulumi.log.warn(finding.message);
  if (gatewayApi.decision) return { ...gatewayApi.decision, reason: `1. ${istio.reason}; 2. ${gatewayApi.decision.reason}` };
  return { mesh: "proxy", reason: `1. ${istio.reason}; 2. ${gatewayApi.reason}; 3. so our mirror proxy` };
}

let detector: MeshDetector = detectDataPlane;

/** Replaces how `auto` decides (tests; tools that know the answer). */
export function setMeshDetector(replacement: MeshDetector): void {
  detector = replacement;
}

/** The data plane to deploy: the configured one, or the detector's answer for `auto`. */
export async function chooseMesh(configured: "istio" | "proxy" | "gateway-api" | "auto", input?: DetectInput): Promise<MeshDecision> {
  if (configured !== "auto") return { mesh: configured, reason: `${PROJECT}:mesh is set to ${configured}` };
  return detector(input);
}

export type GatewayClassLookup = (name: string) => Promise<GatewayClassInfo | undefined>;
let gatewayClassLookup: GatewayClassLookup = readGatewayClass;

/** Replaces how mesh gateway-api learns a GatewayClass's controller (tests). */
export function setGatewayClassLookup(replacement: GatewayClassLookup): void {
  gatewayClassLookup = replacement;
}

/**
 * mesh gateway-api: the configured class's findings. Fails (RunError) when its
 * controller is known not to do what the routing needs, or the class is absent;
 * when the cluster cannot be asked, one warning and no check.
 */
export async function checkConfiguredGatewayClass(name: string, needs: RoutingNeeds): Promise<Finding[]> {
  let info: GatewayClassInfo | undefined;
  try {
    info = await gatewayClassLookup(name);
  } catch (err) {
    pulumi.log.warn(`could not read GatewayClass ${name} to check what its controller implements (${(err as Error).message}); deploying unchecked`);
    return [];
  }
  if (!info) {
    throw new pulumi.RunError(`GatewayClass ${name} (${PROJECT}:gatewayClassName) does not exist in the cluster: install a Gateway API implementation, pick an existing class, or use ${PROJECT}:mesh proxy`);
  }
  const findings = checkGatewayApiSupport(needs, info);
  const fails = findings.filter((f) => f.level === "fail");
  if (fails.length > 0) throw new pulumi.RunError(fails.map((f) => f.message).join("\n"));
  return findings;
}
