// The routing of each app, built once by a pure function into Istio's own
// VirtualService and DestinationRule objects. Istio mode applies them as
// custom resources; proxy mode hands the very same objects to the mirror proxy.
import { DEMO_APPS, DemoApp, Version } from "./apps";
import { AppSettings, StackConfig } from "./config";

export const ISTIO_API_VERSION = "networking.istio.io/v1";

export interface Destination {
  host: string;
  subset: Version;
  port: { number: number };
}

export interface HttpRoute {
  name: string;
  match?: Array<{ headers: Record<string, { regex: string }> }>;
  route: Array<{ destination: Destination; weight: number }>;
  mirror?: Destination;
  mirrorPercentage?: { value: number };
}

export interface VirtualService {
  apiVersion: typeof ISTIO_API_VERSION;
  kind: "VirtualService";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { hosts: string[]; gateways?: string[]; http: HttpRoute[] };
}

export interface DestinationRule {
  apiVersion: typeof ISTIO_API_VERSION;
  kind: "DestinationRule";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { host: string; subsets: Array<{ name: Version; labels: { version: Version } }> };
}

export interface RoutingInput {
  app: DemoApp;
  settings: AppSettings;
  namespace: string;
  /** The cookie that opts a request into mirroring, for cookie-selected apps. */
  mirrorCookie: { name: string; value: string };
  /** Gateways the VirtualService binds to (`<namespace>/<name>`); none in proxy mode. */
  gateways?: string[];
}

export interface AppRouting {
  virtualService: VirtualService;
  destinationRule: DestinationRule;
}

/** The in-cluster name of the app's Service, as Istio wants destination hosts. */
export function serviceFqdn(appName: string, namespace: string): string {
  return `${appName}.${namespace}.svc.cluster.local`;
}

/** Escapes a literal for use inside an RE2 / ECMAScript regular expression. */
export function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * RE2 regex matching a `cookie` header that carries `name=value` as one of its
 * cookies (Istio matches cookies through the header, whole value).
 */
export function cookieHeaderRegex(cookie: { name: string; value: string }): string {
  return `^(.*?;\\s*)?(${escapeRegex(`${cookie.name}=${cookie.value}`)})(;.*)?$`;
}

export function buildAppRouting(input: RoutingInput): AppRouting {
  const { app, settings, namespace } = input;
  const host = serviceFqdn(app.name, namespace);
  const destination = (subset: Version): Destination => ({ host, subset, port: { number: app.servicePort } });
  const toV1 = [{ destination: destination("v1"), weight: 100 }];
  const mirrored = {
    mirror: destination("v2"),
    mirrorPercentage: { value: settings.mirrorPercent },
  };
  const labels = { app: app.name, "app.kubernetes.io/managed-by": "traffic-mirroring" };

  // hostname mirrors only opted-in requests; the others still reach v1, unmirrored.
  const http: HttpRoute[] =
    app.mirror.kind === "cookie"
      ? [
          {
            name: `${app.name}-mirror-${input.mirrorCookie.name}`,
            match: [{ headers: { cookie: { regex: cookieHeaderRegex(input.mirrorCookie) } } }],
            route: toV1,
            ...mirrored,
          },
          { name: `${app.name}-primary`, route: toV1 },
        ]
      : [{ name: `${app.name}-mirror-all`, route: toV1, ...mirrored }];

  return {
    virtualService: {
      apiVersion: ISTIO_API_VERSION,
      kind: "VirtualService",
      metadata: { name: app.name, namespace, labels },
      spec: {
        hosts: [...settings.hosts],
        ...(input.gateways ? { gateways: [...input.gateways] } : {}),
        http,
      },
    },
    destinationRule: {
      apiVersion: ISTIO_API_VERSION,
      kind: "DestinationRule",
      metadata: { name: app.name, namespace, labels },
      spec: {
        host,
        subsets: [
          { name: "v1", labels: { version: "v1" } },
          { name: "v2", labels: { version: "v2" } },
        ],
      },
    },
  };
}

/** Every demo app's routing under the stack config; `gateways` in Istio mode only. */
export function buildStackRoutings(config: StackConfig, gateways?: string[]): Array<{ app: DemoApp; routing: AppRouting }> {
  return DEMO_APPS.map((app) => ({
    app,
    routing: buildAppRouting({
      app,
      settings: config.apps[app.name],
      namespace: config.namespace,
      mirrorCookie: config.mirrorCookie,
      ...(gateways ? { gateways } : {}),
    }),
  }));
}
