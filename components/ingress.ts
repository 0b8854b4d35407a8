// Where users reach the stack: the node IP and the NodePort of the ingress.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { App } from "./apps";
import { PROJECT } from "./config";
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
export function exampleHost(app: Pick<App, "name">, settings: Pick<App, "hosts">): string | undefined {
  const host = settings.hosts[0];
  if (!host || host === "*") return undefined;
  return host.startsWith("*.") ? `${app.name}${host.slice(1)}` : host;
}

/** A request that exercises an app: what curl (or the demo) sends beyond the Host. */
export interface ExampleRequest {
  method: string;
  path: string;
  cookie?: string;
  headers: Record<string, string>;
}

/** The ready-to-paste curl command for an app, optionally with a cookie. */
export function curlCommand(url: string, app: Pick<App, "name" | "curlPath">, settings: Pick<App, "hosts">, cookie?: string): string {
  return curlFor(url, app, settings, { method: "GET", path: app.curlPath, headers: {}, ...(cookie ? { cookie } : {}) });
}

function curlFor(url: string, app: Pick<App, "name">, settings: Pick<App, "hosts">, request: ExampleRequest): string {
  const host = exampleHost(app, settings);
  return [
    "curl -s",
    request.method !== "GET" ? `-X ${request.method}` : "",
    host ? `-H 'Host: ${host}'` : "",
    ...Object.entries(request.headers).map(([name, value]) => `-H '${name}: ${value}'`),
    request.cookie ? `--cookie '${request.cookie}'` : "",
    `${url}${request.path}`,
  ]
    .filter(Boolean)
    .join(" ");
}

/**
 * A request the app's mirror match selects, built from the match's literal
 * values; undefined when every request is mirrored (nothing to add) or when a
 * condition is a regex (no literal to send).
 */
export function mirroredRequest(app: App): ExampleRequest | undefined {
  const match = app.mirror.match;
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, condition] of Object.entries(match.headers ?? {})) {
    if ("regex" in condition) return undefined;
    headers[name] = "exact" in condition ? condition.exact : condition.prefix;
  }
  const path = match.pathPrefix && !app.curlPath.startsWith(match.pathPrefix) ? match.pathPrefix : app.curlPath;
  const methods = match.methods;
  const method = !methods || methods.includes("GET") ? "GET" : methods[0];
  return { method, path, headers, ...(match.cookie ? { cookie: `${match.cookie.name}=${match.cookie.value}` } : {}) };
}

/** Ready-to-paste commands, keyed `<app>` (the plain request) and `<app>Mirrored` (one the match selects). */
export type CurlCommands = Record<string, string>;

export function curlCommands(url: string, app: App): CurlCommands {
  const mirrored = mirroredRequest(app);
  return {
    [app.name]: curlCommand(url, app, app),
    ...(mirrored ? { [`${app.name}Mirrored`]: curlFor(url, app, app, mirrored) } : {}),
  };
}
