import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ISTIO_API_VERSION } from "./routing";

export const GATEWAY_NAME = "mirror-gateway";

export interface IstioGatewayArgs {
  /** Namespace of the Gateway (the apps' VirtualServices bind to `<namespace>/mirror-gateway`). */
  namespace: pulumi.Input<string>;
  /** Every app's hosts (`*` = any). */
  hosts: string[];
}

/** The Gateway's spec: Istio's ingress gateway, port 80, every app's hosts (each once). */
export function gatewaySpec(hosts: string[]) {
  return {
    selector: { istio: "ingressgateway" },
    servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [...new Set(hosts)] }],
  };
}

/** The gateway reference VirtualServices carry in Istio mode. */
export function gatewayRef(namespace: string): string {
  return `${namespace}/${GATEWAY_NAME}`;
}

/**
 * Istio's entry for the dark launch: one Gateway on the ingress gateway for
 * every app; each app's DestinationRule and VirtualService are its DarkLaunch's.
 */
export class IstioGateway extends pulumi.ComponentResource {
  readonly gatewayName: pulumi.Output<string>;
  /** The Gateway itself, for the VirtualServices to wait on. */
  readonly gateway: k8s.apiextensions.CustomResource;

  constructor(name: string, args: IstioGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:istio:Gateway", name, {}, opts);
    this.gateway = new k8s.apiextensions.CustomResource(
      GATEWAY_NAME,
      {
        apiVersion: ISTIO_API_VERSION,
        kind: "Gateway",
        metadata: { name: GATEWAY_NAME, namespace: args.namespace },
        spec: gatewaySpec(args.hosts),
      },
      { parent: this },
    );
    this.gatewayName = this.gateway.metadata.name;
    this.registerOutputs({ gatewayName: this.gatewayName });
  }
}
