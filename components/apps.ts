// The app model: what the stack dark-launches. Every app, built-in or declared
// in stack config (`apps.<name>`), resolves to one `App`; routing, workloads,
// the proxy's ConfigMap and the local stack are all derived from it. The two
// tutorial services, hostname and movies, are built-in entries (BUILT_IN_APPS)
// whose defaults reproduce the Istio mirroring tutorials.

/** An app's name: a DNS label (the `app` label, the Service name). */
export type AppName = string;

/** The two versions every app has: v1 serves, v2 gets the copies. */
export const VERSIONS = ["v1", "v2"] as const;
export type Version = (typeof VERSIONS)[number];

/** Methods copied when writes are not mirrored (Diffy's default: no side effects twice). */
export const READ_METHODS = ["GET", "HEAD", "OPTIONS"] as const;

/** Istio StringMatch: exactly one of them. */
export type StringMatch = { exact: string } | { prefix: string } | { regex: string };

/** Which requests are mirrored (all conditions must hold; none = every request). */
export interface MirrorMatch {
  /** A cookie the request must carry, as `name=value`. */
  cookie?: { name: string; value: string };
  /** Request headers (lower-case names) and how their value must match. */
  headers?: Record<string, StringMatch>;
  /** A path prefix, e.g. `/api/`. */
  pathPrefix?: string;
  /** Methods (upper case); with `writes: false` only the read methods among them are copied. */
  methods?: string[];
}

/** Headers changed on the copy only (never on the primary); names lower-case. */
export interface CopyHeaders {
  set: Record<string, string>;
  remove: string[];
}

export interface MirrorSpec {
  match?: MirrorMatch;
  /** Copy every method; false copies only GET, HEAD and OPTIONS. */
  writes: boolean;
  /** Whether `writes` was set in config (the built-ins' default is not warned about). */
  writesConfigured: boolean;
  copyHeaders?: CopyHeaders;
}

/** How the local stack (`npm run demo`) starts one version as a process. */
export interface LocalCommand {
  /** argv; `node` is the project's Node; relative paths from the project folder. */
  command: string[];
  env: Record<string, string>;
}

export interface VersionSpec {
  /** Image to deploy; built from `workload` when absent (built-ins). */
  image?: string;
  /** v1 only: labels of pods that already run v1 (not owned by this stack). */
  selector?: Record<string, string>;
  replicas?: number;
  /** Extra container env (VERSION and PORT are set by the stack). */
  env: Record<string, string>;
  local?: LocalCommand;
}

export interface App {
  name: AppName;
  /** A tutorial app of this repository (its image is built from `workloads/<workload>`). */
  builtIn: boolean;
  /** Folder under `workloads/` the image is built from when no image is given. */
  workload?: string;
  /** Port of the Service `<app>` (named `http`). */
  servicePort: number;
  /** Port the container listens on (it runs as non-root: unprivileged). */
  containerPort: number;
  /** Host values routed to the app (`*` = any Host). */
  hosts: string[];
  /** Path of the readiness and liveness probes. */
  healthPath: string;
  /** Path of the request a user curls (the Host header comes from `hosts`). */
  curlPath: string;
  v1: VersionSpec;
  v2: VersionSpec;
  /** Share of the selected requests copied to v2, 0–100 (`mirror.percent`, or `mirrorPercent`). */
  mirrorPercent: number;
  mirror: MirrorSpec;
  /** Compare v2's answers with v1's (proxy mode only: Envoy cannot). */
  compare: boolean;
  /** JSON paths of the answer that differ between versions by design (not reported by compare). */
  expectedDifferences: string[];
}

/**
 * Built-in defaults, before the stack's global keys (mirrorPercent, compare,
 * mirrorCookie) are applied. Their tutorials only send GETs and their services
 * have no side effects, so they keep the seed routing: every method mirrored.
 */
export interface BuiltInApp extends Omit<App, "mirror" | "mirrorPercent" | "compare"> {
  /** hostname mirrors only requests with the stack's `mirrorCookie`; movies every request. */
  mirrorSelects: "cookie" | "all";
}

export const BUILT_IN_APPS: readonly BuiltInApp[] = [
  {
    name: "hostname",
    builtIn: true,
    workload: "hostname",
    servicePort: 80,
    containerPort: 8080,
    hosts: ["hostname.example.com"],
    healthPath: "/healthz",
    curlPath: "/version/",
    v1: { env: {} },
    v2: { env: {} },
    mirrorSelects: "cookie",
    // A text answer: the pod name differs between any two pods, learned as noise.
    expectedDifferences: [],
  },
  {
    name: "movies",
    builtIn: true,
    workload: "movies",
    servicePort: 3000,
    containerPort: 3000,
    hosts: ["*"],
    healthPath: "/healthz",
    curlPath: "/",
    v1: { env: {} },
    v2: { env: {} },
    mirrorSelects: "all",
    // Each movie carries the version that served it.
    expectedDifferences: ["$[*].version"],
  },
];

export const BUILT_IN_APP_NAMES: readonly AppName[] = BUILT_IN_APPS.map((app) => app.name);
/** The built-in apps' names (the local tools' `--app` choices). */
export const APP_NAMES = BUILT_IN_APP_NAMES;

export function builtInApp(name: AppName): BuiltInApp | undefined {
  return BUILT_IN_APPS.find((candidate) => candidate.name === name);
}

/** The stack-wide keys a built-in app's mirroring follows, with their defaults (Pulumi.yaml declares the same). */
export const APP_GLOBAL_DEFAULTS = { mirrorPercent: 100, compare: false, mirrorCookie: "user=test" };

export interface AppGlobals {
  mirrorPercent: number;
  compare: boolean;
  mirrorCookie: { name: string; value: string };
}

/** A built-in app under the stack's global keys, before its `apps.<name>` overrides. */
export function resolveBuiltIn(app: BuiltInApp, globals: AppGlobals): App {
  const { mirrorSelects, ...rest } = app;
  return {
    ...rest,
    hosts: [...app.hosts],
    v1: { ...app.v1, env: { ...app.v1.env } },
    v2: { ...app.v2, env: { ...app.v2.env } },
    mirrorPercent: globals.mirrorPercent,
    mirror: {
      ...(mirrorSelects === "cookie" ? { match: { cookie: { ...globals.mirrorCookie } } } : {}),
      writes: true,
      writesConfigured: false,
    },
    compare: globals.compare,
  };
}

/** A built-in app as the default stack config resolves it (the tutorials' requests). */
export function demoApp(name: AppName): App {
  const app = builtInApp(name);
  if (!app) throw new Error(`unknown built-in app "${name}" (built-in: ${BUILT_IN_APP_NAMES.join(", ")})`);
  const [cookieName, cookieValue] = APP_GLOBAL_DEFAULTS.mirrorCookie.split("=");
  return resolveBuiltIn(app, { ...APP_GLOBAL_DEFAULTS, mirrorCookie: { name: cookieName, value: cookieValue } });
}

/** Whether v1 runs on pods this stack does not own (selected by labels). */
export function v1Selected(app: App): boolean {
  return app.v1.selector !== undefined;
}

/** The built-in apps as the default stack config resolves them. */
export const DEMO_APPS: readonly App[] = BUILT_IN_APP_NAMES.map(demoApp);
