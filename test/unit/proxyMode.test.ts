// Proxy mode (no Istio): the program under Pulumi's mocks renders the mirror
// proxy instead of Istio's objects, its ConfigMap holds routing the proxy's
// own validator accepts, and `mesh: auto` decides through the cluster's API.
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { parseMirrorProxyConfig } from "../../workloads/mirror-proxy/src/config.ts";
import { closedPort } from "../proxy/helpers.ts";
import { detectMeshFromCluster, ISTIO_VIRTUALSERVICE_CRD } from "../../components/meshDetect";
import { validateAll, validateObject } from "../support/schemas";
import {
  byType,
  changedResources,
  MOCK_ALLOCATED_NODE_PORT,
  named,
  ProgramRun,
  runProgram,
  T,
  useMockedMachine,
} from "../support/pulumiProgram";

const ISTIO_TYPES = /networking\.istio\.io/;
const BASE = { nodeIp: "192.168.49.2", mesh: "proxy" };

const routingYaml = (run: ProgramRun): string => named(run, T.configMap, "mirror-proxy").inputs.data["routing.yaml"];
const docsOf = (yamlText: string) => parseAllDocuments(yamlText).map((doc) => doc.toJS()).filter(Boolean);

beforeAll(useMockedMachine);

describe("mesh: proxy", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(BASE);
  });

  test("creates no Istio object and no injection label", () => {
    expect(run.resources.filter((resource) => ISTIO_TYPES.test(resource.type))).toEqual([]);
    const [namespace] = byType(run, T.namespace);
    expect(namespace.inputs.metadata.labels["istio-injection"]).toBeUndefined();
    expect(run.outputs.mesh).toBe("proxy");
  });

  test("per-version Services <app>-v1 / <app>-v2 are headless and select app and version", () => {
    // Headless: the proxy resolves the name to every pod (separate members; the noise copy reaches another v1 pod).
    for (const app of ["hostname", "movies"]) {
      for (const version of ["v1", "v2"]) {
        expect(named(run, T.service, `${app}-${version}`).inputs.spec).toMatchObject({ clusterIP: "None", selector: { app, version } });
      }
      expect(named(run, T.service, app).inputs.spec.clusterIP).toBeUndefined();
    }
  });

  test("the proxy: 2 replicas, probes on the admin port, config mounted read-only, checksum annotation", () => {
    const deployment = named(run, T.deployment, "mirror-proxy").inputs;
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const pod = deployment.spec.template;
    expect(pod.metadata.annotations["traffic-mirroring/config-checksum"]).toMatch(/^[0-9a-f]{16}$/);
    const [container] = pod.spec.containers;
    // command set too: `args` alone keeps the image's ENTRYPOINT (see the next test).
    expect(container.command).toEqual(["node", "--max-semi-space-size=2", "--memory-saver-mode", "--no-concurrent-recompilation", "/app/mirror-proxy/src/main.js"]);
    expect(container.args).toEqual(["--config", "/etc/mirror-proxy/routing.yaml"]);
    expect(container.ports).toEqual([
      { name: "http", containerPort: 8080, protocol: "TCP" },
      { name: "admin", containerPort: 9901, protocol: "TCP" },
    ]);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "admin" });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    expect(container.volumeMounts).toEqual([{ name: "routing", mountPath: "/etc/mirror-proxy", readOnly: true }]);
    expect(pod.spec.volumes).toEqual([{ name: "routing", configMap: { name: "mirror-proxy" } }]);
    expect(container.image).toMatch(/^traffic-mirroring\/mirror-proxy:[0-9a-f]{12}$/);
    expect(byType(run, T.image).map((image) => image.name).sort()).toEqual([
      "hostname-image",
      "mirror-proxy-image",
      "movies-image",
    ]);
  });

  test("the proxy's command + args are the image's CMD, so the pod runs what `docker run` of the image runs", () => {
    // Kubernetes: `command` replaces ENTRYPOINT, `args` replaces CMD. With args only, node's
    // docker-entrypoint.sh saw `--config ...` and ran `node --config ...` (node: bad option);
    // test/pods runs the pods and sees that.
    const dockerfile = readFileSync(path.join(__dirname, "../../workloads/mirror-proxy/Dockerfile"), "utf8");
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]);
    const [container] = named(run, T.deployment, "mirror-proxy").inputs.spec.template.spec.containers;
    expect([...container.command, ...container.args]).toEqual(cmd);
  });

  test("the ConfigMap is updated in place: its provider has enableConfigMapMutable, its name is fixed", async () => {
    // pulumi-kubernetes otherwise replaces a ConfigMap whose data changed: with a fixed name,
    // delete then create, leaving the proxy pods without their routing file meanwhile.
    const configMap = named(run, T.configMap, "mirror-proxy");
    const provider = run.resources.find((r) => r.type === "pulumi:providers:kubernetes" && configMap.provider?.startsWith(`urn:pulumi:`) && configMap.provider.includes(`::${r.name}::`));
    expect(provider?.inputs).toMatchObject({ enableConfigMapMutable: "true" });
    const other = await runProgram({ ...BASE, mirrorPercent: "25" });
    const changed = named(other, T.configMap, "mirror-proxy");
    expect([changed.name, changed.inputs.metadata.name, changed.provider]).toEqual([configMap.name, "mirror-proxy", configMap.provider]);
    expect(changed.inputs.data).not.toEqual(configMap.inputs.data);
  });

  test("a PodDisruptionBudget keeps one proxy up, and a NodePort Service exposes it", () => {
    expect(named(run, T.pdb, "mirror-proxy").inputs.spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: { app: "mirror-proxy" } },
    });
    expect(named(run, T.service, "mirror-proxy").inputs.spec).toEqual({
      type: "NodePort",
      selector: { app: "mirror-proxy" },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    });
  });

  test("ingressUrl is the proxy's node port; the curl commands are the same as in Istio mode", () => {
    const url = `http://192.168.49.2:${MOCK_ALLOCATED_NODE_PORT}`;
    expect(run.outputs.ingressUrl).toBe(url);
    expect(run.outputs.curl).toEqual({
      hostname: `curl -s -H 'Host: hostname.example.com' ${url}/version/`,
      hostnameMirrored: `curl -s -H 'Host: hostname.example.com' --cookie 'user=test' ${url}/version/`,
      movies: `curl -s ${url}/`,
    });
  });

  test("the ConfigMap's routing is accepted by the proxy's own validator", () => {
    const parsed = parseMirrorProxyConfig(routingYaml(run));
    expect(parsed.virtualServices.map((vs) => vs.name).sort()).toEqual(["hostname", "movies"]);
    expect(parsed.proxy.upstreams).toEqual({
      // Headless Services: the pods' port (hostname's Service port 80 maps to 8080 only through a virtual IP).
      "hostname.mirror-demo.svc.cluster.local/v1": "http://hostname-v1.mirror-demo.svc.cluster.local:8080",
      "hostname.mirror-demo.svc.cluster.local/v2": "http://hostname-v2.mirror-demo.svc.cluster.local:8080",
      "movies.mirror-demo.svc.cluster.local/v1": "http://movies-v1.mirror-demo.svc.cluster.local:3000",
      "movies.mirror-demo.svc.cluster.local/v2": "http://movies-v2.mirror-demo.svc.cluster.local:3000",
    });
    expect(parsed.proxy).toMatchObject({ listen: 8080, admin: 9901, shadowHostSuffix: "-shadow" });
  });

  test("the ConfigMap holds the very routing Istio mode applies (minus the gateway binding)", async () => {
    const istio = await runProgram({ ...BASE, mesh: "istio" });
    const docs = docsOf(routingYaml(run));
    for (const kind of ["VirtualService", "DestinationRule"]) {
      const fromIstio = byType(istio, `kubernetes:networking.istio.io/v1:${kind}`).map((r) => r.inputs.spec);
      const fromProxy = docs.filter((doc: any) => doc.kind === kind).map((doc: any) => doc.spec);
      const withoutGateways = fromIstio.map(({ gateways, ...spec }: any) => spec);
      expect(fromProxy).toEqual(withoutGateways);
    }
  });

  test("every rendered object, and every document of the routing file, passes its schema", () => {
    const validated = validateAll(run);
    // namespace, 4 Deployments + proxy, 2 + 4 + 1 Services, ConfigMap, PDB, HPA
    expect(validated).toBe(16);
    const routingDocs = docsOf(routingYaml(run)) as Array<Record<string, any>>;
    // 2 DestinationRules + 2 VirtualServices have schemas; the MirrorProxy document is ours.
    expect(routingDocs.filter((doc) => validateObject(doc))).toHaveLength(4);
  });
});

describe("mirrorPercent in proxy mode", () => {
  test("rolls only the proxy: the ConfigMap and the proxy's checksum change, the demo services do not", async () => {
    const full = await runProgram({ ...BASE, mirrorPercent: "100" });
    const half = await runProgram({ ...BASE, mirrorPercent: "50" });
    expect(changedResources(full, half)).toEqual([`${T.deployment}/mirror-proxy`, `${T.configMap}/mirror-proxy`]);
    const values = docsOf(routingYaml(half))
      .filter((doc: any) => doc.kind === "VirtualService")
      .flatMap((doc: any) => doc.spec.http.filter((route: any) => route.mirror).map((route: any) => route.mirrorPercentage.value));
    expect(values).toEqual([50, 50]);
  });

  test("proxyImage deploys a ready-made proxy image and skips its build", async () => {
    const run = await runProgram({ ...BASE, proxyImage: "example/mirror-proxy:1" });
    expect(byType(run, T.image).map((image) => image.name)).not.toContain("mirror-proxy-image");
    expect(named(run, T.deployment, "mirror-proxy").inputs.spec.template.spec.containers[0].image).toBe(
      "example/mirror-proxy:1",
    );
  });
});

describe("mesh: auto", () => {
  test("deploys Istio's objects when the detector finds the CRD", async () => {
    const run = await runProgram({ nodeIp: "10.0.0.1" }, { detectMesh: async () => ({ mesh: "istio", reason: "found" }) });
    expect(run.outputs.mesh).toBe("istio");
    expect(run.resources.some((resource) => ISTIO_TYPES.test(resource.type))).toBe(true);
    expect(byType(run, T.configMap)).toEqual([]);
  });

  test("deploys the proxy when the detector finds no CRD", async () => {
    const run = await runProgram({ nodeIp: "10.0.0.1" }, { detectMesh: async () => ({ mesh: "proxy", reason: "absent" }) });
    expect(run.outputs.mesh).toBe("proxy");
    expect(run.resources.some((resource) => ISTIO_TYPES.test(resource.type))).toBe(false);
    expect(named(run, T.deployment, "mirror-proxy")).toBeDefined();
  });

  test("an explicit mesh never asks the detector", async () => {
    const detector = jest.fn(async () => ({ mesh: "istio" as const, reason: "asked" }));
    const run = await runProgram({ ...BASE, mesh: "proxy" }, { detectMesh: detector });
    expect(detector).not.toHaveBeenCalled();
    expect(run.outputs.mesh).toBe("proxy");
  });
});

describe("detecting Istio through the Kubernetes API (a local stand-in API server)", () => {
  let server: Server;
  let crdStatus = 200;
  // As Istio >= 1.22 installs the CRD (its crd-all.gen.yaml): v1alpha3 (stored), v1beta1, v1.
  const ISTIO_1_22_VERSIONS = [
    { name: "v1", served: true, storage: false },
    { name: "v1alpha3", served: true, storage: true },
    { name: "v1beta1", served: true, storage: false },
  ];
  let crdVersions = ISTIO_1_22_VERSIONS;
  const seen: string[] = [];
  let kubeconfigDir: string;
  const savedKubeconfig = process.env.KUBECONFIG;

  function writeKubeconfig(serverUrl: string): void {
    const file = path.join(kubeconfigDir, "config");
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        // Plain HTTP on loopback: client-node allows it only with TLS verification off.
        "clusters: [{name: local, cluster: {server: '" + serverUrl + "', insecure-skip-tls-verify: true}}]",
        "users: [{name: me, user: {token: test-token}}]",
        "contexts: [{name: local, context: {cluster: local, user: me}}]",
        "current-context: local",
      ].join("\n"),
    );
    process.env.KUBECONFIG = file;
  }

  beforeAll(async () => {
    kubeconfigDir = mkdtempSync(path.join(tmpdir(), "kubeconfig-"));
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      res.writeHead(crdStatus, { "content-type": "application/json" });
      res.end(
        crdStatus === 200
          ? JSON.stringify({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: ISTIO_VIRTUALSERVICE_CRD }, spec: { versions: crdVersions } })
          : JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    process.env.KUBECONFIG = savedKubeconfig;
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    await new Promise((resolve) => server.close(resolve));
  });

  test("the CRD is served: istio", async () => {
    crdStatus = 200;
    writeKubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const decision = await detectMeshFromCluster();
    expect(decision.mesh).toBe("istio");
    expect(decision.reason).toContain("context local");
    expect(seen.at(-1)).toBe(
      `GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/${ISTIO_VIRTUALSERVICE_CRD} Bearer test-token`,
    );
  });

  test("the CRD without a served v1 (Istio < 1.22): an error saying to upgrade Istio or set mesh proxy", async () => {
    crdStatus = 200;
    crdVersions = ISTIO_1_22_VERSIONS.filter((v) => v.name !== "v1");
    writeKubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      await expect(detectMeshFromCluster()).rejects.toThrow(
        `the cluster (context local) has Istio's CRD ${ISTIO_VIRTUALSERVICE_CRD} but does not serve its version v1 (served: v1alpha3, v1beta1): ` +
          "Istio is older than 1.22, and this program applies networking.istio.io/v1 objects. Upgrade Istio to 1.22 or later " +
          "(istioctl upgrade), or deploy our mirror proxy instead: pulumi config set traffic-mirroring:mesh proxy",
      );
    } finally {
      crdVersions = ISTIO_1_22_VERSIONS;
    }
  });

  test("the CRD is not found: proxy", async () => {
    crdStatus = 404;
    writeKubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const decision = await detectMeshFromCluster();
    expect(decision).toEqual({
      mesh: "proxy",
      reason: `the cluster (context local) has no CRD ${ISTIO_VIRTUALSERVICE_CRD}: Istio is absent`,
    });
  });

  test("an unreachable cluster fails with a message that says to set mesh", async () => {
    writeKubeconfig(`http://127.0.0.1:${await closedPort()}`);
    await expect(detectMeshFromCluster()).rejects.toThrow(
      /mesh is "auto" but the cluster could not be asked[\s\S]*pulumi config set traffic-mirroring:mesh istio/,
    );
  });

  test("the program with mesh auto uses that answer", async () => {
    crdStatus = 404;
    writeKubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const run = await runProgram({ nodeIp: "10.0.0.1" }, { detectMesh: detectMeshFromCluster });
    expect(run.outputs.mesh).toBe("proxy");
  });
});

describe("compare (proxy mode)", () => {
  const proxySpec = (run: ProgramRun) =>
    (docsOf(routingYaml(run)) as any[]).find((doc) => doc.kind === "MirrorProxy").spec;

  test("off by default: no compare block", async () => {
    const run = await runProgram(BASE);
    expect(proxySpec(run).compare).toBeUndefined();
  });

  test("apps.movies.compare names movies' mirrored route, and the proxy accepts it", async () => {
    const run = await runProgram({ ...BASE, apps: JSON.stringify({ movies: { compare: true } }) });
    expect(proxySpec(run).compare).toEqual({
      routes: ["movies-mirror-all"],
      ignorePaths: ["$[*].version"], // each movie names the version that served it
      noise: { samplePercent: 10, minSamples: 5 },
    });
    expect(() => parseMirrorProxyConfig(routingYaml(run))).not.toThrow();
    // Two v1 pods of the compared app, so the proxy can learn their differences as noise.
    expect(named(run, T.deployment, "movies-v1").inputs.spec.replicas).toBe(2);
    expect(named(run, T.deployment, "movies-v2").inputs.spec.replicas).toBe(1);
    expect(named(run, T.deployment, "hostname-v1").inputs.spec.replicas).toBe(1);
  });

  test("compare true covers every app; a per-app false wins", async () => {
    const all = await runProgram({ ...BASE, compare: "true" });
    expect(proxySpec(all).compare.routes).toEqual(["hostname-mirror-user", "movies-mirror-all"]);
    expect(() => parseMirrorProxyConfig(routingYaml(all))).not.toThrow();
    const some = await runProgram({ ...BASE, compare: "true", apps: JSON.stringify({ hostname: { compare: false } }) });
    expect(proxySpec(some).compare.routes).toEqual(["movies-mirror-all"]);
  });

  test("a value other than true/false names the key", async () => {
    await expect(runProgram({ ...BASE, compare: "yes" })).rejects.toThrow(/traffic-mirroring:compare = "yes": expected true or false/);
    await expect(runProgram({ ...BASE, apps: JSON.stringify({ movies: { compare: 1 } }) })).rejects.toThrow(
      /traffic-mirroring:apps\.movies\.compare = 1: expected true or false/,
    );
  });

  test("with Istio, compare changes nothing Istio renders", async () => {
    const plain = await runProgram({ ...BASE, mesh: "istio" });
    const compared = await runProgram({ ...BASE, mesh: "istio", compare: "true" });
    expect(compared.resources.map((r) => JSON.stringify(r.inputs))).toEqual(plain.resources.map((r) => JSON.stringify(r.inputs)));
  });
});
