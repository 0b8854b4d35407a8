// The traffic-mirroring stack: reads the config, wires the components,
// exports how to reach it. All logic lives in components/.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { DEMO_APPS, demoApp } from "./components/apps";
import { PROJECT, readStackConfig } from "./components/config";
import { GatewayApiMirror, renderHttpRoute, routingNeeds } from "./components/gatewayApi";
import { checkIstioShadowSuffix, Finding } from "./components/gatewayApiSupport";
import { curlCommand, istioIngressUrl, resolveNodeIp } from "./components/ingress";
import { gatewayRef, IstioMirror } from "./components/istioMirror";
import { checkConfiguredGatewayClass, chooseMesh } from "./components/meshDetect";
import { minikubeDockerEndpoint } from "./components/minikube";
import { MirrorProxy } from "./components/mirrorProxy";
import { DemoNamespace } from "./components/namespace";
import { inClusterUpstreams, primaryReplicas, renderMirrorProxyYaml } from "./components/proxyConfig";
import { buildStackRoutings } from "./components/routing";
import { VersionedService } from "./components/versionedService";
import { WorkloadImage } from "./components/workloadImage";

const config = readStackConfig();
const nodeIp = resolveNodeIp(config.nodeIp);
const workloadsDir = path.join(__dirname, "workloads");

// Images are built into minikube's Docker daemon, except where a ready-made
// image is configured; the provider is made only when something is built.
let minikubeDocker: docker.Provider | undefined;
function dockerProvider(): docker.Provider {
  if (minikubeDocker) return minikubeDocker;
  const endpoint = minikubeDockerEndpoint();
  if (!endpoint) {
    throw new pulumi.RunError(
      "cannot reach minikube's Docker daemon to build the images: run `eval $(minikube docker-env)` first, " +
        `or give ready-made images with: pulumi config set --path ${PROJECT}:apps.<app>.image <image> ` +
        `(and ${PROJECT}:proxyImage in proxy mode)`,
    );
  }
  minikubeDocker = new docker.Provider("minikube-docker", { host: endpoint.host, certPath: endpoint.certPath });
  return minikubeDocker;
}

function image(workload: string, readyMade: string | undefined): pulumi.Input<string> {
  if (readyMade) return readyMade;
  return new WorkloadImage(`${workload}-image`, { workload, contextDir: workloadsDir, provider: dockerProvider() }).imageRef;
}

function curlCommands(url: string) {
  const cookie = `${config.mirrorCookie.name}=${config.mirrorCookie.value}`;
  const [hostname, movies] = [demoApp("hostname"), demoApp("movies")];
  return {
    hostname: curlCommand(url, hostname, config.apps.hostname),
    hostnameMirrored: curlCommand(url, hostname, config.apps.hostname, cookie),
    movies: curlCommand(url, movies, config.apps.movies),
  };
}

/** Deploys the data plane `mesh: auto` resolves to (known only once the cluster is asked). */
async function deploy() {
  // What HTTPRoutes would ask of a Gateway API controller: auto weighs it, gateway-api checks it.
  const needs = routingNeeds(buildStackRoutings(config).map(({ routing }) => renderHttpRoute(routing)));
  const { mesh, reason, gatewayClass } = await chooseMesh(config.mesh, { needs, gatewayClassName: config.gatewayClassName });
  pulumi.log.info(`data plane: ${mesh} (${reason})`);
  const compared = DEMO_APPS.filter((app) => config.apps[app.name].compare).map((app) => app.name);
  if (mesh !== "proxy" && compared.length > 0) {
    // Envoy discards the shadow's answer (istio/istio#22059): only our proxy can compare.
    pulumi.log.warn(`compare is set for ${compared.join(", ")}, but only the mirror proxy compares answers: ignored with mesh ${mesh}`);
  }
  const gatewayClassName = gatewayClass?.name ?? config.gatewayClassName;
  if (mesh === "gateway-api" && !gatewayClassName) {
    throw new pulumi.RunError(`mesh is gateway-api but no GatewayClass is named: pulumi config set ${PROJECT}:gatewayClassName <class>   (kubectl get gatewayclasses)`);
  }
  const findings: Finding[] = [];
  if (mesh === "gateway-api" && !gatewayClass) findings.push(...(await checkConfiguredGatewayClass(gatewayClassName!, needs)));
  if (mesh === "istio") findings.push(...[checkIstioShadowSuffix(config.istioVersion)].filter((f) => f !== undefined));
  for (const finding of findings.filter((f) => f.level === "warn")) pulumi.log.warn(finding.message);

  const namespace = new DemoNamespace("demo", { name: config.namespace, istioInjection: mesh === "istio" });
  for (const app of DEMO_APPS) {
    new VersionedService(app.name, {
      app,
      namespace: namespace.name,
      image: image(app.name, config.apps[app.name].image),
      perVersionServices: mesh !== "istio",
      primaryReplicas: primaryReplicas(mesh === "proxy" && config.apps[app.name].compare),
    });
  }

  let ingressUrl: pulumi.Output<string>;
  if (mesh === "istio") {
    const routings = buildStackRoutings(config, [gatewayRef(config.namespace)]).map(({ routing }) => routing);
    new IstioMirror("mirror", { namespace: namespace.name, routings });
    ingressUrl = istioIngressUrl(nodeIp);
  } else if (mesh === "gateway-api") {
    const routings = buildStackRoutings(config).map(({ routing }) => routing);
    ingressUrl = new GatewayApiMirror("mirror", { namespace: namespace.name, gatewayClassName: gatewayClassName!, routings, nodeIp }).ingressUrl;
  } else {
    const proxy = new MirrorProxy("mirror-proxy", {
      namespace: namespace.name,
      image: image("mirror-proxy", config.proxyImage),
      routingYaml: renderMirrorProxyYaml({ config, upstreams: inClusterUpstreams(config.namespace) }),
    });
    ingressUrl = pulumi.interpolate`http://${nodeIp}:${proxy.nodePort}`;
  }

  return { mesh, ingressUrl };
}

// Plain promises (not pulumi.output) so that a failed deploy is reported once, by the exports.
const deployed = deploy();
export const mesh = deployed.then((stack) => stack.mesh);
export const ingressUrl = deployed.then((stack) => stack.ingressUrl);
export const curl = deployed.then((stack) => stack.ingressUrl.apply(curlCommands));
