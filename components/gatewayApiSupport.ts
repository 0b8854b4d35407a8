// What each Gateway API implementation is known to do with the HTTPRoute
// features the dark launch needs, and a pure check of a routing's needs
// against a controller. The one documented place for this knowledge: every
// row names its source (a conformance report of kubernetes-sigs/gateway-api,
// path under conformance/reports/), and what no source confirmed says so.
// The README's compatibility table is this table.

/** What a rendered HTTPRoute can ask of its controller. */
export type RoutingNeed =
  | "mirror" // a RequestMirror filter
  | "percentage" // RequestMirror with `percent` below 100
  | "fraction" // RequestMirror with `fraction` (a share that is not a whole percent, e.g. 0.5 %)
  | "multipleMirrors" // more than one RequestMirror filter in a rule
  | "methodSplit" // a `method` match (safe methods mirrored, others not)
  | "headerRegex"; // a header match of type RegularExpression (the cookie match)

/** The conformance feature that covers a need; none for implementation-specific behaviour. */
export const CONFORMANCE_FEATURE: Record<RoutingNeed, string | undefined> = {
  mirror: "HTTPRouteRequestMirror",
  percentage: "HTTPRouteRequestPercentageMirror",
  // The percentage-mirror conformance test covers `fraction` too (its second rule, 25/50).
  fraction: "HTTPRouteRequestPercentageMirror",
  multipleMirrors: "HTTPRouteRequestMultipleMirrors",
  methodSplit: "HTTPRouteMethodMatching",
  // Gateway API: "Support: Implementation-specific (RegularExpression)"; no conformance test.
  headerRegex: undefined,
};

/** In words, for messages. */
export const NEED_DESCRIPTION: Record<RoutingNeed, string> = {
  mirror: "request mirroring (RequestMirror)",
  percentage: "percentage mirroring (RequestMirror percent)",
  fraction: "fractional mirroring (RequestMirror fraction, for a share below 1 % or not a whole percent)",
  multipleMirrors: "several mirrors in one rule",
  methodSplit: "method matching (mirroring only safe methods)",
  headerRegex: "regular-expression header matching (the mirror cookie)",
};

export type Support = "supported" | "unsupported" | "unconfirmed";

export interface KnownController {
  /** Implementation, as people call it. */
  name: string;
  /** GatewayClass `spec.controllerName` values it registers. */
  controllerNames: string[];
  /** Version the source describes. */
  version: string;
  /** Where the support below comes from. */
  source: string;
  support: Record<RoutingNeed, Support>;
  /** Anything a user should know beyond the features (e.g. the Host of copies). */
  note?: string;
}

const REPORTS = "kubernetes-sigs/gateway-api conformance/reports/v1.3.0";
// No conformance report covers header regex: RE2 is what Envoy takes, but the
// implementations' reports say nothing, so it stays unconfirmed for all of them.
const ALL_MIRRORING: Record<RoutingNeed, Support> = {
  mirror: "supported",
  percentage: "supported",
  fraction: "supported",
  multipleMirrors: "supported",
  methodSplit: "supported",
  headerRegex: "unconfirmed",
};

/** The known controllers. Sources read on 2026-12-01. */
export const KNOWN_CONTROLLERS: readonly KnownController[] = [
  {
    name: "Istio",
    controllerNames: ["istio.io/gateway-controller"],
    version: "1.26.1",
    source: `${REPORTS}/istio-istio/experimental-1.26.1-default-report.yaml (GATEWAY-HTTP and MESH-HTTP supportedFeatures)`,
    support: ALL_MIRRORING,
    note: "Istio 1.28+ sends copies without the -shadow Host suffix (DISABLE_SHADOW_HOST_SUFFIX, Istio 1.28.0 change notes, istio/istio#57530)",
  },
  {
    name: "Envoy Gateway",
    controllerNames: ["gateway.envoyproxy.io/gatewayclass-controller"],
    version: "v1.5.0",
    source: `${REPORTS}/envoy-gateway/experimental-v1.5.0-default-report.yaml`,
    support: ALL_MIRRORING,
    note: "releases after envoyproxy/gateway#7229 (Oct 2025) no longer append -shadow to the copies' Host",
  },
  {
    name: "Cilium",
    controllerNames: ["io.cilium/gateway-controller"],
    version: "main (May 2025)",
    source: `${REPORTS}/cilium-cilium/experimental-main-default-report.yaml`,
    support: ALL_MIRRORING,
  },
  {
    name: "NGINX Gateway Fabric",
    controllerNames: ["gateway.nginx.org/nginx-gateway-controller"],
    version: "2.2.0",
    source: `${REPORTS}/nginx-nginx-gateway-fabric/experimental-2.2.0-default-report.yaml`,
    support: ALL_MIRRORING,
  },
  {
    name: "Contour",
    controllerNames: ["projectcontour.io/gateway-controller"],
    version: "v1.33.0",
    source: `${REPORTS}/projectcontour-contour/experimental-v1.33.0-default-report.yaml (HTTPRouteRequestPercentageMirror under unsupportedFeatures)`,
    support: { ...ALL_MIRRORING, percentage: "unsupported", fraction: "unsupported" },
  },
  {
    name: "Traefik",
    controllerNames: ["traefik.io/gateway-controller"],
    version: "v3.5",
    source: `${REPORTS}/traefik-traefik/experimental-v3.5.0-default-report.yaml (all three mirror features under unsupportedFeatures)`,
    support: { ...ALL_MIRRORING, mirror: "unsupported", percentage: "unsupported", fraction: "unsupported", multipleMirrors: "unsupported" },
  },
  {
    name: "Kong",
    // The operator's class, and the ingress controller's (KIC) own.
    controllerNames: ["konghq.com/gateway-operator", "konghq.com/kic-gateway-controller"],
    version: "kong-operator v2.0.6",
    source: `${REPORTS}/kong-operator/standard-v2.0.6-expressions-report.yaml (all three mirror features under unsupportedFeatures); the KIC controller name is assumed to share it, not confirmed by a report of its own`,
    support: { ...ALL_MIRRORING, mirror: "unsupported", percentage: "unsupported", fraction: "unsupported", multipleMirrors: "unsupported" },
  },
];

export function knownController(controllerName: string): KnownController | undefined {
  return KNOWN_CONTROLLERS.find((c) => c.controllerNames.includes(controllerName));
}

export type Level = "ok" | "warn" | "fail";

export interface Finding {
  level: Level;
  need: RoutingNeed;
  message: string;
}

const ALTERNATIVE = "use mesh: proxy (pulumi config set traffic-mirroring:mesh proxy), which implements it";

/** What the rendered HTTPRoutes ask of a controller (see `gatewayApi.ts` `routingNeeds`). */
export type RoutingNeeds = ReadonlySet<RoutingNeed>;

/**
 * The routing's needs against one GatewayClass: `fail` where the controller
 * is known not to implement a need (it would silently not mirror), `warn`
 * where nothing confirms it, `ok` otherwise. One finding per need, in a
 * fixed order.
 */
export function checkGatewayApiSupport(needs: RoutingNeeds, gatewayClass: { name: string; controllerName: string }): Finding[] {
  const known = knownController(gatewayClass.controllerName);
  const who = `GatewayClass ${gatewayClass.name} (controller ${gatewayClass.controllerName}${known ? `, ${known.name}` : ""})`;
  const order = Object.keys(CONFORMANCE_FEATURE) as RoutingNeed[];
  return order
    .filter((need) => needs.has(need))
    .map((need): Finding => {
      const feature = CONFORMANCE_FEATURE[need];
      const what = `${NEED_DESCRIPTION[need]}${feature ? ` [${feature}]` : ""}`;
      if (!known) {
        return { level: "warn", need, message: `${who} is not in the known-controllers table: cannot tell whether it implements ${what}; if copies do not reach v2, ${ALTERNATIVE}` };
      }
      const support = known.support[need];
      if (support === "supported") return { level: "ok", need, message: `${who} implements ${what} (${known.version}: ${known.source})` };
      if (support === "unsupported") {
        return { level: "fail", need, message: `${who} does not implement ${what} (${known.version}: ${known.source}); ${ALTERNATIVE}` };
      }
      return {
        level: "warn",
        need,
        message: `${who}: ${what} is implementation-specific and no conformance report confirms it for ${known.name}; if mirroring does not select the right requests, ${ALTERNATIVE}`,
      };
    });
}

/** `1.28.2` -> [1, 28]; undefined when not a version. */
function majorMinor(version: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * `mesh: istio` with a known Istio version: from 1.28 on, Istio sends copies
 * without the `-shadow` Host suffix by default (DISABLE_SHADOW_HOST_SUFFIX;
 * Istio 1.28.0 change notes, istio/istio#57530), so v2 sees the same Host as
 * v1 and the demo services' "looks mirrored" log field stays false.
 */
export function checkIstioShadowSuffix(istioVersion: string | undefined): Finding | undefined {
  if (!istioVersion) return undefined;
  const mm = majorMinor(istioVersion);
  if (!mm) return undefined;
  const [major, minor] = mm;
  if (major < 1 || (major === 1 && minor < 28)) return undefined;
  return {
    level: "warn",
    need: "mirror",
    message:
      `Istio ${istioVersion} (1.28+) sends mirrored requests without the -shadow Host suffix (DISABLE_SHADOW_HOST_SUFFIX defaults to true): ` +
      `v2 cannot tell a copy by its Host. Set DISABLE_SHADOW_HOST_SUFFIX=false on istiod to keep it, or use mesh: proxy (shadowHostSuffix "-shadow")`,
  };
}
