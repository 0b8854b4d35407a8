// The stack config, read and validated in one place. `parseStackConfig` is
// pure (raw values in, typed config or one error naming every bad key out) so
// it is tested without Pulumi; `readStackConfig` is the thin Pulumi edge.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { APP_NAMES, AppName, demoApp } from "./apps";

export const PROJECT = "traffic-mirroring";

/** Data planes: Istio's sidecars/gateway, our own mirror proxy, Gateway API HTTPRoutes, or detect. */
export const MESHES = ["istio", "proxy", "auto", "gateway-api"] as const;
export type Mesh = (typeof MESHES)[number];

/** Defaults; Pulumi.yaml declares the same values (a test keeps them equal). */
export const DEFAULTS = {
  mirrorPercent: 100,
  compare: false,
  mesh: "auto" as Mesh,
  namespace: "mirror-demo",
  mirrorCookie: "user=test",
};

/** Every key the program reads, raw, as `pulumi config` holds them. */
export interface RawStackConfig {
  mirrorPercent?: unknown;
  compare?: unknown;
  mesh?: unknown;
  namespace?: unknown;
  mirrorCookie?: unknown;
  nodeIp?: unknown;
  proxyImage?: unknown;
  gatewayClassName?: unknown;
  istioVersion?: unknown;
  /** JSON text of the `apps` object (set with `pulumi config set --path`). */
  apps?: unknown;
}

export interface AppSettings {
  /** Share of the app's selected requests copied to v2, 0–100. */
  mirrorPercent: number;
  /** Host values routed to the app (`*` = any). */
  hosts: string[];
  /** Compare v2's answers with v1's (proxy mode only: Envoy cannot). */
  compare: boolean;
  /** A ready-made image to deploy instead of building the workload folder. */
  image?: string;
}

export interface StackConfig {
  mesh: Mesh;
  namespace: string;
  /** Cookie that opts a request into mirroring (hostname app). */
  mirrorCookie: { name: string; value: string };
  /** Node IP for the ingress URL; else `minikube ip` is asked. */
  nodeIp?: string;
  /** A ready-made mirror-proxy image instead of building `workloads/mirror-proxy`. */
  proxyImage?: string;
  /** GatewayClass of the Gateway (mesh gateway-api); with auto, the only class considered. */
  gatewayClassName?: string;
  /** The cluster's Istio version, when known: compatibility warnings (e.g. 1.28+ and `-shadow`). */
  istioVersion?: string;
  apps: Record<AppName, AppSettings>;
}

const PERCENT_ALLOWED = "a number from 0 to 100, decimals allowed (e.g. 0.5)";
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOST = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const COOKIE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=([!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]*)$/;

const percent = z.union([z.number(), z.string()]).transform((raw, ctx) => {
  const value = typeof raw === "number" ? raw : raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 100) {
    ctx.addIssue({ code: "custom", message: PERCENT_ALLOWED });
    return z.NEVER;
  }
  return value;
});

// Pulumi hands top-level values over as strings; `--path` values keep their YAML type.
const flag = z.union([z.boolean(), z.enum(["true", "false"])], { error: "true or false" }).transform((v) => v === true || v === "true");

const appOverride = z.strictObject({
  mirrorPercent: percent.optional(),
  compare: flag.optional(),
  hosts: z
    .array(z.string().regex(HOST, { error: "a DNS name, `*.suffix` or `*`" }), {
      error: "a list of host names",
    })
    .min(1, { error: "at least one host" })
    .optional(),
  image: z.string().min(1, { error: "an image reference" }).optional(),
});

const appsSchema = z.strictObject(
  Object.fromEntries(APP_NAMES.map((name) => [name, appOverride.optional()])),
  { error: (issue) => (issue.code === "unrecognized_keys" ? undefined : "an object keyed by app name") },
);

const rawSchema = z.object({
  mirrorPercent: percent.optional(),
  compare: flag.optional(),
  mesh: z.enum(MESHES, { error: `one of ${MESHES.join(", ")}` }).optional(),
  namespace: z
    .string()
    .regex(DNS_LABEL, { error: "a DNS label: lower-case letters, digits and '-', at most 63" })
    .optional(),
  mirrorCookie: z.string().regex(COOKIE, { error: "a cookie as name=value, e.g. user=test" }).optional(),
  nodeIp: z.string().regex(/^[A-Za-z0-9.:-]+$/, { error: "an IP address or host name" }).optional(),
  proxyImage: z.string().min(1, { error: "an image reference" }).optional(),
  gatewayClassName: z.string().regex(DNS_SUBDOMAIN, { error: "a GatewayClass name (a DNS subdomain, e.g. istio or eg)" }).optional(),
  istioVersion: z.string().regex(/^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?$/, { error: "an Istio version such as 1.28.1" }).optional(),
  apps: appsSchema.optional(),
});

/** One message for every bad key, naming the key, the value and what is allowed. */
export class StackConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
    this.problems = problems;
  }
}

function keyName(path: PropertyKey[]): string {
  const [top, ...rest] = path.map(String);
  return `${PROJECT}:${top}${rest.map((part) => `.${part}`).join("")}`;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, key) => (node !== null && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[key] : undefined),
    root,
  );
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string[] {
  if (issue.code === "unrecognized_keys") {
    const path = issue.path.map(String).join(".");
    const allowed =
      path === "apps"
        ? `known apps: ${APP_NAMES.join(", ")}`
        : path.startsWith("apps.")
          ? `allowed: ${Object.keys(appOverride.shape).join(", ")}`
          : "";
    return issue.keys.map((key) => {
      const where = keyName([...issue.path, key]);
      return `${where}: unknown key${allowed ? ` (${allowed})` : ""}`;
    });
  }
  const value = valueAt(raw, issue.path);
  return [`${keyName(issue.path)} = ${JSON.stringify(value)}: expected ${issue.message}`];
}

/** Validates raw config values and applies the defaults. Throws StackConfigError. */
export function parseStackConfig(raw: RawStackConfig): StackConfig {
  const problems: string[] = [];
  const input: Record<string, unknown> = { ...raw };

  if (typeof raw.apps === "string") {
    try {
      input.apps = JSON.parse(raw.apps);
    } catch {
      problems.push(`${keyName(["apps"])} = ${JSON.stringify(raw.apps)}: expected a JSON object keyed by app name`);
      delete input.apps;
    }
  }

  const parsed = rawSchema.safeParse(input);
  if (!parsed.success) problems.push(...parsed.error.issues.flatMap((issue) => describeIssue(input, issue)));

  if (problems.length > 0 || !parsed.success) throw new StackConfigError(problems);

  const data = parsed.data;
  const globalPercent = data.mirrorPercent ?? DEFAULTS.mirrorPercent;
  const overrides = (data.apps ?? {}) as Partial<Record<AppName, z.infer<typeof appOverride>>>;
  const apps = Object.fromEntries(
    APP_NAMES.map((name) => {
      const override = overrides[name] ?? {};
      const settings: AppSettings = {
        mirrorPercent: override.mirrorPercent ?? globalPercent,
        compare: override.compare ?? data.compare ?? DEFAULTS.compare,
        hosts: override.hosts ?? [...demoApp(name).defaultHosts],
        ...(override.image ? { image: override.image } : {}),
      };
      return [name, settings];
    }),
  ) as Record<AppName, AppSettings>;

  const [cookieName, cookieValue] = (data.mirrorCookie ?? DEFAULTS.mirrorCookie).split(/=(.*)/s);
  return {
    mesh: data.mesh ?? DEFAULTS.mesh,
    namespace: data.namespace ?? DEFAULTS.namespace,
    mirrorCookie: { name: cookieName, value: cookieValue },
    ...(data.nodeIp ? { nodeIp: data.nodeIp } : {}),
    ...(data.proxyImage ? { proxyImage: data.proxyImage } : {}),
    ...(data.gatewayClassName ? { gatewayClassName: data.gatewayClassName } : {}),
    ...(data.istioVersion ? { istioVersion: data.istioVersion } : {}),
    apps,
  };
}

/** Reads the stack's config through Pulumi and validates it. */
export function readStackConfig(config = new pulumi.Config(PROJECT)): StackConfig {
  // Pulumi.yaml declares optional keys with an empty default: empty means unset.
  const get = (key: keyof RawStackConfig) => config.get(key) || undefined;
  const raw: RawStackConfig = {
    mirrorPercent: get("mirrorPercent"),
    compare: get("compare"),
    mesh: get("mesh"),
    namespace: get("namespace"),
    mirrorCookie: get("mirrorCookie"),
    nodeIp: get("nodeIp"),
    proxyImage: get("proxyImage"),
    gatewayClassName: get("gatewayClassName"),
    istioVersion: get("istioVersion"),
    apps: get("apps"),
  };
  try {
    return parseStackConfig(raw);
  } catch (err) {
    // RunError prints the message alone, without a stack trace, as a preview failure.
    if (err instanceof StackConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
