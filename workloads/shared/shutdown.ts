// Graceful stop for a container: Kubernetes sends SIGTERM, a terminal SIGINT.
import * as os from "node:os";
import { formatLogLine, type LogSink } from "./log.ts";

export const SHUTDOWN_SIGNALS = ["SIGTERM", "SIGINT"] as const;

export interface Closable {
  close(): Promise<void>;
}

export interface ShutdownOptions {
  log: LogSink;
  now?: () => Date;
  /** Called once the server is closed; the real process exits here. */
  exit?: (code: number) => void;
}

/**
 * First signal: stop accepting, let in-flight requests finish, exit 0.
 * A second signal while draining exits at once, with the shell's 128 + signal number.
 */
export function exitOnShutdownSignals(server: Closable, options: ShutdownOptions): void {
  const now = options.now ?? (() => new Date());
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let draining = false;

  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      options.log(formatLogLine(now(), { event: "forced-exit", signal }));
      exit(128 + os.constants.signals[signal]);
      return;
    }
    draining = true;
    const closed = server.close();
    // Logged once the listener is closed, so whoever reads it can rely on new connections being refused.
    options.log(formatLogLine(now(), { event: "shutdown", signal }));
    closed.then(
      () => {
        options.log(formatLogLine(now(), { event: "stopped" }));
        exit(0);
      },
      () => exit(1),
    );
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal);
}
