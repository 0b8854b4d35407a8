import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { nodePortNamed } from "./ingress";
import { PROXY_NAME, PROXY_PORTS } from "./proxyConfig";
import { PROXY_SCALING_DEFAULTS, ProxyAutoscaler, proxyResources, type ProxyScaling } from "./proxyAutoscaler";
import { RESTRICTED_CONTAINER_SECURITY, RESTRICTED_POD_SECURITY } from "./versionedService";

/** Where the ConfigMap is mounted; the proxy watches it for updates. */
export const PROXY_CONFIG_DIR = "/etc/mirror-proxy";
export const PROXY_CONFIG_FILE = "routing.yaml";
export const CONFIG_CHECKSUM_ANNOTATION = "traffic-mirroring/config-checksum";

/**
 * The container's command: the image's CMD (workloads/mirror-proxy/Dockerfile) split into
 * `command` and `args`, both set. Kubernetes' `args` alone replaces the CMD but keeps the
 * ENTRYPOINT, and node's docker-entrypoint.sh runs an argument list starting with `-` as
 * `node <args>` (`node: bad option: --config`). `command` replaces the ENTRYPOINT, so the pod
 * runs exactly this, whatever the base image's entrypoint does. A unit test holds it equal
 * to the Dockerfile's CMD (--max-semi-space-size=2 --memory-saver-mode --no-concurrent-recompilation: see the Dockerfile).
 */
export const PROXY_COMMAND = ["node", "--max-semi-space-size=2", "--memory-saver-mode", "--no-concurrent-recompilation", "/app/mirror-proxy/src/main.js"];
export const PROXY_ARGS = ["--config", `${PROXY_CONFIG_DIR}/${PROXY_CONFIG_FILE}`];

export interface MirrorProxyArgs {
  /** Namespace to deploy into. */
  namespace: pulumi.Input<string>;
  /** The proxy image (built from workloads/mirror-proxy, or ready-made). */
  image: pulumi.Input<string>;
  /** The routing file: Istio VirtualService/DestinationRule + MirrorProxy documents. */
  routingYaml: string;
  /** Autoscaling bounds, target and workers per pod (sizes requests/limits; see proxyAutoscaler.ts). */
  scaling?: ProxyScaling;
  /** Some app is compared: memory and CPU are sized for comparing. */
  compare?: boolean;
}

/** Short content hash of the routing: a change rolls the proxy pods. */
export function configChecksum(routingYaml: string): string {
  return createHash("sha256").update(routingYaml).digest("hex").slice(0, 16);
}

/**
 * Our mirror proxy as the ingress when Istio is absent: ConfigMap with the
 * routing, a Deployment of at least 2 replicas with probes on the admin port,
 * a HorizontalPodAutoscaler (CPU) for it, a PodDisruptionBudget, and a NodePort Service.
 */
export class MirrorProxy extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  readonly nodePort: pulumi.Output<number>;

  constructor(name: string, args: MirrorProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:proxy:MirrorProxy", name, {}, opts);
    const labels = { app: PROXY_NAME };
    const scaling = args.scaling ?? PROXY_SCALING_DEFAULTS;
    // The HPA owns the replica count once created; Pulumi sets the first one only.
    const replicas = Math.max(2, scaling.minReplicas);

    // pulumi-kubernetes replaces a ConfigMap whose data changed (it treats ConfigMaps as
    // immutable), and with a fixed name that is delete, then create: the proxy pods would
    // lose their routing file meanwhile. With enableConfigMapMutable the provider updates
    // it in place (the kubelet then swaps the mounted file, the proxy reloads, and the
    // checksum annotation below rolls the pods too). Same cluster as the default provider:
    // both read the ambient kubeconfig and context.
    const configMapProvider = new k8s.Provider(`${PROXY_NAME}-configmap`, { enableConfigMapMutable: true }, { parent: this });
    const configMap = new k8s.core.v1.ConfigMap(
      PROXY_NAME,
      {
        metadata: { name: PROXY_NAME, namespace: args.namespace, labels },
        data: { [PROXY_CONFIG_FILE]: args.routingYaml },
      },
      { parent: this, provider: configMapProvider },
    );

    const adminProbe = (path: string) => ({ httpGet: { path, port: "admin" } });
    new k8s.apps.v1.Deployment(
      PROXY_NAME,
      {
        metadata: { name: PROXY_NAME, namespace: args.namespace, labels },
        spec: {
          replicas,
          selector: { matchLabels: labels },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: {
              labels,
              annotations: { [CONFIG_CHECKSUM_ANNOTATION]: configChecksum(args.routingYaml) },
            },
            spec: {
              securityContext: RESTRICTED_POD_SECURITY,
              automountServiceAccountToken: false,
              // The proxy drains in-flight primaries on SIGTERM; give it the time.
              terminationGracePeriodSeconds: 30,
              containers: [
                {
                  name: PROXY_NAME,
                  image: args.image,
                  imagePullPolicy: "IfNotPresent",
                  command: PROXY_COMMAND,
                  args: [...PROXY_ARGS, ...(scaling.workers > 1 ? ["--workers", String(scaling.workers)] : [])],
                  ports: [
                    { name: "http", containerPort: PROXY_PORTS.listen, protocol: "TCP" },
                    { name: "admin", containerPort: PROXY_PORTS.admin, protocol: "TCP" },
                  ],
                  readinessProbe: { ...adminProbe("/readyz"), periodSeconds: 5, failureThreshold: 2 },
                  livenessProbe: { ...adminProbe("/healthz"), initialDelaySeconds: 5, periodSeconds: 10 },
                  resources: proxyResources(scaling, args.compare ?? false),
                  securityContext: RESTRICTED_CONTAINER_SECURITY,
                  volumeMounts: [{ name: "routing", mountPath: PROXY_CONFIG_DIR, readOnly: true }],
                  // Let the Service drop the pod before the proxy stops accepting.
                  lifecycle: { preStop: { exec: { command: ["sleep", "3"] } } },
                },
              ],
              volumes: [{ name: "routing", configMap: { name: configMap.metadata.name } }],
            },
          },
        },
      },
      { parent: this, ignoreChanges: ["spec.replicas"] },
    );
    new ProxyAutoscaler(PROXY_NAME, { namespace: args.namespace, deploymentName: PROXY_NAME, labels, scaling }, { parent: this });

    // minAvailable 1 of at least 2 replicas (the HPA's minimum): a node drain can always evict one.
    new k8s.policy.v1.PodDisruptionBudget(
      PROXY_NAME,
      {
        metadata: { name: PROXY_NAME, namespace: args.namespace, labels },
        spec: { minAvailable: 1, selector: { matchLabels: labels } },
      },
      { parent: this },
    );

    const service = new k8s.core.v1.Service(
      PROXY_NAME,
      {
        metadata: { name: PROXY_NAME, namespace: args.namespace, labels },
        spec: {
          type: "NodePort",
          selector: labels,
          ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
        },
      },
      { parent: this },
    );

    this.serviceName = service.metadata.name;
    this.nodePort = service.spec.ports.apply((ports) => nodePortNamed(ports, "http", `Service ${PROXY_NAME}`));
    this.registerOutputs({ serviceName: this.serviceName, nodePort: this.nodePort });
  }
}
