// The Pulumi program under several stack configs, through Pulumi's mocks:
// the exact Istio routing, the Deployments and Services, the outputs, and the
// errors for bad config. Every rendered object is validated against the real
// Kubernetes and Istio schemas (kubernetes-models, @kubernetes-models/istio).
import { nodePortNamed } from "../../components/ingress";
import { validateAll } from "../support/schemas";
import {
  byType,
  changedResources,
  MOCK_INGRESS_NODE_PORT,
  named,
  ProgramRun,
  runProgram,
  T,
  useMockedMachine,
} from "../support/pulumiProgram";

const BASE = { nodeIp: "192.168.49.2", "apps": JSON.stringify({}) };
const FQDN = { hostname: "hostname.mirror-demo.svc.cluster.local", movies: "movies.mirror-demo.svc.cluster.local" };
const COOKIE_REGEX = "^(.*?;\\s*)?(user=test)(;.*)?$";

function destination(app: "hostname" | "movies", subset: "v1" | "v2") {
  return { host: FQDN[app], subset, port: { number: app === "hostname" ? 80 : 3000 } };
}

function expectedHostnameVs(percent: number) {
  return {
    hosts: ["hostname.example.com"],
    gateways: ["mirror-demo/mirror-gateway"],
    http: [
      {
        name: "hostname-mirror-user",
        match: [{ headers: { cookie: { regex: COOKIE_REGEX } } }],
        route: [{ destination: destination("hostname", "v1"), weight: 100 }],
        mirror: destination("hostname", "v2"),
        mirrorPercentage: { value: percent },
      },
      { name: "hostname-primary", route: [{ destination: destination("hostname", "v1"), weight: 100 }] },
    ],
  };
}

function expectedMoviesVs(percent: number) {
  return {
    hosts: ["*"],
    gateways: ["mirror-demo/mirror-gateway"],
    http: [
      {
        name: "movies-mirror-all",
        route: [{ destination: destination("movies", "v1"), weight: 100 }],
        mirror: destination("movies", "v2"),
        mirrorPercentage: { value: percent },
      },
    ],
  };
}

const vsSpec = (run: ProgramRun, app: string) => named(run, T.virtualService, app).inputs.spec;

beforeAll(useMockedMachine);

describe("default config", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ nodeIp: "192.168.49.2" });
  });

  test("routes both apps to v1 and mirrors to v2 at 100 %", () => {
    expect(vsSpec(run, "hostname")).toEqual(expectedHostnameVs(100));
    expect(vsSpec(run, "movies")).toEqual(expectedMoviesVs(100));
  });

  test("DestinationRules define subsets v1 and v2 by the version label", () => {
    for (const app of ["hostname", "movies"] as const) {
      expect(named(run, T.destinationRule, app).inputs.spec).toEqual({
        host: FQDN[app],
        subsets: [
          { name: "v1", labels: { version: "v1" } },
          { name: "v2", labels: { version: "v2" } },
        ],
      });
    }
  });

  test("one Gateway on Istio's ingress gateway, port 80 HTTP, every app's hosts", () => {
    const gateways = byType(run, T.gateway);
    expect(gateways).toHaveLength(1);
    expect(gateways[0].inputs.metadata).toMatchObject({ name: "mirror-gateway", namespace: "mirror-demo" });
    expect(gateways[0].inputs.spec).toEqual({
      selector: { istio: "ingressgateway" },
      servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["hostname.example.com", "*"] }],
    });
  });

  test("the namespace is labelled for sidecar injection", () => {
    const [namespace] = byType(run, T.namespace);
    expect(namespace.inputs.metadata.name).toBe("mirror-demo");
    expect(namespace.inputs.metadata.labels["istio-injection"]).toBe("enabled");
  });

  test("Deployments <app>-v1 and <app>-v2 with app/version labels and pod hygiene", () => {
    const deployments = byType(run, T.deployment);
    expect(deployments.map((d) => d.inputs.metadata.name).sort()).toEqual([
      "hostname-v1",
      "hostname-v2",
      "movies-v1",
      "movies-v2",
    ]);
    for (const deployment of deployments) {
      const [app, version] = deployment.inputs.metadata.name.split("-");
      const { spec } = deployment.inputs;
      expect(deployment.inputs.metadata.namespace).toBe("mirror-demo");
      expect(spec.selector.matchLabels).toEqual({ app, version });
      expect(spec.template.metadata.labels).toEqual({ app, version });
      const pod = spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(0);
      const [container] = pod.containers;
      expect(container.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(container.resources.requests).toBeDefined();
      expect(container.resources.limits).toBeDefined();
      expect(container.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(container.imagePullPolicy).toBe("IfNotPresent");
      expect(container.env).toEqual(expect.arrayContaining([{ name: "VERSION", value: version }]));
      const containerPort = app === "hostname" ? 8080 : 3000;
      expect(container.ports).toEqual([{ name: "http", containerPort, protocol: "TCP" }]);
      expect(container.image).toMatch(new RegExp(`^traffic-mirroring/${app}:[0-9a-f]{12}$`));
    }
  });

  test("Services <app> select on app only, port named http", () => {
    expect(named(run, T.service, "hostname").inputs.spec).toEqual({
      selector: { app: "hostname" },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    });
    expect(named(run, T.service, "movies").inputs.spec).toEqual({
      selector: { app: "movies" },
      ports: [{ name: "http", port: 3000, targetPort: "http", protocol: "TCP" }],
    });
  });

  test("images are built from the workload folders into minikube's daemon, tagged by content, not pushed", () => {
    const images = byType(run, T.image);
    expect(images.map((image) => image.name).sort()).toEqual(["hostname-image", "movies-image"]);
    for (const image of images) {
      const app = image.name.replace("-image", "");
      expect(image.inputs.skipPush).toBe(true);
      expect(image.inputs.imageName).toMatch(new RegExp(`^traffic-mirroring/${app}:[0-9a-f]{12}$`));
      expect(image.inputs.build.context).toMatch(/\/workloads$/);
      expect(image.inputs.build.dockerfile).toMatch(new RegExp(`/workloads/${app}/Dockerfile$`));
      expect(image.provider).toContain("minikube-docker");
    }
    const [provider] = byType(run, "pulumi:providers:docker");
    expect(provider.inputs.host).toBe("tcp://192.168.49.2:2376");
  });

  test("exports the ingress URL, the mesh and ready-to-paste curl commands", () => {
    const url = `http://192.168.49.2:${MOCK_INGRESS_NODE_PORT}`;
    expect(run.outputs.ingressUrl).toBe(url);
    expect(run.outputs.mesh).toBe("istio"); // auto, and the mocked cluster serves Istio's CRD
    expect(run.outputs.curl).toEqual({
      hostname: `curl -s -H 'Host: hostname.example.com' ${url}/version/`,
      hostnameMirrored: `curl -s -H 'Host: hostname.example.com' --cookie 'user=test' ${url}/version/`,
      movies: `curl -s ${url}/`,
    });
  });

  test("every rendered Kubernetes and Istio object passes its schema", () => {
    // 1 namespace + 4 deployments + 2 services + 1 gateway + 2 DR + 2 VS
    expect(validateAll(run)).toBe(12);
  });
});

describe.each([
  [0, "0"],
  [0.5, "0.5"],
  [25, "25"],
])("mirrorPercent %s", (percent, raw) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ ...BASE, mirrorPercent: raw });
  });

  test("sets mirrorPercentage.value on every app's mirror", () => {
    expect(vsSpec(run, "hostname")).toEqual(expectedHostnameVs(percent));
    expect(vsSpec(run, "movies")).toEqual(expectedMoviesVs(percent));
  });

  test("renders schema-valid objects", () => {
    expect(validateAll(run)).toBe(12);
  });
});

describe("toggling mirrorPercent", () => {
  test("changes only the VirtualServices", async () => {
    const full = await runProgram({ ...BASE, mirrorPercent: "100" });
    const quarter = await runProgram({ ...BASE, mirrorPercent: "25" });
    expect(changedResources(full, quarter)).toEqual([`${T.virtualService}/hostname`, `${T.virtualService}/movies`]);
  });
});

describe("per-app override", () => {
  test("apps.movies.mirrorPercent overrides the global value for movies only", async () => {
    const run = await runProgram({
      ...BASE,
      mirrorPercent: "50",
      apps: JSON.stringify({ movies: { mirrorPercent: 10 } }),
    });
    expect(vsSpec(run, "hostname")).toEqual(expectedHostnameVs(50));
    expect(vsSpec(run, "movies")).toEqual(expectedMoviesVs(10));
    expect(validateAll(run)).toBe(12);
  });

  test("apps.<app>.image deploys a ready-made image and skips its build", async () => {
    const run = await runProgram({ ...BASE, apps: JSON.stringify({ hostname: { image: "example/hostname:1.0" } }) });
    expect(byType(run, T.image).map((image) => image.name)).toEqual(["movies-image"]);
    for (const version of ["v1", "v2"]) {
      const container = named(run, T.deployment, `hostname-${version}`).inputs.spec.template.spec.containers[0];
      expect(container.image).toBe("example/hostname:1.0");
    }
  });

  test("with every image ready-made, no Docker daemon is needed", async () => {
    const saved = process.env.DOCKER_HOST;
    delete process.env.DOCKER_HOST;
    try {
      const apps = { hostname: { image: "example/hostname:1" }, movies: { image: "example/movies:1" } };
      const run = await runProgram({ ...BASE, apps: JSON.stringify(apps) });
      expect(byType(run, T.image)).toHaveLength(0);
      expect(byType(run, "pulumi:providers:docker")).toHaveLength(0);
    } finally {
      process.env.DOCKER_HOST = saved;
    }
  });

  test("namespace, hosts and cookie flow into every object", async () => {
    const run = await runProgram({
      ...BASE,
      namespace: "dark-launch",
      mirrorCookie: "beta=yes",
      apps: JSON.stringify({ movies: { hosts: ["movies.example.com"] } }),
    });
    expect(byType(run, T.deployment).every((d) => d.inputs.metadata.namespace === "dark-launch")).toBe(true);
    const hostnameVs = vsSpec(run, "hostname");
    expect(hostnameVs.gateways).toEqual(["dark-launch/mirror-gateway"]);
    expect(hostnameVs.http[0].match).toEqual([{ headers: { cookie: { regex: "^(.*?;\\s*)?(beta=yes)(;.*)?$" } } }]);
    expect(hostnameVs.http[0].mirror.host).toBe("hostname.dark-launch.svc.cluster.local");
    expect(vsSpec(run, "movies").hosts).toEqual(["movies.example.com"]);
    expect(byType(run, T.gateway)[0].inputs.spec.servers[0].hosts).toEqual([
      "hostname.example.com",
      "movies.example.com",
    ]);
    expect((run.outputs.curl as Record<string, string>).movies).toContain("-H 'Host: movies.example.com'");
    expect(validateAll(run)).toBe(12);
  });
});

describe("bad config fails the preview with a message naming key, value and what is allowed", () => {
  test.each([
    [{ mirrorPercent: "150" }, /traffic-mirroring:mirrorPercent = "150": expected a number from 0 to 100/],
    [{ mirrorPercent: "-1" }, /traffic-mirroring:mirrorPercent = "-1": expected a number from 0 to 100/],
    [{ mirrorPercent: "abc" }, /traffic-mirroring:mirrorPercent = "abc": expected a number from 0 to 100, decimals allowed/],
    // A new app (hostname and movies are built in) needs its images.
    [{ apps: JSON.stringify({ billing: { mirrorPercent: 5 } }) }, /traffic-mirroring:apps\.billing\.v2\.image: missing: a new app needs the image of v2/],
    [{ apps: JSON.stringify({ movies: { mirrorPercent: 101 } }) }, /traffic-mirroring:apps\.movies\.mirrorPercent = 101: expected a number from 0 to 100/],
    [{ mesh: "linkerd" }, /traffic-mirroring:mesh = "linkerd": expected one of istio, proxy, auto/],
    [{ namespace: "Bad_NS" }, /traffic-mirroring:namespace = "Bad_NS": expected a DNS label/],
  ])("%j", async (config, message) => {
    await expect(runProgram({ ...BASE, ...config })).rejects.toThrow(message);
  });

  test("several bad keys are reported together", async () => {
    await expect(runProgram({ ...BASE, mirrorPercent: "150", mesh: "linkerd" })).rejects.toThrow(
      /mirrorPercent = "150"[\s\S]*mesh = "linkerd"/,
    );
  });
});

describe("cluster facts the program needs", () => {
  test("without nodeIp and without minikube, the error names the config key to set", async () => {
    await expect(runProgram({})).rejects.toThrow(/pulumi config set traffic-mirroring:nodeIp/);
  });

  test("without a Docker daemon to build into, the error says how to get one or skip the build", async () => {
    const saved = process.env.DOCKER_HOST;
    delete process.env.DOCKER_HOST;
    try {
      await expect(runProgram(BASE)).rejects.toThrow(/eval \$\(minikube docker-env\)[\s\S]*apps\.<app>\.image/);
    } finally {
      process.env.DOCKER_HOST = saved;
    }
  });

  test("an ingress gateway without an http2 node port is reported by name", () => {
    // Pure check (a throwing apply under mocks would crash the jest worker).
    expect(() => nodePortNamed([{ name: "http", port: 80 } as any], "http2", "istio-system/istio-ingressgateway")).toThrow(
      /istio-system\/istio-ingressgateway has no node port on its port named "http2"/,
    );
    expect(nodePortNamed([{ name: "http2", nodePort: 30080 }], "http2", "gw")).toBe(30080);
  });
});
