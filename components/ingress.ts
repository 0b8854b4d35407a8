// Where users reach the stack: the node IP and the NodePort of the ingress.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DemoApp } from "./apps";
import { AppSettings, PROJECT } from "./config";
import { minikubeIp } from "./minikube";

export const ISTIO_INGRESS = { namespace: "istio-system", name: "istio-ingressgateway", portName: "http2" };

/** The node IP from config, else `minikube ip`, else an error naming the config key. */
export function resolveNodeIp(configured: string | undefined, askMinikube: () => string | undefined = minikubeIp): string {
  const ip = configured ?? askMinikube();
  if (!ip) {
    throw new pulumi.RunError(
      "cannot tell the cluster's node IP for the ingress URL: `minikube ip` gave no answer. " +
        `Set it with: pulumi config set ${PROJECT}:nodeIp <node-ip>`,
    );
  }
  return ip;
}

type ServicePort = { name?: string; nodePort?: number };

/** The NodePort of the port named `portName`, or an error saying what is missing (and `hint`). */
export function nodePortNamed(ports: ServicePort[] | undefined, portName: string, service: string, hint = ""): number {
  const port = (ports ?? []).find((candidate) => candidate.name === portName);
  if (!port?.nodePort) {
    const missing = `${service} has no node port on its port named "${portName}" (ports: ${JSON.stringify(ports ?? [])})`;
    throw new Error(hint ? `${missing}; ${hint}` : missing);
  }
  return port.nodePort;
}

/** `http://<node ip>:<node port>` of Istio's ingress gateway, read from the cluster. */
export function istioIngressUrl(nodeIp: string, opts?: pulumi.CustomResourceOptions): pulumi.Output<string> {
  const id = `${ISTIO_INGRESS.namespace}/${ISTIO_INGRESS.name}`;
  const service = k8s.core.v1.Service.get("istio-ingressgateway", id, opts);
  const hint = "expose the Istio ingress gateway as a NodePort or LoadBalancer Service";
  return service.spec.ports.apply((ports) => `http://${nodeIp}:${nodePortNamed(ports, ISTIO_INGRESS.portName, id, hint)}`);
}

/** A Host header value that exercises the app: its first host, wildcards made concrete. */
export function exampleHost(app: DemoApp, settings: AppSettings): string | undefined {
  const host = settings.hosts[0];
  if (!host || host === "*") return undefined;
  return host.startsWith("*.") ? `${app.name}${host.slice(1)}` : host;
}

/** The ready-to-paste curl command for an app, optionally with a cookie. */
export function curlCommand(url: string, app: DemoApp, settings: AppSettings, cookie?: string): string {
  const host = exampleHost(app, settings);
  return [
    "curl -s",
    host ? `-H 'Host: ${host}'` : "",
    cookie ? `--cookie '${cookie}'` : "",
    `${url}${app.curlPath}`,
  ]
    .filter(Boolean)
    .join(" ");
}
