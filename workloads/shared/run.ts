// What every workload's main.ts does: settings from env, start, announce, stop on signals.
import { formatLogLine, stdoutSink } from "./log.ts";
import { readServiceEnv, type Env, type ServiceEnv } from "./env.ts";
import type { RunningServer } from "./http-service.ts";
import { exitOnShutdownSignals } from "./shutdown.ts";

export type StartFromEnv = (settings: ServiceEnv) => Promise<RunningServer>;

export async function runService(app: string, defaultPort: number, start: StartFromEnv, env: Env = process.env): Promise<void> {
  try {
    const settings = readServiceEnv(env, defaultPort);
    const server = await start(settings);
    exitOnShutdownSignals(server, { log: stdoutSink });
    // Tests and people read the real port from this line (PORT=0 picks a free one).
    stdoutSink(formatLogLine(new Date(), { event: "listening", app, version: settings.version, pod: settings.podName, url: server.url }));
  } catch (error) {
    process.stderr.write(`${app}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
