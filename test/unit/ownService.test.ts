// A third app from stack config (examples/own-service/Pulumi.billing.yaml, the
// README's example): two images, port 8080, a header match, writes not
// mirrored, the copy shaped. Rendered by the program under Pulumi's mocks in
// both meshes: the exact objects, every one valid against the Kubernetes and
// Istio schemas, the ConfigMap accepted by the proxy's own validator. Then
// v1.selector (v1 already running), and every bad input the issue names.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { meshProblems, parseStackConfig, writeMirroringWarnings } from "../../components/config";
import { parseMirrorProxyConfig } from "../../workloads/mirror-proxy/src/config.ts";
import { validateAll, validateObject } from "../support/schemas";
import { byType, named, ProgramRun, runProgram, T, useMockedMachine } from "../support/pulumiProgram";

const EXAMPLE = path.join(__dirname, "../../examples/own-service/Pulumi.billing.yaml");

/** The example stack file's values, as plain keys (the way Pulumi hands them to the program). */
function exampleConfig(): Record<string, any> {
  const values = parse(readFileSync(EXAMPLE, "utf8")).config as Record<string, unknown>;
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key.replace("traffic-mirroring:", ""), value]));
}
const example = exampleConfig();
const billingRaw = (): Record<string, any> => structuredClone(example.apps.billing);
/** runProgram's config: strings, `apps` as JSON (as `pulumi config set --path` stores it). */
const programConfig = (apps: Record<string, unknown>, extra: Record<string, string> = {}) => ({
  nodeIp: "192.168.49.2",
  mesh: String(example.mesh),
  apps: JSON.stringify(apps),
  ...extra,
});

const NS = "mirror-demo";
const FQDN = `billing.${NS}.svc.cluster.local`;
const PORT = { number: 8080 };
const READS_WITH_HEADER = ["GET", "HEAD", "OPTIONS"].map((method) => ({ method: { exact: method }, headers: { "x-beta-user": { exact: "yes" } } }));

function expectedVs(v1: object, v2: object, gateways?: string[]) {
  return {
    hosts: ["billing.example.com"],
    ...(gateways ? { gateways } : {}),
    http: [
      {
        name: "billing-mirror-match",
        match: READS_WITH_HEADER,
        route: [{ destination: v1, weight: 100 }],
        mirror: v2,
        mirrorPercentage: { value: 100 },
      },
      { name: "billing-primary", route: [{ destination: v1, weight: 100 }] },
    ],
  };
}
const SUBSET_V1 = { host: FQDN, subset: "v1", port: PORT };
const SUBSET_V2 = { host: FQDN, subset: "v2", port: PORT };
const DR_SPEC = { host: FQDN, subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] };

function expectedDeployment(version: "v1" | "v2", image: string) {
  const labels = { app: "billing", version };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: `billing-${version}`, namespace: NS, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } },
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 20,
          containers: [
            {
              name: "billing",
              image,
              imagePullPolicy: "IfNotPresent",
              env: [
                { name: "VERSION", value: version },
                { name: "PORT", value: "8080" },
              ],
              ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
              readinessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 5, failureThreshold: 2 },
              livenessProbe: { httpGet: { path: "/healthz", port: "http" }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
              resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "250m", memory: "128Mi" } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
              lifecycle: { preStop: { exec: { command: ["sleep", "3"] } } },
            },
          ],
        },
      },
    },
  };
}

const routingDocs = (run: ProgramRun): any[] =>
  parseAllDocuments(named(run, T.configMap, "mirror-proxy").inputs.data["routing.yaml"])
    .map((doc) => doc.toJS())
    .filter(Boolean);

beforeAll(useMockedMachine);

describe("a third app, proxy mode (the example stack file)", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(programConfig({ billing: billingRaw() }));
  });

  test("Deployments billing-v1 and billing-v2 with their own images, port 8080, the health path", () => {
    for (const [version, image] of [["v1", "ghcr.io/acme/billing:1.4.2"], ["v2", "ghcr.io/acme/billing:1.5.0"]] as const) {
      expect(named(run, T.deployment, `billing-${version}`).inputs).toEqual(expectedDeployment(version, image));
    }
    // Ready-made images: nothing built for billing.
    expect(byType(run, T.image).map((image) => image.name).sort()).toEqual(["hostname-image", "mirror-proxy-image", "movies-image"]);
  });

  test("Services billing, billing-v1, billing-v2 on port 8080", () => {
    const port = [{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }];
    expect(named(run, T.service, "billing").inputs.spec).toEqual({ selector: { app: "billing" }, ports: port });
    for (const version of ["v1", "v2"]) {
      // Headless (as the built-ins'): the proxy resolves each version to its pods.
      expect(named(run, T.service, `billing-${version}`).inputs.spec).toEqual({ clusterIP: "None", selector: { app: "billing", version }, ports: port });
    }
  });

  test("the ConfigMap: billing's routing split by method, the copy shaping, the upstreams; the proxy accepts it", () => {
    const docs = routingDocs(run);
    expect(docs.find((doc) => doc.kind === "VirtualService" && doc.metadata.name === "billing").spec).toEqual(expectedVs(SUBSET_V1, SUBSET_V2));
    expect(docs.find((doc) => doc.kind === "DestinationRule" && doc.metadata.name === "billing").spec).toEqual(DR_SPEC);
    const proxy = docs.find((doc) => doc.kind === "MirrorProxy").spec;
    expect(proxy.copyHeaders).toEqual({ "billing-mirror-match": { set: { "x-dark-launch": "true" }, remove: ["authorization", "cookie"] } });
    expect(proxy.upstreams).toMatchObject({
      [`${FQDN}/v1`]: `http://billing-v1.${NS}.svc.cluster.local:8080`,
      [`${FQDN}/v2`]: `http://billing-v2.${NS}.svc.cluster.local:8080`,
    });
    const parsed = parseMirrorProxyConfig(named(run, T.configMap, "mirror-proxy").inputs.data["routing.yaml"]);
    expect(parsed.virtualServices.map((vs) => vs.name)).toEqual(["hostname", "movies", "billing"]);
    expect(parsed.proxy.copyHeaders).toEqual({ "billing-mirror-match": { set: [["x-dark-launch", "true"]], remove: ["authorization", "cookie"] } });
    expect(docs.filter((doc) => validateObject(doc))).toHaveLength(6);
  });

  test("the tutorial apps are rendered exactly as without billing", async () => {
    const plain = await runProgram(programConfig({}));
    const docs = routingDocs(run).filter((doc) => doc.metadata?.name !== "billing" && doc.kind !== "MirrorProxy");
    expect(docs).toEqual(routingDocs(plain).filter((doc) => doc.kind !== "MirrorProxy"));
    // Everything but billing's own resources, the ConfigMap and the proxy (whose checksum follows it) is unchanged.
    const others = (r: ProgramRun) =>
      r.resources.filter((res) => !res.name.startsWith("billing") && res.type !== T.configMap && !(res.type === T.deployment && res.name === "mirror-proxy"));
    expect(others(run).map((res) => [res.type, res.name, res.inputs])).toEqual(others(plain).map((res) => [res.type, res.name, res.inputs]));
  });

  test("every rendered object passes its schema", () => {
    // namespace, 6 + proxy Deployments, 3 + 3 + 3 + 1 Services, ConfigMap, PDB, the proxy's HorizontalPodAutoscaler
    expect(validateAll(run)).toBe(21);
  });

  test("per-app outputs: the URL, the Host and curl commands, one of them selected by the header match", () => {
    const url = "http://192.168.49.2:30999";
    expect((run.outputs.appEndpoints as any).billing).toEqual({
      url,
      host: "billing.example.com",
      mirrorsWrites: false,
      curl: {
        billing: `curl -s -H 'Host: billing.example.com' ${url}/invoices`,
        billingMirrored: `curl -s -H 'Host: billing.example.com' -H 'x-beta-user: yes' ${url}/invoices`,
      },
    });
    expect(run.outputs.curl).toMatchObject({ billing: expect.any(String), billingMirrored: expect.any(String), hostnameMirrored: expect.any(String) });
  });
});

describe("a third app, Istio mode", () => {
  test("copyHeaders is an error naming the key and why", async () => {
    await expect(runProgram(programConfig({ billing: billingRaw() }, { mesh: "istio" }))).rejects.toThrow(
      /traffic-mirroring:apps\.billing\.mirror\.copyHeaders: not possible with mesh istio: Envoy's mirror policy cannot change headers on the copy only/,
    );
    expect(meshProblems(parseStackConfig({ apps: { billing: billingRaw() } }), "proxy")).toEqual([]);
  });

  test("without copyHeaders: the same routing, bound to the Gateway, schema-valid", async () => {
    const billing = billingRaw();
    delete billing.mirror.copyHeaders;
    const run = await runProgram(programConfig({ billing }, { mesh: "istio" }));
    expect(named(run, T.virtualService, "billing").inputs.spec).toEqual(expectedVs(SUBSET_V1, SUBSET_V2, [`${NS}/mirror-gateway`]));
    expect(named(run, T.destinationRule, "billing").inputs.spec).toEqual(DR_SPEC);
    expect(byType(run, T.gateway)[0].inputs.spec.servers[0].hosts).toEqual(["hostname.example.com", "*", "billing.example.com"]);
    expect(named(run, T.deployment, "billing-v2").inputs).toEqual(expectedDeployment("v2", "ghcr.io/acme/billing:1.5.0"));
    // Istio mode: no per-version Services; namespace, 6 Deployments, 3 Services, Gateway, 3 DR, 3 VS
    expect(byType(run, T.service).flatMap((s) => s.inputs.metadata?.name ?? [])).toEqual(["hostname", "movies", "billing"]);
    expect(validateAll(run)).toBe(17);
  });
});

describe("v1.selector: v1 already runs, this stack only adds v2, the Services and the routing", () => {
  const selectorApp = () => {
    const billing = billingRaw();
    delete billing.v1;
    billing.v1 = { selector: { app: "billing", track: "stable" } };
    return billing;
  };
  const V1 = { host: `billing-v1.${NS}.svc.cluster.local`, port: PORT };
  const V2 = { host: `billing-v2.${NS}.svc.cluster.local`, port: PORT };

  test.each(["proxy", "istio"])("mesh %s: no v1 Deployment, no Service billing, routes to billing-v1 selecting v1's pods", async (mesh) => {
    const billing = selectorApp();
    if (mesh === "istio") delete billing.mirror.copyHeaders;
    const run = await runProgram(programConfig({ billing }, { mesh }));
    expect(byType(run, T.deployment).map((d) => d.inputs.metadata.name).filter((name) => name.startsWith("billing"))).toEqual(["billing-v2"]);
    const services = byType(run, T.service).filter((s) => s.inputs.metadata?.name.startsWith("billing"));
    // Headless in proxy mode (the proxy resolves them to the pods); plain Services for Istio's routing.
    const headless = mesh === "proxy" ? { clusterIP: "None" } : {};
    expect(services.map((s) => [s.inputs.metadata.name, s.inputs.spec])).toEqual([
      ["billing-v1", { ...headless, selector: { app: "billing", track: "stable" }, ports: [{ name: "http", port: 8080, targetPort: 8080, protocol: "TCP" }] }],
      ["billing-v2", { ...headless, selector: { app: "billing", version: "v2" }, ports: [{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }] }],
    ]);
    const vs =
      mesh === "istio" ? named(run, T.virtualService, "billing").inputs.spec : routingDocs(run).find((d) => d.kind === "VirtualService" && d.metadata.name === "billing").spec;
    expect(vs).toEqual(expectedVs(V1, V2, mesh === "istio" ? [`${NS}/mirror-gateway`] : undefined));
    if (mesh === "istio") {
      expect(byType(run, T.destinationRule).map((d) => d.inputs.metadata.name)).toEqual(["hostname", "movies"]);
    } else {
      const text = named(run, T.configMap, "mirror-proxy").inputs.data["routing.yaml"];
      expect(parseMirrorProxyConfig(text).proxy.upstreams).toMatchObject({
        [V1.host]: `http://billing-v1.${NS}.svc.cluster.local:8080`,
        [V2.host]: `http://billing-v2.${NS}.svc.cluster.local:8080`,
      });
    }
    expect(validateAll(run)).toBeGreaterThan(0);
  });
});

describe("bad input: one message naming the key, the value and what is allowed", () => {
  const problemsOf = (apps: Record<string, unknown>, extra: Record<string, unknown> = {}): string[] => {
    try {
      parseStackConfig({ apps, ...extra });
    } catch (error) {
      return (error as { problems?: string[] }).problems ?? [String(error)];
    }
    return [];
  };
  const billing = (change: (app: Record<string, any>) => void) => {
    const app = billingRaw();
    change(app);
    return { billing: app };
  };
  const P = "traffic-mirroring:apps";

  test.each<[string, Record<string, unknown>, string]>([
    ["an unknown key", billing((a) => (a.colour = "blue")), `${P}.billing.colour: unknown key (allowed: port, containerPort, hosts, healthPath, curlPath, image, v1, v2, mirror, mirrorPercent, compare)`],
    ["an unknown mirror key", billing((a) => (a.mirror.copies = 2)), `${P}.billing.mirror.copies: unknown key (allowed: percent, match, writes, copyHeaders)`],
    ["a bad name", { Bad_Name: billingRaw() }, `${P}.Bad_Name: bad app name: expected a DNS label: lower-case letters, digits and '-', at most 60`],
    ["a reserved name", { "mirror-proxy": billingRaw() }, `${P}.mirror-proxy: reserved app name (the stack's own mirror-proxy uses it)`],
    ["a missing v2 image", billing((a) => delete a.v2.image), `${P}.billing.v2.image: missing: a new app needs the image of v2 (v2.image, or image for both versions)`],
    ["a port out of range", billing((a) => (a.port = 70000)), `${P}.billing.port = 70000: expected a port: a whole number from 1 to 65535`],
    ["a host claimed by two apps", billing((a) => (a.hosts = ["*"])), `${P}.billing.hosts = ["*"]: expected hosts no other app claims (* is routed to movies)`],
    [
      "v1.image with v1.selector",
      billing((a) => (a.v1.selector = { track: "stable" })),
      `${P}.billing.v1.selector = {"track":"stable"}: expected either v1.image (this stack deploys v1) or v1.selector (v1 already runs), not both`,
    ],
    [
      "a selector that would select v2's pods",
      billing((a) => (a.v1 = { selector: { app: "billing" } })),
      `${P}.billing.v1.selector = {"app":"billing"}: expected labels v2's pods (app=billing, version=v2) lack, e.g. version: v1; else v1's Service would also select v2`,
    ],
    [
      "copyHeaders touching a hop-by-hop header",
      billing((a) => (a.mirror.copyHeaders.remove = ["connection"])),
      `${P}.billing.mirror.copyHeaders.remove.0 = "connection": expected another header: connection is a hop-by-hop header, never forwarded`,
    ],
    [
      "copyHeaders setting host",
      billing((a) => (a.mirror.copyHeaders.set = { Host: "v2.internal" })),
      `${P}.billing.mirror.copyHeaders.set.Host = "v2.internal": expected another header: Host is the proxy writes it on every copy`,
    ],
    [
      "only write methods while writes are not mirrored",
      billing((a) => (a.mirror.match.methods = ["POST"])),
      `${P}.billing.mirror.match.methods = ["POST"]: expected at least one of GET, HEAD, OPTIONS while mirror.writes is false (or set mirror.writes: true to copy writes)`,
    ],
    [
      "a regex RE2 rejects",
      billing((a) => (a.mirror.match.headers["x-beta-user"] = { regex: "(?=yes)" })),
      `${P}.billing.mirror.match.headers.x-beta-user.regex = "(?=yes)": expected an RE2 regex (Istio's dialect): no lookaround or backreferences`,
    ],
    [
      "a match with two kinds",
      billing((a) => (a.mirror.match.headers["x-beta-user"] = { exact: "yes", prefix: "y" })),
      `${P}.billing.mirror.match.headers.x-beta-user = {"exact":"yes","prefix":"y"}: expected exactly one of exact, prefix, regex`,
    ],
    [
      "mirrorPercent and mirror.percent",
      billing((a) => (a.mirrorPercent = 5)),
      `${P}.billing.mirrorPercent = 5: expected only one of mirrorPercent and mirror.percent (the same setting)`,
    ],
  ])("%s", (_what, apps, message) => {
    expect(problemsOf(apps)).toEqual([message]);
  });

  test("every bad key of every app is reported at once", () => {
    const problems = problemsOf({
      ...billing((a) => {
        a.port = 0;
        delete a.v2.image;
      }),
      other: { v1: { image: "x" } },
    });
    expect(problems).toEqual([
      `${P}.billing.port = 0: expected a port: a whole number from 1 to 65535`,
      `${P}.other.v2.image: missing: a new app needs the image of v2 (v2.image, or image for both versions)`,
    ]);
  });

  test("the preview fails with the message", async () => {
    await expect(runProgram(programConfig(billing((a) => (a.port = "http"))))).rejects.toThrow(
      /invalid stack config:\n {2}- traffic-mirroring:apps\.billing\.port = "http": expected a port: a whole number from 1 to 65535/,
    );
  });
});

describe("writes", () => {
  test("mirroring writes is one warning naming the app; the tutorial defaults are not warned about", () => {
    const app = billingRaw();
    app.mirror.writes = true;
    expect(writeMirroringWarnings(parseStackConfig({ apps: { billing: app } }))).toEqual([
      "billing mirrors writes (traffic-mirroring:apps.billing.mirror.writes = true): v2 receives copies of POST, PUT, PATCH and DELETE requests too, so their side effects happen twice unless v2 is isolated",
    ]);
    expect(writeMirroringWarnings(parseStackConfig({}))).toEqual([]);
    expect(writeMirroringWarnings(parseStackConfig({ apps: { movies: { mirror: { writes: true } } } }))).toHaveLength(1);
  });

  test("writes: true renders one route mirroring every method (no split)", () => {
    const app = billingRaw();
    app.mirror = { writes: true };
    const config = parseStackConfig({ apps: { billing: app } });
    const { buildAppRouting } = require("../../components/routing") as typeof import("../../components/routing");
    expect(buildAppRouting({ app: config.apps.billing, namespace: NS }).virtualService.spec.http.map((r) => [r.name, r.match])).toEqual([
      ["billing-mirror-all", undefined],
    ]);
  });

  test("writes not mirrored and no match: reads mirrored, the rest to v1 only", () => {
    const app = billingRaw();
    app.mirror = {};
    const config = parseStackConfig({ apps: { billing: app } });
    const { buildAppRouting } = require("../../components/routing") as typeof import("../../components/routing");
    const http = buildAppRouting({ app: config.apps.billing, namespace: NS }).virtualService.spec.http;
    expect(http.map((r) => [r.name, r.match, r.mirror !== undefined])).toEqual([
      ["billing-mirror-reads", [{ method: { exact: "GET" } }, { method: { exact: "HEAD" } }, { method: { exact: "OPTIONS" } }], true],
      ["billing-primary", undefined, false],
    ]);
  });

  test("cookie, path prefix and methods together in one match block", () => {
    const app = billingRaw();
    app.mirror = { match: { cookie: "beta=1", pathPrefix: "/api/", methods: ["GET", "POST"], headers: { "X-Tenant": { prefix: "acme" } } } };
    const config = parseStackConfig({ apps: { billing: app } });
    const { buildAppRouting } = require("../../components/routing") as typeof import("../../components/routing");
    expect(buildAppRouting({ app: config.apps.billing, namespace: NS }).virtualService.spec.http[0].match).toEqual([
      { uri: { prefix: "/api/" }, method: { exact: "GET" }, headers: { "x-tenant": { prefix: "acme" }, cookie: { regex: "^(.*?;\\s*)?(beta=1)(;.*)?$" } } },
    ]);
  });
});

describe("a Pulumi program of your own (examples/own-service/index.ts, the README's)", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ nodeIp: "10.0.0.7" }, { program: "examples/own-service/index" });
  });

  test("v1 is selected, not deployed: v2's Deployment, the Services billing-v1/-v2, the proxy routing to them", () => {
    expect(byType(run, T.deployment).map((d) => d.inputs.metadata.name).sort()).toEqual(["billing-v2", "mirror-proxy"]);
    expect(named(run, T.deployment, "billing-v2").inputs.spec.template.spec.containers[0].image).toBe("ghcr.io/acme/billing:1.5.0");
    expect(named(run, T.service, "billing-v1").inputs.spec.selector).toEqual({ app: "billing", track: "stable" });
    const text = named(run, T.configMap, "mirror-proxy").inputs.data["routing.yaml"];
    const parsed = parseMirrorProxyConfig(text);
    expect(parsed.virtualServices.map((vs) => vs.name)).toEqual(["billing"]);
    expect(parsed.proxy.upstreams).toEqual({
      "billing-v1.payments.svc.cluster.local": "http://billing-v1.payments.svc.cluster.local:8080",
      "billing-v2.payments.svc.cluster.local": "http://billing-v2.payments.svc.cluster.local:8080",
    });
    expect(parsed.proxy.copyHeaders).toEqual({ "billing-mirror-match": { set: [["x-dark-launch", "true"]], remove: ["authorization"] } });
    expect(validateAll(run)).toBeGreaterThanOrEqual(7);
    // The component's type token and its children.
    expect(run.resources.find((r) => r.name === "billing" && r.type.startsWith("traffic-mirroring:"))?.type).toBe("traffic-mirroring:darkLaunch:DarkLaunch");
  });

  test("exports the URL and the curl commands", () => {
    expect(run.outputs.url).toBe("http://10.0.0.7:30999");
    expect(run.outputs.curl).toEqual({
      billing: "curl -s -H 'Host: billing.example.com' http://10.0.0.7:30999/",
      billingMirrored: "curl -s -H 'Host: billing.example.com' -H 'x-beta-user: yes' http://10.0.0.7:30999/",
    });
  });
});

describe("the README's 'Dark-launch your own service' is what the tests run", () => {
  const readme = readFileSync(path.join(__dirname, "../../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Dark-launch your own service"), readme.indexOf("## Stack config"));
  const fenced = (lang: string) => [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);

  test("the stack file and the program are included verbatim", () => {
    expect(fenced("yaml")).toContain(readFileSync(EXAMPLE, "utf8"));
    expect(fenced("ts")).toContain(readFileSync(path.join(__dirname, "../../examples/own-service/index.ts"), "utf8"));
  });

  test("the error shown is the one that config gives", () => {
    const apps = { billing: billingRaw(), payments: { port: 70000 } };
    apps.billing.v1.selector = { track: "stable" };
    apps.billing.mirror.copyHeaders.remove = ["connection"];
    let message = "";
    try {
      parseStackConfig({ apps });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(fenced("text")).toContain(`${message}\n`);
  });
});

describe("a third app, mesh gateway-api", () => {
  test("the HTTPRoute: the read methods one exact match each (Gateway API matches one method), then v1 only", async () => {
    const billing = billingRaw();
    delete billing.mirror.copyHeaders;
    const run = await runProgram(programConfig({ billing }, { mesh: "gateway-api", gatewayClassName: "istio" }));
    const header = { type: "Exact", name: "x-beta-user", value: "yes" };
    expect(named(run, T.httpRoute, "billing").inputs.spec).toEqual({
      parentRefs: [{ name: "mirror-gateway" }],
      hostnames: ["billing.example.com"],
      rules: [
        {
          name: "billing-mirror-match",
          matches: ["GET", "HEAD", "OPTIONS"].map((method) => ({ headers: [header], method })),
          filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "billing-v2", port: 8080 } } }],
          backendRefs: [{ name: "billing-v1", port: 8080 }],
        },
        { name: "billing-primary", backendRefs: [{ name: "billing-v1", port: 8080 }] },
      ],
    });
    expect(validateAll(run)).toBeGreaterThan(0);
  });

  test("copyHeaders is an error naming the key and why", async () => {
    await expect(runProgram(programConfig({ billing: billingRaw() }, { mesh: "gateway-api", gatewayClassName: "istio" }))).rejects.toThrow(
      /traffic-mirroring:apps\.billing\.mirror\.copyHeaders: not possible with mesh gateway-api: a RequestMirror filter cannot change headers on the copy only/,
    );
  });
});
