import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { App, Version } from "./apps";
import { curlCommands, CurlCommands } from "./ingress";
import { AppRouting, buildAppRouting, ISTIO_API_VERSION } from "./routing";
import { VersionedService } from "./versionedService";

export interface DarkLaunchArgs {
  /** The app: from the stack config (`parseStackConfig`), or `defineApp` in a program of your own. */
  app: App;
  /** Namespace of the app's objects; pods selected by `v1.selector` must run there. */
  namespace: pulumi.Input<string>;
  /**
   * The data plane: `istio` applies the app's DestinationRule and VirtualService;
   * `proxy` and `gateway-api` add the per-version Services `<app>-v1`/`<app>-v2`
   * they route to (the app's routing then goes in the proxy's ConfigMap, see
   * proxyConfig.ts, or in an HTTPRoute, see gatewayApi.ts).
   */
  mesh: "istio" | "proxy" | "gateway-api";
  /** Istio: Gateways the VirtualService binds to (`<namespace>/<name>`); none = the mesh's sidecars. */
  gateways?: string[];
  /** Istio: resources the VirtualService waits for (e.g. its Gateway). */
  routingDependsOn?: pulumi.Resource[];
  /** Image of each version, overriding `app.v1.image`/`app.v2.image` (e.g. one built with WorkloadImage). */
  images?: Partial<Record<Version, pulumi.Input<string>>>;
  /** v1 replicas when `app.v1.replicas` is unset (two let the proxy learn pod-to-pod noise). */
  primaryReplicas?: number;
  /** Where users reach the ingress, for the `curl` output; none = no curl output. */
  ingressUrl?: pulumi.Input<string>;
}

/**
 * One app dark-launched: v2 deployed beside v1 (deployed here too, or already
 * running and selected by labels), the Services around them, and with Istio
 * the routing that serves every request from v1 and copies the selected ones
 * to v2. The routing is the pure `buildAppRouting`, the one every data plane renders.
 */
export class DarkLaunch extends pulumi.ComponentResource {
  /** The Service the routing names for v1 (`<app>`, or `<app>-v1` when v1 is selected). */
  readonly serviceName: pulumi.Output<string>;
  /** The Deployments this stack owns (no v1 one when v1 is selected). */
  readonly deploymentNames: pulumi.Output<string>[];
  /** The app's VirtualService and DestinationRule, as applied (Istio) or handed to the proxy. */
  readonly routing: pulumi.Output<AppRouting>;
  /** Ready-to-paste curl commands (with `ingressUrl`). */
  readonly curl: pulumi.Output<CurlCommands | undefined>;

  constructor(name: string, args: DarkLaunchArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:darkLaunch:DarkLaunch", name, {}, opts);
    const { app } = args;

    const images: Partial<Record<Version, pulumi.Input<string>>> = {
      ...(app.v1.image !== undefined ? { v1: app.v1.image } : {}),
      ...(app.v2.image !== undefined ? { v2: app.v2.image } : {}),
      ...(args.images ?? {}),
    };
    const workloads = new VersionedService(
      app.name,
      {
        app,
        namespace: args.namespace,
        images,
        perVersionServices: args.mesh !== "istio",
        ...(args.primaryReplicas !== undefined ? { primaryReplicas: args.primaryReplicas } : {}),
      },
      { parent: this },
    );

    this.routing = pulumi.output(args.namespace).apply((namespace) =>
      buildAppRouting({ app, namespace, ...(args.gateways ? { gateways: args.gateways } : {}) }),
    );
    if (args.mesh === "istio") this.applyIstioRouting(args);

    this.serviceName = workloads.serviceName;
    this.deploymentNames = workloads.deploymentNames;
    this.curl = args.ingressUrl === undefined ? pulumi.output(undefined) : pulumi.output(args.ingressUrl).apply((url) => curlCommands(url, app));
    this.registerOutputs({ serviceName: this.serviceName, deploymentNames: this.deploymentNames, curl: this.curl });
  }

  /** The DestinationRule (subsets v1/v2; none for a selected v1) and the VirtualService, as Istio custom resources. */
  private applyIstioRouting(args: DarkLaunchArgs): void {
    const { app } = args;
    const rule =
      app.v1.selector === undefined
        ? new k8s.apiextensions.CustomResource(
            `${app.name}-destinationrule`,
            {
              apiVersion: ISTIO_API_VERSION,
              kind: "DestinationRule",
              metadata: this.routing.apply((routing) => routing.destinationRule!.metadata),
              spec: this.routing.apply((routing) => routing.destinationRule!.spec),
            },
            { parent: this },
          )
        : undefined;
    new k8s.apiextensions.CustomResource(
      `${app.name}-virtualservice`,
      {
        apiVersion: ISTIO_API_VERSION,
        kind: "VirtualService",
        metadata: this.routing.apply((routing) => routing.virtualService.metadata),
        spec: this.routing.apply((routing) => routing.virtualService.spec),
      },
      // The subsets (and the Gateway) must exist before traffic is routed to them.
      { parent: this, dependsOn: [...(args.routingDependsOn ?? []), ...(rule ? [rule] : [])] },
    );
  }
}
