// The traffic-mirroring stack: reads the config, wires the components,
// exports how to reach it. All logic lives in components/.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { DEMO_APPS, DemoApp, demoApp } from "./components/apps";
import { PROJECT, readStackConfig } from "./components/config";
import { WorkloadImage } from "./components/workloadImage";
import { curlCommand, istioIngressUrl, resolveNodeIp } from "./components/ingress";
import { gatewayRef, IstioMirror } from "./components/istioMirror";
import { minikubeDockerEndpoint } from "./components/minikube";
import { DemoNamespace } from "./components/namespace";
import { buildAppRouting } from "./components/routing";
import { VersionedService } from "./components/versionedService";

const config = readStackConfig();
const nodeIp = resolveNodeIp(config.nodeIp);
const workloadsDir = path.join(__dirname, "workloads");

const namespace = new DemoNamespace("demo", { name: config.namespace, istioInjection: config.mesh === "istio" });

// Images are built into minikube's Docker daemon, except for apps given a
// ready-made `apps.<app>.image`; the provider is made only when needed.
let minikubeDocker: docker.Provider | undefined;
function dockerProvider(): docker.Provider {
  if (minikubeDocker) return minikubeDocker;
  const endpoint = minikubeDockerEndpoint();
  if (!endpoint) {
    throw new pulumi.RunError(
      "cannot reach minikube's Docker daemon to build the demo images: run `eval $(minikube docker-env)` first, " +
        `or give ready-made images with: pulumi config set --path ${PROJECT}:apps.<app>.image <image>`,
    );
  }
  minikubeDocker = new docker.Provider("minikube-docker", { host: endpoint.host, certPath: endpoint.certPath });
  return minikubeDocker;
}

function imageFor(app: DemoApp): pulumi.Input<string> {
  const readyMade = config.apps[app.name].image;
  if (readyMade) return readyMade;
  return new WorkloadImage(`${app.name}-image`, { workload: app.name, contextDir: workloadsDir, provider: dockerProvider() })
    .imageRef;
}

for (const app of DEMO_APPS) {
  new VersionedService(app.name, { app, namespace: namespace.name, image: imageFor(app) });
}

const routings = DEMO_APPS.map((app) =>
  buildAppRouting({
    app,
    settings: config.apps[app.name],
    namespace: config.namespace,
    mirrorCookie: config.mirrorCookie,
    gateways: [gatewayRef(config.namespace)],
  }),
);
new IstioMirror("mirror", { namespace: namespace.name, namespaceName: config.namespace, routings });

export const mesh = config.mesh;
export const ingressUrl = istioIngressUrl(nodeIp);
const cookie = `${config.mirrorCookie.name}=${config.mirrorCookie.value}`;
export const curl = ingressUrl.apply((url) => ({
  hostname: curlCommand(url, demoApp("hostname"), config.apps.hostname),
  hostnameMirrored: curlCommand(url, demoApp("hostname"), config.apps.hostname, cookie),
  movies: curlCommand(url, demoApp("movies"), config.apps.movies),
}));
