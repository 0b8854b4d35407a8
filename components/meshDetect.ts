// `mesh: auto`: Istio when the cluster serves Istio's VirtualService CRD,
// else our mirror proxy. The detector is swappable so tests (and users
// without API access) can decide without a cluster.
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./config";

export const ISTIO_VIRTUALSERVICE_CRD = "virtualservices.networking.istio.io";

export interface MeshDecision {
  mesh: "istio" | "proxy";
  /** Why, in words printed to the user. */
  reason: string;
}

export type MeshDetector = () => Promise<MeshDecision>;

const DETECT_TIMEOUT_MS = 15_000;

function unreachable(cause: string): pulumi.RunError {
  return new pulumi.RunError(
    `mesh is "auto" but the cluster could not be asked whether it serves ${ISTIO_VIRTUALSERVICE_CRD} (${cause}). ` +
      `Set the data plane explicitly: pulumi config set ${PROJECT}:mesh istio   (or proxy)`,
  );
}

/** Asks the cluster of the current kubeconfig context for Istio's CRD. */
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
    await Promise.race([api.readCustomResourceDefinition({ name: ISTIO_VIRTUALSERVICE_CRD }), timeout]);
    return { mesh: "istio", reason: `the cluster (context ${context}) serves the CRD ${ISTIO_VIRTUALSERVICE_CRD}` };
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === 404) {
      return { mesh: "proxy", reason: `the cluster (context ${context}) has no CRD ${ISTIO_VIRTUALSERVICE_CRD}: Istio is absent` };
    }
    throw unreachable(`context ${context}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

let detector: MeshDetector = detectMeshFromCluster;

/** Replaces how `auto` decides (tests; tools that know the answer). */
export function setMeshDetector(replacement: MeshDetector): void {
  detector = replacement;
}

/** The data plane to deploy: the configured one, or the detector's answer for `auto`. */
export async function chooseMesh(configured: "istio" | "proxy" | "auto"): Promise<MeshDecision> {
  if (configured !== "auto") return { mesh: configured, reason: `${PROJECT}:mesh is set to ${configured}` };
  return detector();
}
