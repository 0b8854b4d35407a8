// mesh: auto's Gateway API question, asked of a local stand-in API server
// (as the Istio detector's test does): is gateway.networking.k8s.io/v1
// HTTPRoute served, which GatewayClasses are Accepted, and can one of them
// mirror as the config asks. The order and the reason are printed.
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { decideGatewayApi, detectDataPlane, ISTIO_VIRTUALSERVICE_CRD, istioVersionOfImage } from "../../components/meshDetect";
import { RoutingNeed } from "../../components/gatewayApiSupport";
import { runProgram, useMockedMachine, byType, T } from "../support/pulumiProgram";

type Cluster = {
  istio: boolean;
  gatewayApi: boolean;
  classes: Array<{ name: string; controllerName: string; accepted: boolean }>;
};

const notFound = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 };
const needs = (...list: RoutingNeed[]) => ({ needs: new Set<RoutingNeed>(list) });

describe("Gateway API detection through the Kubernetes API (a local stand-in API server)", () => {
  let server: Server;
  let cluster: Cluster = { istio: false, gatewayApi: true, classes: [] };
  const seen: string[] = [];
  const savedKubeconfig = process.env.KUBECONFIG;

  function answer(req: IncomingMessage, res: ServerResponse): void {
    seen.push(`${req.method} ${req.url}`);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.url === `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${ISTIO_VIRTUALSERVICE_CRD}`) {
      return cluster.istio ? json(200, { kind: "CustomResourceDefinition", metadata: { name: ISTIO_VIRTUALSERVICE_CRD }, spec: { versions: [{ name: "v1", served: true }] } }) : json(404, notFound);
    }
    if (req.url === "/apis/apps/v1/namespaces/istio-system/deployments/istiod") {
      if (!cluster.istio) return json(404, notFound);
      return json(200, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "istiod", namespace: "istio-system" },
        spec: { selector: {}, template: { spec: { containers: [{ name: "discovery", image: "docker.io/istio/pilot:1.28.1-distroless" }] } } },
      });
    }
    if (req.url === "/apis/gateway.networking.k8s.io/v1") {
      if (!cluster.gatewayApi) return json(404, notFound);
      return json(200, {
        kind: "APIResourceList",
        groupVersion: "gateway.networking.k8s.io/v1",
        resources: ["gatewayclasses", "gateways", "httproutes", "grpcroutes"].map((name) => ({ name, namespaced: name !== "gatewayclasses", kind: name, verbs: ["get", "list"] })),
      });
    }
    if (req.url === "/apis/gateway.networking.k8s.io/v1/gatewayclasses") {
      return json(200, {
        kind: "GatewayClassList",
        apiVersion: "gateway.networking.k8s.io/v1",
        items: cluster.classes.map((c) => ({
          metadata: { name: c.name },
          spec: { controllerName: c.controllerName },
          status: { conditions: [{ type: "Accepted", status: c.accepted ? "True" : "False", reason: c.accepted ? "Accepted" : "Waiting" }] },
        })),
      });
    }
    json(404, notFound);
  }

  beforeAll(async () => {
    useMockedMachine();
    server = createServer(answer);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const dir = mkdtempSync(path.join(tmpdir(), "kubeconfig-"));
    const file = path.join(dir, "config");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: local, cluster: {server: '" + url + "', insecure-skip-tls-verify: true}}]",
        "users: [{name: me, user: {token: test-token}}]",
        "contexts: [{name: local, context: {cluster: local, user: me}}]",
        "current-context: local",
      ].join("\n"),
    );
    process.env.KUBECONFIG = file;
  });

  afterAll(async () => {
    process.env.KUBECONFIG = savedKubeconfig;
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    await new Promise((resolve) => server.close(resolve));
  });

  test("Istio first: its CRD decides before Gateway API is asked", async () => {
    cluster = { istio: true, gatewayApi: true, classes: [{ name: "eg", controllerName: "gateway.envoyproxy.io/gatewayclass-controller", accepted: true }] };
    seen.length = 0;
    const decision = await detectDataPlane(needs("mirror"));
    expect(decision.mesh).toBe("istio");
    expect(decision.reason).toMatch(/^1\. the cluster \(context local\) serves the CRD/);
    expect(seen.some((line) => line.includes("gateway.networking.k8s.io"))).toBe(false);
    // istiod's image tag tells the version, for the 1.28+ -shadow warning.
    expect(decision.istioVersion).toBe("1.28.1");
  });

  test("no Istio, an accepted Envoy Gateway class: gateway-api, with the order and the reason", async () => {
    cluster = {
      istio: false,
      gatewayApi: true,
      classes: [
        { name: "waiting", controllerName: "example.com/other", accepted: false },
        { name: "eg", controllerName: "gateway.envoyproxy.io/gatewayclass-controller", accepted: true },
      ],
    };
    seen.length = 0;
    const decision = await detectDataPlane(needs("mirror", "percentage"));
    expect(decision).toEqual({
      mesh: "gateway-api",
      reason:
        `1. the cluster (context local) has no CRD ${ISTIO_VIRTUALSERVICE_CRD}: Istio is absent; ` +
        "2. Gateway API HTTPRoutes are served and GatewayClass eg (gateway.envoyproxy.io/gatewayclass-controller, Envoy Gateway) is accepted (accepted: eg)",
      gatewayClass: { name: "eg", controllerName: "gateway.envoyproxy.io/gatewayclass-controller" },
    });
    expect(seen).toEqual([
      `GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/${ISTIO_VIRTUALSERVICE_CRD}`,
      "GET /apis/gateway.networking.k8s.io/v1",
      "GET /apis/gateway.networking.k8s.io/v1/gatewayclasses",
    ]);
  });

  test("only Contour, and the config asks for a percentage: the proxy, naming why", async () => {
    cluster = { istio: false, gatewayApi: true, classes: [{ name: "contour", controllerName: "projectcontour.io/gateway-controller", accepted: true }] };
    const decision = await detectDataPlane(needs("mirror", "percentage"));
    expect(decision.mesh).toBe("proxy");
    expect(decision.reason).toMatch(
      /2\. Gateway API is served, but no accepted GatewayClass can mirror as configured: GatewayClass contour .*Contour\) does not implement percentage mirroring.*; 3\. so our mirror proxy$/,
    );
    // At 100 % (no percentage) Contour is fine.
    expect((await detectDataPlane(needs("mirror"))).mesh).toBe("gateway-api");
  });

  test("Gateway API not served: the proxy", async () => {
    cluster = { istio: false, gatewayApi: false, classes: [] };
    const decision = await detectDataPlane(needs("mirror"));
    expect(decision.mesh).toBe("proxy");
    expect(decision.reason).toContain("2. Gateway API is not served (no gateway.networking.k8s.io/v1 httproutes); 3. so our mirror proxy");
  });

  test("served, but no class accepted (or not the configured one): the proxy", async () => {
    cluster = { istio: false, gatewayApi: true, classes: [{ name: "eg", controllerName: "gateway.envoyproxy.io/gatewayclass-controller", accepted: false }] };
    expect((await detectDataPlane(needs("mirror"))).reason).toContain("no accepted GatewayClass (classes: eg (not accepted))");
    cluster.classes[0].accepted = true;
    const other = await detectDataPlane({ ...needs("mirror"), gatewayClassName: "cilium" });
    expect(other.mesh).toBe("proxy");
    expect(other.reason).toContain("no accepted GatewayClass cilium (classes: eg)");
  });

  test("the program with mesh auto deploys HTTPRoutes for the class found", async () => {
    cluster = { istio: false, gatewayApi: true, classes: [{ name: "cilium", controllerName: "io.cilium/gateway-controller", accepted: true }] };
    const run = await runProgram({ nodeIp: "10.0.0.1" }, { detectMesh: detectDataPlane });
    expect(run.outputs.mesh).toBe("gateway-api");
    expect(byType(run, T.gatewayApiGateway)[0].inputs.spec.gatewayClassName).toBe("cilium");
    expect(byType(run, T.httpRoute).map((r) => r.inputs.metadata.name).sort()).toEqual(["hostname", "movies"]);
  });
});

describe("istioVersionOfImage", () => {
  test.each([
    ["docker.io/istio/pilot:1.28.1-distroless", "1.28.1"],
    ["gcr.io/istio-release/pilot:1.27.0", "1.27.0"],
    ["localhost:5000/pilot:latest", undefined],
    [undefined, undefined],
  ])("%s -> %s", (image, version) => {
    expect(istioVersionOfImage(image)).toBe(version);
  });
});

describe("decideGatewayApi (pure)", () => {
  const facts = (classes: Array<[string, string]>) => ({
    httpRoutesServed: true,
    classes: classes.map(([name, controllerName]) => ({ name, controllerName, accepted: true })),
  });

  test("a fully confirmed class is preferred to an unknown one; then by name", () => {
    const decided = decideGatewayApi(
      facts([
        ["a-unknown", "acme.io/gw"],
        ["nginx", "gateway.nginx.org/nginx-gateway-controller"],
        ["eg", "gateway.envoyproxy.io/gatewayclass-controller"],
      ]),
      needs("mirror", "percentage"),
    );
    expect(decided.decision?.gatewayClass?.name).toBe("eg");
  });

  test("an unknown controller is still chosen when nothing better exists, with its warnings", () => {
    const decided = decideGatewayApi(facts([["acme", "acme.io/gw"]]), needs("mirror"));
    expect(decided.decision?.gatewayClass?.name).toBe("acme");
    expect(decided.findings.map((f) => f.level)).toEqual(["warn"]);
  });
});
