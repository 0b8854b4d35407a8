import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { App, VERSIONS, Version } from "./apps";

export interface VersionedServiceArgs {
  /** The app: name, ports, health path, per-version env and replicas; `v1.selector` = v1 is not ours. */
  app: App;
  /** Namespace to deploy into. */
  namespace: pulumi.Input<string>;
  /** Image of each version this stack deploys (none for v1 when it runs on selected pods). */
  images: Partial<Record<Version, pulumi.Input<string>>>;
  /** Replicas of v1 when the app does not set them (two let the proxy learn pod-to-pod noise when comparing). */
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

/** Container spec of one version of an app. */
export function demoContainer(
  app: App,
  version: Version,
  image: pulumi.Input<string>,
): k8s.types.input.core.v1.Container {
  const probe = { httpGet: { path: app.healthPath, port: "http" } };
  const env = { VERSION: version, PORT: String(app.containerPort), ...app[version].env };
  return {
    name: app.name,
    image,
    // Images are built into minikube's own Docker daemon: never pull them.
    imagePullPolicy: "IfNotPresent",
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
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
 * One app in two versions: Deployments `<app>-v1` and `<app>-v2` (labels
 * `app` and `version`) behind the Service `<app>`, which selects on `app`
 * only so that routing between versions is the mesh's (or proxy's) job.
 * When v1 already runs (`v1.selector`), there is no v1 Deployment and no
 * Service `<app>` (the app's own may exist): the Services `<app>-v1`
 * (selecting v1's pods) and `<app>-v2` are what the routing names.
 */
export class VersionedService extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  readonly deploymentNames: pulumi.Output<string>[];

  constructor(name: string, args: VersionedServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:demo:VersionedService", name, {}, opts);
    const { app } = args;
    const selected = app.v1.selector !== undefined;
    const owned = VERSIONS.filter((version) => !(version === "v1" && selected));

    const deployments = owned.map((version) => {
      const labels = { app: app.name, version };
      const image = args.images[version];
      if (image === undefined) throw new Error(`VersionedService ${name}: no image for ${version}`);
      return new k8s.apps.v1.Deployment(
        `${app.name}-${version}`,
        {
          metadata: { name: `${app.name}-${version}`, namespace: args.namespace, labels },
          spec: {
            replicas: app[version].replicas ?? (version === "v1" ? (args.primaryReplicas ?? 1) : 1),
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: {
                securityContext: RESTRICTED_POD_SECURITY,
                automountServiceAccountToken: false,
                terminationGracePeriodSeconds: 20,
                containers: [demoContainer(app, version, image)],
              },
            },
          },
        },
        { parent: this },
      );
    });

    // The app's port, named `http`, in front of the pods the labels select
    // (pods not ours may not name their port: then its number).
    const httpService = (name: string, selector: Record<string, string>, labels = selector, targetPort: string | number = "http", headless = false) =>
      new k8s.core.v1.Service(
        name,
        {
          metadata: { name, namespace: args.namespace, labels },
          spec: {
            ...(headless ? { clusterIP: "None" } : {}),
            selector,
            ports: [{ name: "http", port: app.servicePort, targetPort, protocol: "TCP" }],
          },
        },
        { parent: this },
      );

    const service = selected ? undefined : httpService(app.name, { app: app.name });
    // Headless: the name resolves to every ready pod of the version (no virtual IP, no
    // kube-proxy choosing a pod per connection), so the proxy holds the pods as separate
    // members: round-robin, and the comparison's noise copy reaches another v1 pod than
    // the primary (with a virtual IP both often landed on the same pod). Clients of a
    // headless Service connect to the pods' port (containerPort), not the Service port.
    // A selected v1 (pods not ours) gets its `<app>-v1` in every mode: the routing names it.
    if (args.perVersionServices || selected) {
      const headless = args.perVersionServices === true;
      for (const version of VERSIONS) {
        const v1Selector = version === "v1" ? app.v1.selector : undefined;
        if (v1Selector) httpService(`${app.name}-v1`, v1Selector, { app: app.name, version }, app.containerPort, headless);
        else httpService(`${app.name}-${version}`, { app: app.name, version }, undefined, "http", headless);
      }
    }

    this.serviceName = pulumi.output(service ? service.metadata.name : `${app.name}-v1`);
    this.deploymentNames = deployments.map((deployment) => deployment.metadata.name);
    this.registerOutputs({ serviceName: this.serviceName, deploymentNames: this.deploymentNames });
  }
}
