// Types for the modules the proxy imports one by one (prom-client, undici: their packages only type their index).
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
declare module "undici/lib/dispatcher/pool.js" {
  import { Pool } from "undici";
  export default Pool;
}
