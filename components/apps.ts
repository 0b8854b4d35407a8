// The two demo services of the dark launch, as the Istio mirroring tutorials
// teach them. Everything else (config, routing, Deployments) is derived from
// this catalogue, so adding an app is one entry here.

export type AppName = "hostname" | "movies";

/** Who gets mirrored to v2. */
export type MirrorSelector =
  | { kind: "all" } // every request routed to v1 is copied
  | { kind: "cookie" }; // only requests carrying the stack's mirror cookie

export interface DemoApp {
  /** App name: the `app` label, the Service name, the workload folder. */
  name: AppName;
  /** Port of the Service `<app>` (named `http`). */
  servicePort: number;
  /** Unprivileged port the container listens on (it runs as non-root). */
  containerPort: number;
  /** Default Host values the app answers for (`*` = any Host). */
  defaultHosts: string[];
  /** Which requests are mirrored to v2. */
  mirror: MirrorSelector;
  /** Path of the request a user curls (the Host header comes from the app's hosts). */
  curlPath: string;
  /** JSON paths of the answer that differ between versions by design (not reported by compare). */
  expectedDifferences: string[];
}

export const DEMO_APPS: readonly DemoApp[] = [
  {
    name: "hostname",
    servicePort: 80,
    containerPort: 8080,
    defaultHosts: ["hostname.example.com"],
    mirror: { kind: "cookie" },
    curlPath: "/version/",
    // A text answer: the pod name differs between any two pods, learned as noise.
    expectedDifferences: [],
  },
  {
    name: "movies",
    servicePort: 3000,
    containerPort: 3000,
    defaultHosts: ["*"],
    mirror: { kind: "all" },
    curlPath: "/",
    // Each movie carries the version that served it.
    expectedDifferences: ["$[*].version"],
  },
];

export const APP_NAMES: readonly AppName[] = DEMO_APPS.map((app) => app.name);

/** The two versions every demo app is deployed in. */
export const VERSIONS = ["v1", "v2"] as const;
export type Version = (typeof VERSIONS)[number];

export function demoApp(name: AppName): DemoApp {
  const app = DEMO_APPS.find((candidate) => candidate.name === name);
  if (!app) throw new Error(`unknown demo app "${name}"`);
  return app;
}
