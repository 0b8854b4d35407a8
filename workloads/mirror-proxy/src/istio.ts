/**
 * Istio's VirtualService and DestinationRule schemas (istio/api networking v1), as far as the
 * proxy honours them, and the checks zod cannot express. Every field is either implemented
 * (see model.ts / routing.ts / policy.ts) or refused with a reason naming it: never ignored
 * silently. The few fields accepted without effect are listed in ACCEPTED_WITHOUT_EFFECT and
 * logged at load.
 */
import { z } from "zod";
import { intPercent, str } from "./syntax.ts";

export const ISTIO_API_VERSIONS = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];

/** Istio fields the proxy knows but does not implement: refused with this reason (one line each). */
export const UNSUPPORTED_ISTIO_FIELDS: Record<string, string> = {
  delegate: "delegation: a delegate VirtualService is resolved by istiod, not given to the proxy",
  tcp: "TCP routes: the proxy serves HTTP only",
  tls: "TLS routes: the proxy serves HTTP only (no SNI passthrough)",
  workloadSelector: "workload selectors: they pick sidecars; the proxy is a gateway",
  mirrorPolicy: "mirror policies",
  internalActiveRedirect: "internal redirects",
  exponentialDelay: "exponential fault delays",
  http2Error: "HTTP/2 error aborts (the proxy speaks HTTP/1.1)",
  tunnel: "tunnel settings",
  proxyProtocol: "PROXY protocol to upstreams",
  retryBudget: "retry budgets",
  warmupDurationSecs: "slow-start warm-up",
  warmup: "slow-start warm-up",
  credentialName: "TLS credentials from Kubernetes secrets (give caCertificates as a file instead)",
  clientCertificate: "client certificates (tls mode MUTUAL)",
  privateKey: "client certificates (tls mode MUTUAL)",
  caCrl: "certificate revocation lists",
  subjectAltNames: "subject alternative name checks",
  h2UpgradePolicy: "HTTP/2 upgrades (the proxy speaks HTTP/1.1 to upstreams)",
  useClientProtocol: "HTTP/2 to upstreams",
  maxConcurrentStreams: "HTTP/2 to upstreams",
  maxConnectionDuration: "maximum connection durations",
  tcpKeepalive: "TCP keep-alive probes",
  failoverPriority: "locality failover priorities",
};

/** Accepted with no effect here, logged once at load with the reason. */
export const ACCEPTED_WITHOUT_EFFECT: Record<string, string> = {
  retryRemoteLocalities: "there is one locality",
  localityLbSetting: "there is one locality",
  websocketUpgrade: "deprecated; WebSocket upgrades are always tunnelled",
  statPrefix: "the proxy's metrics label routes by id",
  maxRetries: "retries are bounded per request by attempts",
};

const StringMatch = z.strictObject({
  exact: str().optional(),
  prefix: str().optional(),
  regex: str().optional(),
});
export type StringMatch = z.infer<typeof StringMatch>;

const Destination = z.strictObject({
  host: str().min(1, "must not be empty"),
  subset: str().min(1, "must not be empty").optional(),
  // The upstream URL in MirrorProxy spec.upstreams decides the address; the port selects portLevelSettings.
  port: z.strictObject({ number: z.number().int().min(1).max(65535) }).optional(),
});
export type Destination = z.infer<typeof Destination>;

const Percent = z.strictObject({
  value: z.number({ error: "must be a number" }).min(0, "must be between 0 and 100").max(100, "must be between 0 and 100"),
});

const HTTPMatchRequest = z.strictObject({
  name: str().optional(),
  uri: StringMatch.optional(),
  scheme: StringMatch.optional(),
  method: StringMatch.optional(),
  authority: StringMatch.optional(),
  headers: z.record(z.string(), StringMatch).optional(),
  queryParams: z.record(z.string(), StringMatch).optional(),
  withoutHeaders: z.record(z.string(), StringMatch).optional(),
  ignoreUriCase: z.boolean({ error: "must be a boolean" }).optional(),
  // The port the request was addressed to (its Host header's port, 80 without one).
  port: z.number().int().min(1).max(65535).optional(),
  // Select sidecars by their labels / namespace: a match block carrying them never matches at a gateway.
  sourceLabels: z.record(z.string(), z.string()).optional(),
  sourceNamespace: str().optional(),
  // Gateways this block applies to: `mesh` alone means sidecars only (skipped), any other applies here.
  gateways: z.array(str()).optional(),
  statPrefix: str().optional(),
});
export type HTTPMatchRequest = z.infer<typeof HTTPMatchRequest>;

const HeaderOperations = z.strictObject({
  set: z.record(z.string(), str()).optional(),
  add: z.record(z.string(), str()).optional(),
  remove: z.array(str()).optional(),
});
const Headers = z.strictObject({ request: HeaderOperations.optional(), response: HeaderOperations.optional() });
export type IstioHeaders = z.infer<typeof Headers>;

const HTTPRouteDestination = z.strictObject({
  destination: Destination,
  weight: z.number().int("must be an integer").min(0, "must be at least 0").optional(),
  headers: Headers.optional(),
});

const HTTPMirrorPolicy = z.strictObject({
  destination: Destination,
  percentage: Percent.optional(),
});

const HTTPRedirect = z.strictObject({
  uri: str().optional(),
  authority: str().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  derivePort: z.enum(["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"]).optional(),
  scheme: str().optional(),
  redirectCode: z.number().int().min(300).max(399).optional(),
});

const HTTPDirectResponse = z.strictObject({
  status: z.number({ error: "must be a number" }).int().min(200, "must be between 200 and 599").max(599, "must be between 200 and 599"),
  body: z.strictObject({ string: str().optional(), bytes: str().optional() }).optional(),
});

const HTTPRewrite = z.strictObject({
  uri: str().optional(),
  authority: str().optional(),
  uriRegexRewrite: z.strictObject({ match: str(), rewrite: str() }).optional(),
});

const HTTPRetry = z.strictObject({
  attempts: z.number().int().min(0).optional(),
  perTryTimeout: str().optional(),
  retryOn: str().optional(),
  retryRemoteLocalities: z.boolean().optional(),
  retryIgnorePreviousHosts: z.boolean().optional(),
  backoff: str().optional(),
});

const HTTPFaultInjection = z.strictObject({
  delay: z
    .strictObject({
      fixedDelay: str().optional(),
      percentage: Percent.optional(),
      percent: intPercent().optional(),
      exponentialDelay: z.unknown().optional(),
    })
    .optional(),
  abort: z
    .strictObject({
      httpStatus: z.number().int().min(200, "must be between 200 and 599").max(599, "must be between 200 and 599").optional(),
      grpcStatus: str().optional(),
      http2Error: z.unknown().optional(),
      percentage: Percent.optional(),
    })
    .optional(),
});

const CorsPolicy = z.strictObject({
  allowOrigins: z.array(StringMatch).optional(),
  allowOrigin: z.array(str()).optional(),
  allowMethods: z.array(str()).optional(),
  allowHeaders: z.array(str()).optional(),
  exposeHeaders: z.array(str()).optional(),
  maxAge: str().optional(),
  allowCredentials: z.boolean().optional(),
  unmatchedPreflights: z.enum(["UNSPECIFIED", "FORWARD", "IGNORE"]).optional(),
});

export const HTTPRoute = z.strictObject({
  name: str().optional(),
  match: z.array(HTTPMatchRequest).optional(),
  route: z.array(HTTPRouteDestination).min(1, "must list at least one destination").optional(),
  redirect: HTTPRedirect.optional(),
  directResponse: HTTPDirectResponse.optional(),
  rewrite: HTTPRewrite.optional(),
  timeout: str().optional(),
  retries: HTTPRetry.optional(),
  fault: HTTPFaultInjection.optional(),
  mirror: Destination.optional(),
  mirrorPercentage: Percent.optional(),
  // Deprecated integer form; `mirror_percent` is the proto field name, which Istio also accepts.
  mirrorPercent: intPercent().optional(),
  mirror_percent: intPercent().optional(),
  mirrors: z.array(HTTPMirrorPolicy).optional(),
  corsPolicy: CorsPolicy.optional(),
  headers: Headers.optional(),
  websocketUpgrade: z.boolean().optional(),
});
/** A validated route; the proto spelling `mirror_percent` is folded into `mirrorPercent`. */
export type HTTPRoute = Omit<z.infer<typeof HTTPRoute>, "mirror_percent">;

// kubectl-style metadata: only name/namespace (and creationTimestamp, for merge order) matter.
export const Metadata = z.looseObject({ name: str().min(1, "must not be empty"), namespace: str().optional(), creationTimestamp: z.unknown().optional() });

export const VirtualServiceDoc = z.strictObject({
  apiVersion: str(),
  kind: z.literal("VirtualService"),
  metadata: Metadata,
  spec: z.strictObject({
    hosts: z.array(str().min(1, "must not be empty")).min(1, "must list at least one host"),
    // Accepted and ignored: the proxy *is* the gateway (Istio mode binds the same
    // VirtualService to `<ns>/mirror-gateway`), and it serves every VirtualService it is given.
    gateways: z.array(str()).optional(),
    exportTo: z.array(str()).optional(),
    http: z.array(HTTPRoute).min(1, "must list at least one route"),
  }),
  status: z.unknown().optional(),
});

// ---------------------------------------------------------------- DestinationRule

const LoadBalancerSettings = z.strictObject({
  simple: z.enum(["UNSPECIFIED", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN", "RANDOM", "PASSTHROUGH"]).optional(),
  consistentHash: z
    .strictObject({
      httpHeaderName: str().optional(),
      httpCookie: z.strictObject({ name: str().min(1, "must not be empty"), path: str().optional(), ttl: str().optional(), attributes: z.unknown().optional() }).optional(),
      useSourceIp: z.boolean().optional(),
      httpQueryParameterName: str().optional(),
      ringHash: z.strictObject({ minimumRingSize: z.number().int().min(0).optional() }).optional(),
      maglev: z.strictObject({ tableSize: z.number().int().min(0).optional() }).optional(),
      minimumRingSize: z.number().int().min(0).optional(),
    })
    .optional(),
  localityLbSetting: z.unknown().optional(),
  warmupDurationSecs: z.unknown().optional(),
  warmup: z.unknown().optional(),
});

const ConnectionPoolSettings = z.strictObject({
  tcp: z
    .strictObject({
      maxConnections: z.number().int().min(0).optional(),
      connectTimeout: str().optional(),
      tcpKeepalive: z.unknown().optional(),
      maxConnectionDuration: z.unknown().optional(),
      idleTimeout: str().optional(),
    })
    .optional(),
  http: z
    .strictObject({
      http1MaxPendingRequests: z.number().int().min(0).optional(),
      http2MaxRequests: z.number().int().min(0).optional(),
      maxRequestsPerConnection: z.number().int().min(0).optional(),
      maxRetries: z.number().int().min(0).optional(),
      idleTimeout: str().optional(),
      h2UpgradePolicy: z.unknown().optional(),
      useClientProtocol: z.unknown().optional(),
      maxConcurrentStreams: z.unknown().optional(),
    })
    .optional(),
});

const OutlierDetection = z.strictObject({
  consecutiveErrors: z.number().int().min(0).optional(),
  consecutive5xxErrors: z.number().int().min(0).optional(),
  consecutiveGatewayErrors: z.number().int().min(0).optional(),
  consecutiveLocalOriginFailures: z.number().int().min(0).optional(),
  splitExternalLocalOriginErrors: z.boolean().optional(),
  interval: str().optional(),
  baseEjectionTime: str().optional(),
  maxEjectionPercent: z.number().int().min(0).max(100).optional(),
  minHealthPercent: z.number().int().min(0).max(100).optional(),
});

const ClientTLSSettings = z.strictObject({
  mode: z.enum(["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]),
  caCertificates: str().optional(),
  sni: str().optional(),
  insecureSkipVerify: z.boolean().optional(),
  credentialName: z.unknown().optional(),
  clientCertificate: z.unknown().optional(),
  privateKey: z.unknown().optional(),
  caCrl: z.unknown().optional(),
  subjectAltNames: z.unknown().optional(),
});

const PolicyFields = {
  loadBalancer: LoadBalancerSettings.optional(),
  connectionPool: ConnectionPoolSettings.optional(),
  outlierDetection: OutlierDetection.optional(),
  tls: ClientTLSSettings.optional(),
};

const TrafficPolicy = z.strictObject({
  ...PolicyFields,
  portLevelSettings: z.array(z.strictObject({ port: z.strictObject({ number: z.number().int().min(1).max(65535) }), ...PolicyFields })).optional(),
  tunnel: z.unknown().optional(),
  proxyProtocol: z.unknown().optional(),
  retryBudget: z.unknown().optional(),
});
export type TrafficPolicy = z.infer<typeof TrafficPolicy>;
/** The four fields a policy is made of once subset and port-level settings are merged in. */
export type PortPolicy = Pick<TrafficPolicy, "loadBalancer" | "connectionPool" | "outlierDetection" | "tls">;

export const DestinationRuleDoc = z.strictObject({
  apiVersion: str(),
  kind: z.literal("DestinationRule"),
  metadata: Metadata,
  spec: z.strictObject({
    host: str().min(1, "must not be empty"),
    trafficPolicy: TrafficPolicy.optional(),
    // Subset labels select pods in Istio; here the upstream URL selects them, so labels are informational.
    subsets: z.array(z.strictObject({ name: str().min(1, "must not be empty"), labels: z.record(z.string(), z.string()).optional(), trafficPolicy: TrafficPolicy.optional() })).optional(),
    exportTo: z.array(str()).optional(),
    workloadSelector: z.unknown().optional(),
  }),
  status: z.unknown().optional(),
});
