import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppRouting, ISTIO_API_VERSION } from "./routing";

export const GATEWAY_NAME = "mirror-gateway";

export interface IstioMirrorArgs {
  /** Namespace of the Gateway, DestinationRules and VirtualServices. */
  namespace: pulumi.Input<string>;
  /** Per-app routing from `buildAppRouting`, bound to this Gateway. */
  routings: AppRouting[];
}

/** The Gateway's spec: Istio's ingress gateway, port 80, every app's hosts. */
export function gatewaySpec(routings: AppRouting[]) {
  const hosts = [...new Set(routings.flatMap((routing) => routing.virtualService.spec.hosts))];
  return {
    selector: { istio: "ingressgateway" },
    servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts }],
  };
}

/** The gateway reference VirtualServices carry in Istio mode. */
export function gatewayRef(namespace: string): string {
  return `${namespace}/${GATEWAY_NAME}`;
}

/**
 * Istio's data plane for the dark launch: one Gateway, and per app the
 * DestinationRule (subsets v1/v2) and the VirtualService that routes to v1
 * and mirrors to v2.
 */
export class IstioMirror extends pulumi.ComponentResource {
  readonly gatewayName: pulumi.Output<string>;

  constructor(name: string, args: IstioMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:istio:Mirror", name, {}, opts);

    const gateway = new k8s.apiextensions.CustomResource(
      GATEWAY_NAME,
      {
        apiVersion: ISTIO_API_VERSION,
        kind: "Gateway",
        metadata: { name: GATEWAY_NAME, namespace: args.namespace },
        spec: gatewaySpec(args.routings),
      },
      { parent: this },
    );

    for (const { destinationRule, virtualService } of args.routings) {
      const rule = new k8s.apiextensions.CustomResource(
        `${destinationRule.metadata.name}-destinationrule`,
        { ...destinationRule, metadata: { ...destinationRule.metadata, namespace: args.namespace } },
        { parent: this },
      );
      new k8s.apiextensions.CustomResource(
        `${virtualService.metadata.name}-virtualservice`,
        { ...virtualService, metadata: { ...virtualService.metadata, namespace: args.namespace } },
        // The subsets must exist before traffic is routed to them.
        { parent: this, dependsOn: [gateway, rule] },
      );
    }

    this.gatewayName = gateway.metadata.name;
    this.registerOutputs({ gatewayName: this.gatewayName });
  }
}
