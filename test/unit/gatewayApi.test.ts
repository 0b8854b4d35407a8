// mesh: gateway-api under Pulumi's mocks: the exact Gateway and HTTPRoutes,
// every object validated against @kubernetes-models/gateway-api, toggling
// mirrorPercent changes only the routes; the pure renderer and the
// known-controllers compatibility check.
import { demoApp } from "../../components/apps";
import { parseStackConfig } from "../../components/config";
import { gatewayIngressUrl, mirrorShare, renderHttpRoute, routingNeeds } from "../../components/gatewayApi";
import { checkGatewayApiSupport, checkIstioShadowSuffix, KNOWN_CONTROLLERS, RoutingNeed } from "../../components/gatewayApiSupport";
import { buildAppRouting, buildStackRoutings } from "../../components/routing";
import { validateAll, validateObject } from "../support/schemas";
import {
  byType,
  changedResources,
  MOCK_GATEWAY_NODE_PORT,
  named,
  ProgramRun,
  runProgram,
  T,
  useMockedMachine,
} from "../support/pulumiProgram";

const BASE = { nodeIp: "192.168.49.2", mesh: "gateway-api", gatewayClassName: "istio" };
const COOKIE_REGEX = "^(.*?;\\s*)?(user=test)(;.*)?$";

function expectedRoutes(percent: ReturnType<typeof mirrorShare>) {
  const labels = (app: string) => ({ app, "app.kubernetes.io/managed-by": "traffic-mirroring" });
  return {
    hostname: {
      parentRefs: [{ name: "mirror-gateway" }],
      hostnames: ["hostname.example.com"],
      rules: [
        {
          name: "hostname-mirror-user",
          matches: [{ headers: [{ type: "RegularExpression", name: "cookie", value: COOKIE_REGEX }] }],
          filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "hostname-v2", port: 80 }, ...percent } }],
          backendRefs: [{ name: "hostname-v1", port: 80 }],
        },
        { name: "hostname-primary", backendRefs: [{ name: "hostname-v1", port: 80 }] },
      ],
    },
    movies: {
      parentRefs: [{ name: "mirror-gateway" }],
      rules: [
        {
          name: "movies-mirror-all",
          filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "movies-v2", port: 3000 }, ...percent } }],
          backendRefs: [{ name: "movies-v1", port: 3000 }],
        },
      ],
    },
    labels,
  };
}

beforeAll(useMockedMachine);

describe("mesh: gateway-api", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(BASE);
  });

  test("one Gateway of the configured class, one HTTP listener on port 80", () => {
    const [gateway] = byType(run, T.gatewayApiGateway);
    expect(gateway.inputs).toEqual({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "mirror-gateway", namespace: "mirror-demo" },
      spec: {
        gatewayClassName: "istio",
        listeners: [{ name: "http", port: 80, protocol: "HTTP", allowedRoutes: { namespaces: { from: "Same" } } }],
      },
    });
  });

  test("per app an HTTPRoute: live requests to <app>-v1, copies to <app>-v2 (100 %: no percent)", () => {
    const expected = expectedRoutes({});
    for (const app of ["hostname", "movies"] as const) {
      const route = named(run, T.httpRoute, app).inputs;
      expect(route.metadata).toEqual({ name: app, namespace: "mirror-demo", labels: expected.labels(app) });
      expect(route.spec).toEqual(expected[app]);
    }
  });

  test("no Istio object, no injection label, no proxy; per-version Services exist", () => {
    expect(run.resources.filter((r) => /networking\.istio\.io/.test(r.type))).toEqual([]);
    expect(byType(run, T.configMap)).toEqual([]);
    expect(byType(run, T.namespace)[0].inputs.metadata.labels["istio-injection"]).toBeUndefined();
    for (const app of ["hostname", "movies"]) {
      for (const version of ["v1", "v2"]) expect(named(run, T.service, `${app}-${version}`).inputs.spec.selector).toEqual({ app, version });
    }
    expect(run.outputs.mesh).toBe("gateway-api");
  });

  test("every rendered object passes its schema (Gateway and HTTPRoutes included)", () => {
    // namespace, 4 Deployments, 2 + 4 Services, Gateway, 2 HTTPRoutes
    expect(validateAll(run)).toBe(14);
    for (const route of byType(run, T.httpRoute)) expect(validateObject(route.inputs)).toBe(true);
  });

  test("ingressUrl: the node port of the Gateway's Service <gateway>-<class>", () => {
    expect(run.outputs.ingressUrl).toBe(`http://192.168.49.2:${MOCK_GATEWAY_NODE_PORT}`);
    expect(byType(run, T.service).some((s) => s.name === "mirror-gateway-istio-service")).toBe(true);
  });

  test("ingressUrl: the Gateway's status IP address when it reports one", async () => {
    const withAddress = await runProgram(BASE, { gatewayAddresses: ["mirror-gateway-istio.mirror-demo.svc.cluster.local", "10.96.0.50"] });
    expect(withAddress.outputs.ingressUrl).toBe("http://10.96.0.50");
  });

  test("a Gateway Service without a node port: the error says what is missing", () => {
    // Pure (a throwing apply under mocks would crash the jest worker).
    const input = { serviceId: "mirror-demo/mirror-gateway-istio", nodeIp: "10.0.0.1" };
    expect(() => gatewayIngressUrl({ ...input, servicePorts: [{ name: "http" }] })).toThrow(
      /Service mirror-demo\/mirror-gateway-istio has no node port on its port named "http".*mesh proxy/,
    );
    expect(gatewayIngressUrl({ ...input, servicePorts: [{ name: "http", nodePort: 30001 }] })).toBe("http://10.0.0.1:30001");
    expect(gatewayIngressUrl({ ...input, address: "fd00::5" })).toBe("http://[fd00::5]");
  });
});

describe("mirrorPercent with gateway-api", () => {
  test("changes only the HTTPRoutes; a whole percent is `percent`, a decimal a `fraction`", async () => {
    const full = await runProgram({ ...BASE, mirrorPercent: "100" });
    const some = await runProgram({ ...BASE, mirrorPercent: "25" });
    expect(changedResources(full, some)).toEqual([`${T.httpRoute}/hostname`, `${T.httpRoute}/movies`]);
    expect(named(some, T.httpRoute, "movies").inputs.spec).toEqual(expectedRoutes({ percent: 25 }).movies);

    const half = await runProgram({ ...BASE, mirrorPercent: "0.5" });
    expect(named(half, T.httpRoute, "hostname").inputs.spec).toEqual(
      expectedRoutes({ fraction: { numerator: 1, denominator: 200 } }).hostname,
    );
    expect(validateAll(half)).toBe(14);
  });

  test("mirrorShare: 100 -> nothing, whole -> percent, decimals -> exact reduced fraction", () => {
    expect(mirrorShare(100)).toEqual({});
    expect(mirrorShare(0)).toEqual({ percent: 0 });
    expect(mirrorShare(37)).toEqual({ percent: 37 });
    expect(mirrorShare(0.5)).toEqual({ fraction: { numerator: 1, denominator: 200 } });
    expect(mirrorShare(12.5)).toEqual({ fraction: { numerator: 1, denominator: 8 } });
    expect(mirrorShare(0.01)).toEqual({ fraction: { numerator: 1, denominator: 10000 } });
    expect(mirrorShare(33.3)).toEqual({ fraction: { numerator: 333, denominator: 1000 } });
  });
});

describe("the compatibility check before deploying", () => {
  test("a class whose controller lacks percentage mirroring fails, naming the feature, the controller and mesh proxy", async () => {
    await expect(
      runProgram({ ...BASE, gatewayClassName: "contour", mirrorPercent: "10" }, { gatewayClasses: { contour: "projectcontour.io/gateway-controller" } }),
    ).rejects.toThrow(
      /GatewayClass contour \(controller projectcontour\.io\/gateway-controller, Contour\) does not implement percentage mirroring \(RequestMirror percent\) \[HTTPRouteRequestPercentageMirror\].*use mesh: proxy/,
    );
    // At 100 % no percentage is rendered, so Contour does: the same config deploys.
    const run = await runProgram({ ...BASE, gatewayClassName: "contour" }, { gatewayClasses: { contour: "projectcontour.io/gateway-controller" } });
    expect(byType(run, T.httpRoute)).toHaveLength(2);
  });

  test("Traefik: no mirroring at all", async () => {
    await expect(
      runProgram({ ...BASE, gatewayClassName: "traefik" }, { gatewayClasses: { traefik: "traefik.io/gateway-controller" } }),
    ).rejects.toThrow(/Traefik\) does not implement request mirroring \(RequestMirror\) \[HTTPRouteRequestMirror\]/);
  });

  test("a class that does not exist is an error naming the config key", async () => {
    await expect(runProgram({ ...BASE, gatewayClassName: "nope" })).rejects.toThrow(
      /GatewayClass nope \(traffic-mirroring:gatewayClassName\) does not exist in the cluster/,
    );
  });

  test("gateway-api without a class name says which key to set", async () => {
    await expect(runProgram({ nodeIp: "10.0.0.1", mesh: "gateway-api" })).rejects.toThrow(
      /no GatewayClass is named: pulumi config set traffic-mirroring:gatewayClassName <class>/,
    );
  });

  test("a bad class name names the key", async () => {
    await expect(runProgram({ ...BASE, gatewayClassName: "Bad Class" })).rejects.toThrow(
      /traffic-mirroring:gatewayClassName = "Bad Class": expected a GatewayClass name/,
    );
  });

  test("every need x every known controller: fail where a report lists it unsupported, warn where nothing confirms it", () => {
    const all: RoutingNeed[] = ["mirror", "percentage", "fraction", "multipleMirrors", "methodSplit", "headerRegex"];
    const table = Object.fromEntries(
      KNOWN_CONTROLLERS.map((c) => [
        c.name,
        checkGatewayApiSupport(new Set(all), { name: "x", controllerName: c.controllerNames[0] }).map((f) => `${f.need}:${f.level}`),
      ]),
    );
    const envoyLike = ["mirror:ok", "percentage:ok", "fraction:ok", "multipleMirrors:ok", "methodSplit:ok", "headerRegex:warn"];
    expect(table).toEqual({
      Istio: envoyLike,
      "Envoy Gateway": envoyLike,
      Cilium: envoyLike,
      "NGINX Gateway Fabric": envoyLike,
      Contour: ["mirror:ok", "percentage:fail", "fraction:fail", "multipleMirrors:ok", "methodSplit:ok", "headerRegex:warn"],
      Traefik: ["mirror:fail", "percentage:fail", "fraction:fail", "multipleMirrors:fail", "methodSplit:ok", "headerRegex:warn"],
      Kong: ["mirror:fail", "percentage:fail", "fraction:fail", "multipleMirrors:fail", "methodSplit:ok", "headerRegex:warn"],
    });
    for (const c of KNOWN_CONTROLLERS) expect(c.source).toMatch(/conformance\/reports\/v1\.3\.0\/.+\.yaml/);
  });

  test("an unknown controller warns for every need, naming it and the alternative", () => {
    const [finding] = checkGatewayApiSupport(new Set<RoutingNeed>(["mirror"]), { name: "acme", controllerName: "acme.io/gw" });
    expect(finding).toEqual({
      level: "warn",
      need: "mirror",
      message: expect.stringMatching(/GatewayClass acme \(controller acme\.io\/gw\) is not in the known-controllers table.*request mirroring.*mesh: proxy/),
    });
  });

  test("the routing's needs: mirror + header regex for hostname; percentage / fraction only below 100 %", () => {
    const needsAt = (mirrorPercent: string) =>
      [...routingNeeds(buildStackRoutings(parseStackConfig({ mirrorPercent })).map(({ routing }) => renderHttpRoute(routing)))].sort();
    expect(needsAt("100")).toEqual(["headerRegex", "mirror"]);
    expect(needsAt("30")).toEqual(["headerRegex", "mirror", "percentage"]);
    expect(needsAt("0.5")).toEqual(["fraction", "headerRegex", "mirror"]);
  });

  test("Istio 1.28+ and the -shadow suffix: a warning from 1.28 on, nothing before or when unknown", () => {
    expect(checkIstioShadowSuffix(undefined)).toBeUndefined();
    expect(checkIstioShadowSuffix("1.27.3")).toBeUndefined();
    expect(checkIstioShadowSuffix("1.28.0")?.message).toMatch(/Istio 1\.28\.0 \(1\.28\+\) sends mirrored requests without the -shadow Host suffix.*mesh: proxy/);
    expect(checkIstioShadowSuffix("v1.30.1")?.level).toBe("warn");
  });
});

describe("the Istio 1.28+ -shadow warning in the program", () => {
  const warned = async (config: Record<string, string>, options = {}) => {
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      await runProgram({ nodeIp: "10.0.0.1", ...config }, options);
      return warn.mock.calls.map((call) => String(call[0])).filter((line) => line.includes("-shadow Host suffix"));
    } finally {
      warn.mockRestore();
    }
  };

  test("mesh istio with istioVersion 1.28.0 warns; 1.27.2 does not", async () => {
    expect(await warned({ mesh: "istio", istioVersion: "1.28.0" })).toHaveLength(1);
    expect(await warned({ mesh: "istio", istioVersion: "1.27.2" })).toEqual([]);
  });

  test("auto: the version the detector read from istiod warns too", async () => {
    const detectMesh = async () => ({ mesh: "istio" as const, reason: "found", istioVersion: "1.29.0" });
    expect(await warned({}, { detectMesh })).toHaveLength(1);
  });
});

describe("renderHttpRoute (pure)", () => {
  const config = parseStackConfig({});
  const routing = (name: "hostname" | "movies") =>
    buildAppRouting({ app: config.apps[name], namespace: "ns" });
  /** movies' routing with other VirtualService routes (shapes the routing function may write). */
  const withHttp = (http: object[]) => {
    const base = routing("movies");
    return { ...base, virtualService: { ...base.virtualService, spec: { ...base.virtualService.spec, http } } } as any;
  };

  test("several mirrors, a method split, a path and a timeout translate; every result validates", () => {
    const dest = (subset: "v1" | "v2") => ({ host: "movies.ns.svc.cluster.local", subset, port: { number: 3000 } });
    const custom = withHttp([
      {
        name: "reads",
        match: [{ method: { exact: "GET" }, uri: { prefix: "/api" } }],
        route: [{ destination: dest("v1"), weight: 100 }],
        mirrors: [{ destination: dest("v2"), percentage: { value: 50 } }, { destination: dest("v2") }],
        timeout: "3s",
      },
      { name: "rest", route: [{ destination: dest("v1"), weight: 100 }] },
    ]);
    const route = renderHttpRoute(custom);
    expect(route.spec.rules[0]).toEqual({
      name: "reads",
      matches: [{ path: { type: "PathPrefix", value: "/api" }, method: "GET" }],
      filters: [
        { type: "RequestMirror", requestMirror: { backendRef: { name: "movies-v2", port: 3000 }, percent: 50 } },
        { type: "RequestMirror", requestMirror: { backendRef: { name: "movies-v2", port: 3000 } } },
      ],
      backendRefs: [{ name: "movies-v1", port: 3000 }],
      timeouts: { request: "3s" },
    });
    expect(validateObject(route)).toBe(true);
    expect([...routingNeeds([route])].sort()).toEqual(["methodSplit", "mirror", "multipleMirrors", "percentage"]);
  });

  test("a header prefix becomes a RegularExpression; a destination without subset names its own Service", () => {
    const custom = withHttp([
      {
        name: "beta",
        match: [{ headers: { "x-group": { prefix: "beta.1" } } }],
        route: [{ destination: { host: "movies-v1.ns.svc.cluster.local", port: { number: 3000 } }, weight: 100 }],
        mirror: { host: "movies-v2.ns.svc.cluster.local", port: { number: 3000 } },
      },
    ]);
    const rule = renderHttpRoute(custom).spec.rules[0];
    expect(rule.matches).toEqual([{ headers: [{ type: "RegularExpression", name: "x-group", value: "beta\\.1.*" }] }]);
    expect(rule.backendRefs).toEqual([{ name: "movies-v1", port: 3000 }]);
    expect(rule.filters![0].requestMirror.backendRef).toEqual({ name: "movies-v2", port: 3000 });
  });

  test("a VirtualService field with no translation is refused, naming it", () => {
    const bad = withHttp([{ ...routing("movies").virtualService.spec.http[0], fault: {} }]);
    expect(() => renderHttpRoute(bad)).toThrow(/cannot render VirtualService\/movies http\[0\]\.fault as a Gateway API HTTPRoute/);
  });
});
