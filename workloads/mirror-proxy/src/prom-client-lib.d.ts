// Types for the prom-client modules prom.ts imports one by one (the package only types its index).
declare module "prom-client/lib/registry.js" {
  import { Registry } from "prom-client";
  export default Registry;
}
declare module "prom-client/lib/counter.js" {
  import { Counter } from "prom-client";
  export default Counter;
}
declare module "prom-client/lib/gauge.js" {
  import { Gauge } from "prom-client";
  export default Gauge;
}
declare module "prom-client/lib/histogram.js" {
  import { Histogram } from "prom-client";
  export default Histogram;
}
declare module "prom-client/lib/metrics/*" {
  import type { Registry } from "prom-client";
  const collect: (registry: Registry, config: { eventLoopMonitoringPrecision?: number }) => void;
  export default collect;
}
declare module "prom-client/lib/cluster.js" {
  import { AggregatorRegistry } from "prom-client";
  export default AggregatorRegistry;
}
