// The traffic-mirroring stack: reads the config, wires the components,
// exports how to reach it. All logic lives in components/.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { App, Version, VERSIONS } from "./components/apps";
import { appList, asRunError, checkMeshSupport, PROJECT, readStackConfig, writeMirroringWarnings } from "./components/config";
import { DarkLaunch } from "./components/darkLaunch";
import { GatewayApiMirror, renderHttpRoute, routingNeeds } from "./components/gatewayApi";
import { checkIstioShadowSuffix, Finding } from "./components/gatewayApiSupport";
import { curlCommands, exampleHost, istioIngressUrl, resolveNodeIp } from "./components/ingress";
import { gatewayRef, IstioGateway } from "./components/istioMirror";
import { checkConfiguredGatewayClass, chooseMesh } from "./components/meshDetect";
import { minikubeDockerEndpoint } from "./components/minikube";
import { MirrorProxy } from "./components/mirrorProxy";
import { DemoNamespace } from "./components/namespace";
import { Promotion } from "./components/promotion";
import { inClusterUpstreams, primaryReplicas, renderMirrorProxyYaml } from "./components/proxyConfig";
import { buildStackRoutings } from "./components/routing";
import { WorkloadImage } from "./components/workloadImage";

const config = readStackConfig();
const apps = appList(config);
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

const built = new Map<string, pulumi.Output<string>>();
function buildImage(workload: string): pulumi.Output<string> {
  let ref = built.get(workload);
  if (!ref) {
    ref = new WorkloadImage(`${workload}-image`, { workload, contextDir: workloadsDir, provider: dockerProvider() }).imageRef;
    built.set(workload, ref);
  }
  return ref;
}

/** Each version's image: configured, else built from the app's workload folder (built-ins); none for a selected v1. */
function appImages(app: App): Partial<Record<Version, pulumi.Input<string>>> {
  const images: Partial<Record<Version, pulumi.Input<string>>> = {};
  for (const version of VERSIONS) {
    if (version === "v1" && app.v1.selector) continue;
    const image = app[version].image ?? (app.workload ? buildImage(app.workload) : undefined);
    if (image !== undefined) images[version] = image;
  }
  return images;
}

/** Deploys the data plane `mesh: auto` resolves to (known only once the cluster is asked). */
async function deploy() {
  // What HTTPRoutes would ask of a Gateway API controller: auto weighs it, gateway-api checks it.
  const needs = routingNeeds(buildStackRoutings(config).map(({ routing }) => renderHttpRoute(routing)));
  const { mesh, reason, gatewayClass, istioVersion } = await chooseMesh(config.mesh, { needs, gatewayClassName: config.gatewayClassName });
  pulumi.log.info(`data plane: ${mesh} (${reason})`);
  asRunError(() => checkMeshSupport(config, mesh));
  for (const warning of writeMirroringWarnings(config)) pulumi.log.warn(warning);
  const compared = apps.filter((app) => app.compare).map((app) => app.name);
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
  if (mesh === "istio") findings.push(...[checkIstioShadowSuffix(config.istioVersion ?? istioVersion)].filter((f) => f !== undefined));
  for (const finding of findings.filter((f) => f.level === "warn")) pulumi.log.warn(finding.message);

  const namespace = new DemoNamespace("demo", { name: config.namespace, istioInjection: mesh === "istio" });
  const gateway =
    mesh === "istio" ? new IstioGateway("mirror", { namespace: namespace.name, hosts: apps.flatMap((app) => app.hosts) }) : undefined;

  // Built images first, each once (hostname's build serves both its versions).
  const images = apps.map(appImages);
  apps.forEach((app, i) => {
    new DarkLaunch(app.name, {
      app,
      namespace: namespace.name,
      mesh,
      images: images[i],
      primaryReplicas: primaryReplicas(mesh === "proxy" && app.compare),
      ...(gateway ? { gateways: [gatewayRef(config.namespace)], routingDependsOn: [gateway.gateway] } : {}),
    });
  });

  let ingressUrl: pulumi.Output<string>;
  if (mesh === "istio") {
    ingressUrl = istioIngressUrl(nodeIp);
  } else if (mesh === "gateway-api") {
    const routings = buildStackRoutings(config).map(({ routing }) => routing);
    ingressUrl = new GatewayApiMirror("mirror", { namespace: namespace.name, gatewayClassName: gatewayClassName!, routings, nodeIp }).ingressUrl;
  } else {
    const proxy = new MirrorProxy("mirror-proxy", {
      namespace: namespace.name,
      image: config.proxyImage ?? buildImage("mirror-proxy"),
      routingYaml: renderMirrorProxyYaml({ config, upstreams: inClusterUpstreams(config.namespace) }),
      scaling: config.proxyScaling,
      compare: compared.length > 0,
    });
    ingressUrl = pulumi.interpolate`http://${nodeIp}:${proxy.nodePort}`;
  }
  deployPromotion(mesh, namespace.name, compared);

  return { mesh, ingressUrl };
}

/** Issue 11: `promotion: argo | flagger` renders that tool's templates over the proxy's compare metrics (proxy mode only). */
function deployPromotion(mesh: string, namespace: pulumi.Input<string>, compared: string[]): void {
  if (!config.promotion) return;
  if (mesh !== "proxy" || compared.length === 0) {
    pulumi.log.warn(`promotion is ${config.promotion}, but its metrics come from the mirror proxy's comparison (mesh proxy, compare on): nothing rendered with mesh ${mesh}${compared.length ? "" : " and no compared app"}`);
    return;
  }
  new Promotion("promotion", { tool: config.promotion, namespace, apps: compared, prometheus: config.prometheusUrl, thresholds: config.verdict });
}

/** Per app: where it is reached, with which Host, and the commands that exercise it. */
function appOutputs(url: string) {
  return Object.fromEntries(
    apps.map((app) => [
      app.name,
      { url, host: exampleHost(app, app) ?? "(any)", mirrorsWrites: app.mirror.writes, curl: curlCommands(url, app) },
    ]),
  );
}

// Plain promises (not pulumi.output) so that a failed deploy is reported once, by the exports.
const deployed = deploy();
export const mesh = deployed.then((stack) => stack.mesh);
export const ingressUrl = deployed.then((stack) => stack.ingressUrl);
/** Every app's commands in one object: `<app>` and, when the app mirrors only some requests, `<app>Mirrored`. */
export const curl = deployed.then((stack) => stack.ingressUrl.apply((url) => Object.assign({}, ...apps.map((app) => curlCommands(url, app)))));
export const appEndpoints = deployed.then((stack) => stack.ingressUrl.apply(appOutputs));
