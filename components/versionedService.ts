import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DemoApp, VERSIONS, Version } from "./apps";

export interface VersionedServiceArgs {
  /** The demo app: name, ports. */
  app: DemoApp;
  /** Namespace to deploy into. */
  namespace: pulumi.Input<string>;
  /** Image of the app's workload, for every version (the version is an env var). */
  image: pulumi.Input<string>;
  /** Replicas of v1 (two let the proxy learn pod-to-pod noise when comparing). */
  primaryReplicas?: number;
  /** Also headless Services `<app>-v1`, `<app>-v2` (proxy mode resolves each version to its pods). */
  perVersionServices?: boolean;
}

/** Pod hygiene from the design: non-root, read-only root, no capabilities. */
export const RESTRICTED_CONTAINER_SECURITY: k8s.types.input.core.v1.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
};

export const RESTRICTED_POD_SECURITY: k8s.types.input.core.v1.PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  seccompProfile: { type: "RuntimeDefault" },
};

/** Container spec of one version of a demo app. */
export function demoContainer(
  app: DemoApp,
  version: Version,
  image: pulumi.Input<string>,
): k8s.types.input.core.v1.Container {
  const probe = { httpGet: { path: "/healthz", port: "http" } };
  return {
    name: app.name,
    image,
    // Images are built into minikube's own Docker daemon: never pull them.
    imagePullPolicy: "IfNotPresent",
    env: [
      { name: "VERSION", value: version },
      { name: "PORT", value: String(app.containerPort) },
    ],
    ports: [{ name: "http", containerPort: app.containerPort, protocol: "TCP" }],
    readinessProbe: { ...probe, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { ...probe, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
    resources: {
      requests: { cpu: "10m", memory: "32Mi" },
      limits: { cpu: "250m", memory: "128Mi" },
    },
    securityContext: RESTRICTED_CONTAINER_SECURITY,
    // Give endpoints time to drop the pod before the app stops accepting.
    lifecycle: { preStop: { exec: { command: ["sleep", "3"] } } },
  };
}

/**
 * One demo app in two versions: Deployments `<app>-v1` and `<app>-v2`
 * (labels `app` and `version`) behind the Service `<app>`, which selects on
 * `app` only so that routing between versions is the mesh's (or proxy's) job.
 */
export class VersionedService extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  readonly deploymentNames: pulumi.Output<string>[];

  constructor(name: string, args: VersionedServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:demo:VersionedService", name, {}, opts);
    const { app } = args;

    const deployments = VERSIONS.map((version) => {
      const labels = { app: app.name, version };
      return new k8s.apps.v1.Deployment(
        `${app.name}-${version}`,
        {
          metadata: { name: `${app.name}-${version}`, namespace: args.namespace, labels },
          spec: {
            replicas: version === "v1" ? (args.primaryReplicas ?? 1) : 1,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: {
                securityContext: RESTRICTED_POD_SECURITY,
                automountServiceAccountToken: false,
                terminationGracePeriodSeconds: 20,
                containers: [demoContainer(app, version, args.image)],
              },
            },
          },
        },
        { parent: this },
      );
    });

    // The app's port, named `http`, in front of the pods the labels select.
    const httpService = (name: string, labels: Record<string, string>, headless = false) =>
      new k8s.core.v1.Service(
        name,
        {
          metadata: { name, namespace: args.namespace, labels },
          spec: {
            ...(headless ? { clusterIP: "None" } : {}),
            selector: labels,
            ports: [{ name: "http", port: app.servicePort, targetPort: "http", protocol: "TCP" }],
          },
        },
        { parent: this },
      );

    const service = httpService(app.name, { app: app.name });
    // Headless: the name resolves to every ready pod of the version (no virtual IP, no
    // kube-proxy choosing a pod per connection), so the proxy holds the pods as separate
    // members: round-robin, and the comparison's noise copy reaches another v1 pod than
    // the primary (with a virtual IP both often landed on the same pod). Clients of a
    // headless Service connect to the pods' port (containerPort), not the Service port.
    if (args.perVersionServices) {
      for (const version of VERSIONS) httpService(`${app.name}-${version}`, { app: app.name, version }, true);
    }

    this.serviceName = service.metadata.name;
    this.deploymentNames = deployments.map((deployment) => deployment.metadata.name);
    this.registerOutputs({ serviceName: this.serviceName, deploymentNames: this.deploymentNames });
  }
}
