// Reading a service's settings from its environment, failing loudly on bad values.
import * as os from "node:os";

export type Env = Record<string, string | undefined>;

export interface ServiceEnv {
  port: number;
  /** Bind address: all interfaces in a container. */
  host: string;
  version: string;
  /** In a pod, HOSTNAME is the pod name. */
  podName: string;
}

export function readPort(env: Env, defaultPort: number): number {
  const raw = env.PORT?.trim();
  if (raw === undefined || raw === "") return defaultPort;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    throw new Error(`PORT must be an integer from 0 to 65535 (0 = any free port), got ${JSON.stringify(env.PORT)}`);
  }
  return port;
}

export function readServiceEnv(env: Env, defaultPort: number): ServiceEnv {
  return {
    port: readPort(env, defaultPort),
    host: env.BIND_ADDRESS?.trim() || "0.0.0.0",
    version: env.VERSION?.trim() || "unknown",
    podName: env.HOSTNAME?.trim() || os.hostname(),
  };
}
