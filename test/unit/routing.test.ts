// The pure pieces behind the stack: the cookie match, the config defaults
// that Pulumi.yaml declares, and the minikube docker-env parsing.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { DEFAULTS, parseStackConfig } from "../../components/config";
import { dockerEndpointFromVars, parseEnvLines } from "../../components/minikube";
import { cookieHeaderRegex, escapeRegex } from "../../components/routing";

describe("cookie match", () => {
  // Istio matches regexes against the whole header value.
  const whole = (re: string) => new RegExp(`^(?:${re})$`);
  const userTest = whole(cookieHeaderRegex({ name: "user", value: "test" }));

  test.each(["user=test", "a=1; user=test", "a=1;user=test", "user=test; b=2", "a=1; user=test; b=2"])(
    "matches %j",
    (header) => expect(userTest.test(header)).toBe(true),
  );

  test.each(["", "user=tester", "xuser=test", "user=test2; b=2", "a=1; user=other", "user=tes"])(
    "does not match %j",
    (header) => expect(userTest.test(header)).toBe(false),
  );

  test("cookie values are matched literally, not as regex", () => {
    const dotted = whole(cookieHeaderRegex({ name: "v", value: "1.0" }));
    expect(dotted.test("v=1.0")).toBe(true);
    expect(dotted.test("v=1x0")).toBe(false);
    expect(escapeRegex("a.b*c")).toBe("a\\.b\\*c");
  });
});

describe("Pulumi.yaml", () => {
  const project = parse(readFileSync(path.join(__dirname, "../../Pulumi.yaml"), "utf8"));

  test("declares the defaults the program applies", () => {
    expect(project.name).toBe("traffic-mirroring");
    expect(Number(project.config.mirrorPercent.default)).toBe(DEFAULTS.mirrorPercent);
    expect(project.config.mesh.default).toBe(DEFAULTS.mesh);
    expect(project.config.namespace.default).toBe(DEFAULTS.namespace);
    expect(project.config.mirrorCookie.default).toBe(DEFAULTS.mirrorCookie);
    expect(project.config.compare.default).toBe(DEFAULTS.compare);
    for (const [key, declaration] of Object.entries<any>(project.config)) {
      expect([key, typeof declaration.description]).toEqual([key, "string"]);
    }
  });

  test("Pulumi.dev.yaml holds valid values", () => {
    const dev = parse(readFileSync(path.join(__dirname, "../../Pulumi.dev.yaml"), "utf8")).config;
    const raw = Object.fromEntries(Object.entries(dev).map(([key, value]) => [key.replace("traffic-mirroring:", ""), value]));
    expect(() => parseStackConfig(raw)).not.toThrow();
  });
});

describe("minikube docker-env", () => {
  test("reads the TLS endpoint from `minikube docker-env --shell none`", () => {
    const vars = parseEnvLines(
      'DOCKER_TLS_VERIFY="1"\nDOCKER_HOST="tcp://192.168.49.2:2376"\nDOCKER_CERT_PATH="/home/me/.minikube/certs"\nMINIKUBE_ACTIVE_DOCKERD="minikube"\n',
    );
    expect(dockerEndpointFromVars(vars)).toEqual({ host: "tcp://192.168.49.2:2376", certPath: "/home/me/.minikube/certs" });
  });

  test("no DOCKER_HOST, no endpoint", () => {
    expect(dockerEndpointFromVars({})).toBeUndefined();
  });
});

describe("schema validation is not vacuous", () => {
  // Loaded lazily: the models are ESM-only (see test/support/esm-resolver.js).
  const { validateObject } = require("../support/schemas") as typeof import("../support/schemas");

  test("a VirtualService with a non-numeric mirrorPercentage is rejected, naming the field", () => {
    const bad = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "movies" },
      spec: { hosts: ["*"], http: [{ route: [{ destination: { host: "movies" } }], mirrorPercentage: { value: "all" } }] },
    };
    expect(() => validateObject(bad)).toThrow(/mirrorPercentage/);
  });

  test("a Deployment without a selector is rejected", () => {
    const bad = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { template: {} } };
    expect(() => validateObject(bad)).toThrow(/selector/);
  });
});
