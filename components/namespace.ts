import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface DemoNamespaceArgs {
  /** Namespace name (a DNS label). */
  name: string;
  /** Label the namespace so Istio injects its sidecar into every demo pod. */
  istioInjection: boolean;
}

/** The namespace that holds the demo services and their routing. */
export class DemoNamespace extends pulumi.ComponentResource {
  readonly name: pulumi.Output<string>;

  constructor(name: string, args: DemoNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:demo:Namespace", name, {}, opts);

    const namespace = new k8s.core.v1.Namespace(
      name,
      {
        metadata: {
          name: args.name,
          labels: {
            "app.kubernetes.io/managed-by": "traffic-mirroring",
            ...(args.istioInjection ? { "istio-injection": "enabled" } : {}),
          },
        },
      },
      { parent: this },
    );
    this.name = namespace.metadata.name;

    this.registerOutputs({ name: this.name });
  }
}
