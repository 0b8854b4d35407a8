// The stack config, read and validated in one place. `parseStackConfig` is
// pure (raw values in, typed config or one error naming every bad key out) so
// it is tested without Pulumi; `readStackConfig` is the thin Pulumi edge.
// Apps: the built-ins (hostname, movies) and any `apps.<name>` declared in
// config resolve to the one model of components/apps.ts.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseProxyScalingConfig, type ProxyScaling } from "./proxyAutoscaler";
import {
  App,
  APP_GLOBAL_DEFAULTS,
  AppGlobals,
  BUILT_IN_APP_NAMES,
  builtInApp,
  CopyHeaders,
  LocalCommand,
  MirrorMatch,
  READ_METHODS,
  resolveBuiltIn,
  StringMatch,
  VersionSpec,
} from "./apps";
import { resolveVerdictConfig, VerdictConfig } from "./verdictThresholds";

export const PROJECT = "traffic-mirroring";

/** Data planes: Istio's sidecars/gateway, our own mirror proxy, Gateway API HTTPRoutes, or detect. */
export const MESHES = ["istio", "proxy", "auto", "gateway-api"] as const;
export type Mesh = (typeof MESHES)[number];

/** Defaults; Pulumi.yaml declares the same values (a test keeps them equal). */
export const DEFAULTS = {
  ...APP_GLOBAL_DEFAULTS,
  mesh: "auto" as Mesh,
  namespace: "mirror-demo",
};

/** Defaults of an app declared in config (the built-ins have their own). */
export const NEW_APP_DEFAULTS = { port: 8080, healthPath: "/healthz", curlPath: "/", writes: false };

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
  /** Issue 11: the verdict's thresholds (JSON text of an object), the promotion tool, its Prometheus. */
  verdict?: unknown;
  promotion?: unknown;
  prometheusUrl?: unknown;
  /** JSON text of the `apps` object (set with `pulumi config set --path`), or the object itself. */
  apps?: unknown;
  /** Proxy autoscaling (components/proxyAutoscaler.ts): JSON text or the object (`--path proxyScaling.maxReplicas`). */
  proxyScaling?: unknown;
}

export interface StackConfig extends VerdictConfig {
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
  /** Every app, built-ins first, then those declared in config, in their order. */
  apps: Record<string, App>;
  /** Proxy mode: the proxy's HPA bounds and target, and workers per pod (sizes its requests/limits). */
  proxyScaling: ProxyScaling;
}

// ---------------------------------------------------------------- value schemas

const PERCENT_ALLOWED = "a number from 0 to 100, decimals allowed (e.g. 0.5)";
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_LABEL_ALLOWED = "a DNS label: lower-case letters, digits and '-', at most 63";
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOST = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const COOKIE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=([!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]*)$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Header values on the wire: visible ASCII, space and tab; never CR, LF or NUL.
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
/** App names end up in `<app>-v1`, `<app>-v2` (Deployments, Services): 60 characters leave room. */
const MAX_APP_NAME = 60;
/** Names the stack's own objects use. */
const RESERVED_APP_NAMES = ["mirror-proxy"];

/**
 * Headers a copy's shaping may not touch: hop-by-hop ones (RFC 9110 7.6.1, the
 * proxy drops them), the framing and Host the proxy writes itself, and its marker.
 */
export const UNSHAPEABLE_HEADERS = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
  "host",
  "content-length",
  "x-mirror-shadow",
];

const percent = z.union([z.number(), z.string()]).transform((raw, ctx) => {
  const value = typeof raw === "number" ? raw : raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 100) {
    ctx.addIssue({ code: "custom", message: PERCENT_ALLOWED });
    return z.NEVER;
  }
  return value;
});

/** A whole number in [min, max]; `--path` values may arrive as strings. */
const wholeNumber = (min: number, max: number, what: string) =>
  z.union([z.number(), z.string()]).transform((raw, ctx) => {
    const value = typeof raw === "number" ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      ctx.addIssue({ code: "custom", message: `${what}: a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return value;
  });
const port = wholeNumber(1, 65535, "a port");

// Pulumi hands top-level values over as strings; `--path` values keep their YAML type.
const flag = z.union([z.boolean(), z.enum(["true", "false"])], { error: "true or false" }).transform((v) => v === true || v === "true");

const nonEmpty = (what: string) => z.string({ error: what }).min(1, { error: what });
const imageRef = nonEmpty("an image reference, e.g. ghcr.io/acme/billing:1.2.0");
const httpPath = z.string({ error: "a path starting with /" }).regex(/^\/[^\s?#]*$/, { error: "a path starting with /" });
const hosts = z
  .array(z.string().regex(HOST, { error: "a DNS name, `*.suffix` or `*`" }), { error: "a list of host names" })
  .min(1, { error: "at least one host" });
const cookie = z.string({ error: "a cookie as name=value, e.g. user=test" }).regex(COOKIE, { error: "a cookie as name=value, e.g. user=test" });
const stringMap = (keys: RegExp, keysAllowed: string, values: z.ZodType<string>) =>
  z.record(z.string().regex(keys, { error: keysAllowed }), values, { error: "a mapping of names to strings" });
const envMap = stringMap(ENV_NAME, "an environment variable name", z.string({ error: "a string (quote numbers)" }));

const stringMatch = z.strictObject(
  {
    exact: z.string({ error: "a string" }).optional(),
    prefix: z.string({ error: "a string" }).optional(),
    regex: z.string({ error: "a string" }).optional(),
  },
  { error: "one of {exact: ...}, {prefix: ...}, {regex: ...}" },
);

const localCommand = z.strictObject({
  command: z.array(nonEmpty("a non-empty string"), { error: "a list: the program and its arguments, e.g. [node, server.js]" }).min(1, {
    error: "the program and its arguments, e.g. [node, server.js]",
  }),
  env: envMap.optional(),
});

const versionFields = {
  image: imageRef.optional(),
  replicas: wholeNumber(0, 50, "replicas").optional(),
  env: envMap.optional(),
  local: localCommand.optional(),
};
const v1Schema = z.strictObject({
  ...versionFields,
  selector: stringMap(LABEL_KEY, "a label key", z.string().regex(LABEL_VALUE, { error: "a label value" })).optional(),
});
const v2Schema = z.strictObject(versionFields);

const matchSchema = z.strictObject({
  cookie: cookie.optional(),
  headers: z.record(z.string().regex(TOKEN, { error: "a header name" }), stringMatch, { error: "a mapping of header names to matches" }).optional(),
  pathPrefix: httpPath.optional(),
  methods: z
    .array(z.string().regex(/^[A-Z]+$/, { error: "an HTTP method in upper case, e.g. GET" }), { error: "a list of methods, e.g. [GET, POST]" })
    .min(1, { error: "at least one method" })
    .optional(),
});

const copyHeadersSchema = z.strictObject({
  set: stringMap(TOKEN, "a header name", z.string({ error: "a string" }).regex(HEADER_VALUE, { error: "a header value: printable ASCII, no line breaks" })).optional(),
  remove: z.array(z.string().regex(TOKEN, { error: "a header name" }), { error: "a list of header names" }).optional(),
});

const mirrorSchema = z.strictObject({
  percent: percent.optional(),
  match: matchSchema.optional(),
  writes: flag.optional(),
  copyHeaders: copyHeadersSchema.optional(),
});

const appSchema = z.strictObject(
  {
    port: port.optional(),
    containerPort: port.optional(),
    hosts: hosts.optional(),
    healthPath: httpPath.optional(),
    curlPath: httpPath.optional(),
    /** Every version this stack deploys, unless the version names its own. */
    image: imageRef.optional(),
    v1: v1Schema.optional(),
    v2: v2Schema.optional(),
    mirror: mirrorSchema.optional(),
    /** Shorthand of mirror.percent (the key the built-ins have always had). */
    mirrorPercent: percent.optional(),
    compare: flag.optional(),
  },
  { error: "an object of app settings" },
);
type RawApp = z.infer<typeof appSchema>;

const rawSchema = z.object({
  mirrorPercent: percent.optional(),
  compare: flag.optional(),
  mesh: z.enum(MESHES, { error: `one of ${MESHES.join(", ")}` }).optional(),
  namespace: z.string().regex(DNS_LABEL, { error: DNS_LABEL_ALLOWED }).optional(),
  mirrorCookie: cookie.optional(),
  nodeIp: z.string().regex(/^[A-Za-z0-9.:-]+$/, { error: "an IP address or host name" }).optional(),
  proxyImage: imageRef.optional(),
  gatewayClassName: z.string().regex(DNS_SUBDOMAIN, { error: "a GatewayClass name (a DNS subdomain, e.g. istio or eg)" }).optional(),
  istioVersion: z.string().regex(/^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?$/, { error: "an Istio version such as 1.28.1" }).optional(),
  apps: z.record(z.string(), z.unknown(), { error: "an object keyed by app name" }).optional(),
  // Checked by resolveVerdictConfig (components/verdictThresholds.ts).
  verdict: z.unknown().optional(),
  promotion: z.unknown().optional(),
  prometheusUrl: z.unknown().optional(),
});

/** What each object of an app accepts, for "unknown key" messages (`*` = the app's name). */
const ALLOWED_KEYS: Record<string, string[]> = {
  "apps.*": Object.keys(appSchema.shape),
  "apps.*.v1": Object.keys(v1Schema.shape),
  "apps.*.v2": Object.keys(v2Schema.shape),
  "apps.*.v1.local": Object.keys(localCommand.shape),
  "apps.*.v2.local": Object.keys(localCommand.shape),
  "apps.*.mirror": Object.keys(mirrorSchema.shape),
  "apps.*.mirror.match": Object.keys(matchSchema.shape),
  "apps.*.mirror.copyHeaders": Object.keys(copyHeadersSchema.shape),
};

// ---------------------------------------------------------------- errors

/** One message for every bad key, naming the key, the value and what is allowed. */
export class StackConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
    this.problems = problems;
  }
}

/** `traffic-mirroring:apps.billing.v1.image` for a path. */
export function keyName(path: readonly PropertyKey[]): string {
  const [top, ...rest] = path.map(String);
  return `${PROJECT}:${top}${rest.map((part) => `.${part}`).join("")}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, key) => (node !== null && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[key] : undefined),
    root,
  );
}

/** `key = value: expected allowed`, the one shape of every problem about a value. */
function problemAt(path: readonly PropertyKey[], value: unknown, allowed: string): string {
  return `${keyName(path)} = ${JSON.stringify(value)}: expected ${allowed}`;
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue, at: PropertyKey[] = []): string[] {
  const path = [...at, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    const pattern = path.map((part, i) => (i === 1 && path[0] === "apps" ? "*" : String(part))).join(".");
    const allowed = ALLOWED_KEYS[pattern];
    return issue.keys.map((key) => `${keyName([...path, key])}: unknown key${allowed ? ` (allowed: ${allowed.join(", ")})` : ""}`);
  }
  return [problemAt(path, valueAt(raw, issue.path), issue.message)];
}

// ---------------------------------------------------------------- apps

function checkRegex(pattern: string): string | undefined {
  // Istio's dialect is RE2: no lookaround, no backreferences (the proxy checks the full grammar).
  if (/\(\?<?[=!]|\\[1-9]|\\k</.test(pattern)) return "an RE2 regex (Istio's dialect): no lookaround or backreferences";
  try {
    new RegExp(pattern);
    return undefined;
  } catch (error) {
    return `a valid regex (${(error as Error).message.replace(/^Invalid regular expression: /, "")})`;
  }
}

function toStringMatch(path: PropertyKey[], raw: z.infer<typeof stringMatch>, problems: string[]): StringMatch | undefined {
  const set = (["exact", "prefix", "regex"] as const).filter((kind) => raw[kind] !== undefined);
  if (set.length !== 1) {
    problems.push(problemAt(path, raw, "exactly one of exact, prefix, regex"));
    return undefined;
  }
  const kind = set[0];
  const value = raw[kind] as string;
  if (kind === "regex") {
    const bad = checkRegex(value);
    if (bad) problems.push(problemAt([...path, "regex"], value, bad));
  }
  return { [kind]: value } as StringMatch;
}

function splitCookie(text: string): { name: string; value: string } {
  const [name, value] = text.split(/=(.*)/s);
  return { name, value };
}

function toMatch(path: PropertyKey[], raw: z.infer<typeof matchSchema>, writes: boolean, problems: string[]): MirrorMatch | undefined {
  const match: MirrorMatch = {};
  if (raw.cookie !== undefined) match.cookie = splitCookie(raw.cookie);
  if (raw.headers !== undefined) {
    const headers: Record<string, StringMatch> = {};
    for (const [name, value] of Object.entries(raw.headers)) {
      const lower = name.toLowerCase();
      if (lower === "cookie" && raw.cookie !== undefined) {
        problems.push(problemAt([...path, "headers", name], value, "no cookie header match together with match.cookie (use one)"));
      }
      const parsed = toStringMatch([...path, "headers", name], value, problems);
      if (parsed) headers[lower] = parsed; // Istio matches lower-case header names
    }
    match.headers = headers;
  }
  if (raw.pathPrefix !== undefined) match.pathPrefix = raw.pathPrefix;
  if (raw.methods !== undefined) {
    match.methods = [...new Set(raw.methods)];
    if (!writes && !match.methods.some((method) => (READ_METHODS as readonly string[]).includes(method))) {
      problems.push(
        problemAt([...path, "methods"], raw.methods, `at least one of ${READ_METHODS.join(", ")} while mirror.writes is false (or set mirror.writes: true to copy writes)`),
      );
    }
  }
  return Object.keys(match).length > 0 ? match : undefined;
}

function toCopyHeaders(path: PropertyKey[], raw: z.infer<typeof copyHeadersSchema>, problems: string[]): CopyHeaders {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  const why = (name: string) =>
    name === "host" || name === "content-length" || name === "x-mirror-shadow"
      ? "the proxy writes it on every copy"
      : "a hop-by-hop header, never forwarded";
  for (const [name, value] of Object.entries(raw.set ?? {})) {
    const lower = name.toLowerCase();
    if (UNSHAPEABLE_HEADERS.includes(lower)) problems.push(problemAt([...path, "set", name], value, `another header: ${name} is ${why(lower)}`));
    else set[lower] = value;
  }
  (raw.remove ?? []).forEach((name, i) => {
    const lower = name.toLowerCase();
    if (UNSHAPEABLE_HEADERS.includes(lower)) problems.push(problemAt([...path, "remove", i], name, `another header: ${name} is ${why(lower)}`));
    else if (Object.hasOwn(set, lower)) problems.push(problemAt([...path, "remove", i], name, "a header not also in copyHeaders.set (set replaces it already)"));
    else if (!remove.includes(lower)) remove.push(lower);
  });
  return { set, remove };
}

function toLocal(raw: z.infer<typeof localCommand> | undefined): LocalCommand | undefined {
  return raw ? { command: [...raw.command], env: { ...(raw.env ?? {}) } } : undefined;
}

/** v2's pod labels would satisfy the v1 selector: the v1 Service would send traffic to v2. */
function selectsV2(selector: Record<string, string>, name: string): boolean {
  const v2Labels: Record<string, string> = { app: name, version: "v2" };
  return Object.entries(selector).every(([key, value]) => v2Labels[key] === value);
}

/** One app: a built-in with its overrides, or a new one. Pushes its problems. */
function resolveApp(name: string, raw: RawApp, globals: AppGlobals, problems: string[]): App | undefined {
  const at = (...rest: PropertyKey[]): PropertyKey[] => ["apps", name, ...rest];
  const builtIn = builtInApp(name);
  const base = builtIn ? resolveBuiltIn(builtIn, globals) : undefined;

  if (raw.mirrorPercent !== undefined && raw.mirror?.percent !== undefined) {
    problems.push(problemAt(at("mirrorPercent"), raw.mirrorPercent, "only one of mirrorPercent and mirror.percent (the same setting)"));
  }
  const v1Image = raw.v1?.image ?? raw.image;
  const v2Image = raw.v2?.image ?? raw.image;
  const selector = raw.v1?.selector;
  if (!builtIn) {
    if (v2Image === undefined) problems.push(`${keyName(at("v2", "image"))}: missing: a new app needs the image of v2 (v2.image, or image for both versions)`);
    if (v1Image === undefined && selector === undefined) {
      problems.push(`${keyName(at("v1"))}: missing: a new app needs v1.image, or v1.selector (labels of the pods already running v1)`);
    }
  }
  if (selector !== undefined) {
    if (raw.v1?.image !== undefined) {
      problems.push(problemAt(at("v1", "selector"), selector, "either v1.image (this stack deploys v1) or v1.selector (v1 already runs), not both"));
    } else if (Object.keys(selector).length === 0) {
      problems.push(problemAt(at("v1", "selector"), selector, "at least one label"));
    } else if (selectsV2(selector, name)) {
      problems.push(problemAt(at("v1", "selector"), selector, `labels v2's pods (app=${name}, version=v2) lack, e.g. version: v1; else v1's Service would also select v2`));
    }
    if (raw.v1?.replicas !== undefined) problems.push(problemAt(at("v1", "replicas"), raw.v1.replicas, "no v1.replicas with v1.selector (this stack does not own v1's pods)"));
  }

  const writes = raw.mirror?.writes ?? (builtIn ? true : NEW_APP_DEFAULTS.writes);
  const rawMatch = raw.mirror?.match;
  const match = rawMatch !== undefined ? toMatch(at("mirror", "match"), rawMatch, writes, problems) : base?.mirror.match;
  const copyHeaders = raw.mirror?.copyHeaders !== undefined ? toCopyHeaders(at("mirror", "copyHeaders"), raw.mirror.copyHeaders, problems) : undefined;

  const version = (v: "v1" | "v2", image: string | undefined): VersionSpec => {
    const rawVersion = raw[v];
    return {
      ...(image !== undefined && !(v === "v1" && selector !== undefined) ? { image } : {}),
      ...(v === "v1" && selector !== undefined ? { selector: { ...selector } } : {}),
      ...(rawVersion?.replicas !== undefined ? { replicas: rawVersion.replicas } : {}),
      env: { ...(rawVersion?.env ?? {}) },
      ...(rawVersion?.local ? { local: toLocal(rawVersion.local) } : {}),
    };
  };

  const servicePort = raw.port ?? base?.servicePort ?? NEW_APP_DEFAULTS.port;
  return {
    name,
    builtIn: builtIn !== undefined,
    ...(base?.workload ? { workload: base.workload } : {}),
    servicePort,
    containerPort: raw.containerPort ?? base?.containerPort ?? raw.port ?? servicePort,
    hosts: raw.hosts ?? base?.hosts ?? [`${name}.example.com`],
    healthPath: raw.healthPath ?? base?.healthPath ?? NEW_APP_DEFAULTS.healthPath,
    curlPath: raw.curlPath ?? base?.curlPath ?? NEW_APP_DEFAULTS.curlPath,
    v1: version("v1", v1Image),
    v2: version("v2", v2Image),
    mirrorPercent: raw.mirror?.percent ?? raw.mirrorPercent ?? globals.mirrorPercent,
    mirror: {
      ...(match ? { match } : {}),
      writes,
      writesConfigured: raw.mirror?.writes !== undefined,
      ...(copyHeaders ? { copyHeaders } : {}),
    },
    compare: raw.compare ?? globals.compare,
    expectedDifferences: base ? [...base.expectedDifferences] : [],
  };
}

/** A host routed to two apps is ambiguous: the second claim is the problem. */
function checkHostClaims(apps: App[], problems: string[]): void {
  const owner = new Map<string, string>();
  for (const app of apps) {
    for (const host of app.hosts) {
      const first = owner.get(host);
      if (first !== undefined && first !== app.name) {
        problems.push(problemAt(["apps", app.name, "hosts"], app.hosts, `hosts no other app claims (${host} is routed to ${first})`));
      } else owner.set(host, app.name);
    }
  }
}

/** One `apps.<name>` entry: its name checked, its keys validated, resolved. Pushes its problems. */
function parseApp(name: string, rawApp: unknown, globals: AppGlobals, problems: string[]): App | undefined {
  if (!DNS_LABEL.test(name) || name.length > MAX_APP_NAME) {
    problems.push(`${keyName(["apps", name])}: bad app name: expected ${DNS_LABEL_ALLOWED.replace("at most 63", `at most ${MAX_APP_NAME}`)}`);
    return undefined;
  }
  if (RESERVED_APP_NAMES.includes(name)) {
    problems.push(`${keyName(["apps", name])}: reserved app name (the stack's own ${name} uses it)`);
    return undefined;
  }
  const result = appSchema.safeParse(rawApp);
  if (!result.success) {
    problems.push(...result.error.issues.flatMap((issue) => describeIssue(rawApp, issue, ["apps", name])));
    return undefined;
  }
  return resolveApp(name, result.data, globals, problems);
}

/**
 * An app for a Pulumi program of your own: the settings an `apps.<name>`
 * entry of the stack config takes (same keys, defaults and checks), as a
 * plain object. Throws StackConfigError naming every bad key.
 */
export function defineApp(name: string, settings: Record<string, unknown>): App {
  const problems: string[] = [];
  const globals = { ...DEFAULTS, mirrorCookie: splitCookie(DEFAULTS.mirrorCookie) };
  const app = parseApp(name, settings, globals, problems);
  if (problems.length > 0 || !app) throw new StackConfigError(problems);
  return app;
}

// ---------------------------------------------------------------- the whole config

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
  const data = parsed.success ? parsed.data : {};

  const globals: AppGlobals = {
    mirrorPercent: data.mirrorPercent ?? DEFAULTS.mirrorPercent,
    compare: data.compare ?? DEFAULTS.compare,
    mirrorCookie: splitCookie(data.mirrorCookie ?? DEFAULTS.mirrorCookie),
  };

  // Each app on its own, so that one bad app does not hide another's problems.
  const declared = (data.apps ?? {}) as Record<string, unknown>;
  const names = [...BUILT_IN_APP_NAMES, ...Object.keys(declared).filter((name) => !BUILT_IN_APP_NAMES.includes(name))];
  const apps: Record<string, App> = {};
  for (const name of names) {
    const app = parseApp(name, declared[name] ?? {}, globals, problems);
    if (app) apps[name] = app;
  }
  checkHostClaims(Object.values(apps), problems);
  const verdict = resolveVerdictConfig(raw, problemAt);
  problems.push(...verdict.problems);
  const scaling = parseProxyScalingConfig(raw.proxyScaling, keyName(["proxyScaling"]), Object.values(apps).some((app) => app.compare));
  problems.push(...scaling.problems);

  if (problems.length > 0 || !parsed.success) throw new StackConfigError(problems);
  return {
    mesh: data.mesh ?? DEFAULTS.mesh,
    namespace: data.namespace ?? DEFAULTS.namespace,
    mirrorCookie: globals.mirrorCookie,
    ...(data.nodeIp ? { nodeIp: data.nodeIp } : {}),
    ...(data.proxyImage ? { proxyImage: data.proxyImage } : {}),
    ...(data.gatewayClassName ? { gatewayClassName: data.gatewayClassName } : {}),
    ...(data.istioVersion ? { istioVersion: data.istioVersion } : {}),
    ...verdict.config,
    apps,
    proxyScaling: scaling.scaling,
  };
}

/** The apps, built-ins first. */
export function appList(config: Pick<StackConfig, "apps">): App[] {
  return Object.values(config.apps);
}

/**
 * What a data plane cannot do for this config, as problems (same shape as the
 * config's). Istio cannot change headers on the copy only.
 */
export function meshProblems(config: StackConfig, mesh: string): string[] {
  const why: Record<string, string> = {
    istio: "Envoy's mirror policy cannot change headers on the copy only (route headers apply to the primary too)",
    "gateway-api": "a RequestMirror filter cannot change headers on the copy only (header filters apply to the primary too)",
  };
  if (!why[mesh]) return [];
  return appList(config)
    .filter((app) => app.mirror.copyHeaders)
    .map((app) => `${keyName(["apps", app.name, "mirror", "copyHeaders"])}: not possible with mesh ${mesh}: ${why[mesh]}; use mesh proxy, or remove the key`);
}

/** Throws the mesh's problems as one StackConfigError. */
export function checkMeshSupport(config: StackConfig, mesh: string): void {
  const problems = meshProblems(config, mesh);
  if (problems.length > 0) throw new StackConfigError(problems);
}

/**
 * One warning per app that copies writes to v2 (each POST, PUT, DELETE... then
 * runs twice). The built-ins' tutorial default is not warned about: their
 * services have no side effects.
 */
export function writeMirroringWarnings(config: StackConfig): string[] {
  return appList(config)
    .filter((app) => app.mirror.writes && (app.mirror.writesConfigured || !app.builtIn) && app.mirrorPercent > 0)
    .map(
      (app) =>
        `${app.name} mirrors writes (${keyName(["apps", app.name, "mirror", "writes"])} = true): v2 receives copies of POST, PUT, PATCH and DELETE ` +
        "requests too, so their side effects happen twice unless v2 is isolated",
    );
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
    verdict: get("verdict"),
    promotion: get("promotion"),
    prometheusUrl: get("prometheusUrl"),
    apps: get("apps"),
    proxyScaling: get("proxyScaling"),
  };
  return asRunError(() => parseStackConfig(raw));
}

/** RunError prints the message alone, without a stack trace, as a preview failure. */
export function asRunError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StackConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
