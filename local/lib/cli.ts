// Flags of `npm run demo`, `npm run logs` and `npm run traffic`, parsed by
// commander into plain options. Pure: argv in, options out, or a UsageError
// naming the bad flag (help text goes through `write`).
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { APP_NAMES, type AppName } from "../../components/apps.ts";
import { UsageError } from "./usage.ts";

export { UsageError };

function integerAtLeast(min: number, what: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min) {
      throw new InvalidArgumentError(`${what} must be a whole number ≥ ${min}, got "${value}"`);
    }
    return parsed;
  };
}

/** `--set key=value` (repeatable) → `{ key: value }`, as `pulumi config set key value` stores it. */
export function collectSetting(value: string, previous: Record<string, string>): Record<string, string> {
  const equals = value.indexOf("=");
  if (equals <= 0) throw new InvalidArgumentError(`expected key=value (e.g. mirrorPercent=50), got "${value}"`);
  let key = value.slice(0, equals).trim();
  // Accept the namespaced form people copy from Pulumi.<stack>.yaml.
  if (key.startsWith("traffic-mirroring:")) key = key.slice("traffic-mirroring:".length);
  return { ...previous, [key]: value.slice(equals + 1) };
}

function appName(value: string): AppName {
  if (!(APP_NAMES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`unknown app "${value}"; the apps are ${APP_NAMES.join(", ")}`);
  }
  return value as AppName;
}

function cookie(value: string): string {
  if (!/^[^=;\s]+=[^;\s]*$/.test(value)) throw new InvalidArgumentError(`expected a cookie as name=value (e.g. user=test), got "${value}"`);
  return value;
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`not a URL: "${value}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError(`expected an http(s) URL, got "${value}"`);
  return value.replace(/\/+$/, "");
}

/** Runs commander on `args` (the user's flags, without node and the script). */
export function parseWith<T>(program: Command, args: readonly string[], write: (text: string) => void): T {
  program
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: write, outputError: () => undefined })
    .showHelpAfterError(false)
    .allowExcessArguments(false);
  try {
    program.parse([...args], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      const message = error.message.replace(/^error: /, "");
      throw new UsageError(error.exitCode === 0 ? "" : `${program.name()}: ${message} (see --help)`, error.exitCode === 0 ? 0 : 2);
    }
    throw error;
  }
  return { ...program.opts(), args: program.args } as T;
}

export interface DemoOptions {
  stack: string;
  set: Record<string, string>;
  once: boolean;
  port: number;
  requests: number;
}

export function parseDemoArgs(args: readonly string[], write: (text: string) => void = () => undefined): DemoOptions {
  const program = new Command("npm run demo --")
    .description("The local stack, no cluster: v1 and v2 of both demo apps and the mirror proxy on 127.0.0.1, routed by the stack's rendered config; replays the tutorials.")
    .option("--stack <name>", "stack whose Pulumi.<stack>.yaml to read", "dev")
    .option("--set <key=value>", "override a config key, like `pulumi config set` (repeatable), e.g. --set mirrorPercent=50", collectSetting, {})
    .option("--once", "replay the tutorials, then stop everything and exit", false)
    .option("--port <n>", "traffic port of the proxy (0 picks a free one)", integerAtLeast(0, "--port"), 0)
    .option("--requests <n>", "movies requests in the second tutorial", integerAtLeast(1, "--requests"), 50);
  const { args: _args, ...options } = parseWith<DemoOptions & { args: string[] }>(program, args, write);
  if (options.port > 65535) throw new UsageError(`npm run demo --: --port must be at most 65535, got ${options.port}`);
  return options;
}

export interface LogsOptions {
  apps: AppName[];
  tail: number;
  follow: boolean;
  kubernetes: boolean;
  local: boolean;
  stack: string;
  namespace?: string;
}

export function parseLogsArgs(args: readonly string[], write: (text: string) => void = () => undefined): LogsOptions {
  const program = new Command("npm run logs --")
    .description("The last lines of the v1 and v2 logs of an app (or both), from the local stack or the cluster's pods.")
    .argument("[app]", `one of ${APP_NAMES.join(", ")} (default: both)`)
    .option("--tail <n>", "lines per version", integerAtLeast(0, "--tail"), 3)
    .option("-f, --follow", "keep printing new lines, like kubectl logs -f", false)
    .addOption(new Option("--kubernetes", "read the pods' logs from the cluster in your kubeconfig").conflicts("local").default(false))
    .addOption(new Option("--local", "read the local stack's logs (npm run demo)").default(false))
    .option("--stack <name>", "stack whose namespace to read (Pulumi.<stack>.yaml)", "dev")
    .option("-n, --namespace <name>", "namespace of the pods (default: the stack's)");
  const parsed = parseWith<Omit<LogsOptions, "apps"> & { args: string[] }>(program, args, write);
  const apps = parsed.args[0] === undefined ? [...APP_NAMES] : [parseApp(parsed.args[0])];
  const { args: _args, ...rest } = parsed;
  return { ...rest, apps };
}

function parseApp(value: string): AppName {
  try {
    return appName(value);
  } catch (error) {
    throw new UsageError(`npm run logs --: ${(error as Error).message}`);
  }
}

export interface TrafficOptions {
  app: AppName;
  count: number;
  cookie?: string;
  url?: string;
  concurrency: number;
  timeout: number;
  stack: string;
  host?: string;
}

export function parseTrafficArgs(args: readonly string[], write: (text: string) => void = () => undefined): TrafficOptions {
  const program = new Command("npm run traffic --")
    .description("Send requests to the stack's URL the way the tutorials curl it, then summarise status codes and latency.")
    .requiredOption("--app <app>", `which app: ${APP_NAMES.join(", ")}`, appName)
    .option("--count <n>", "how many requests", integerAtLeast(1, "--count"), 50)
    .option("--cookie <name=value>", "send this cookie (e.g. user=test opts hostname requests into mirroring)", cookie)
    .option("--url <url>", "base URL (default: $INGRESS_URL, else `pulumi stack output ingressUrl`, else the local stack)", httpUrl)
    .option("--concurrency <n>", "requests in flight at once", integerAtLeast(1, "--concurrency"), 4)
    .option("--timeout <ms>", "per-request timeout", integerAtLeast(1, "--timeout"), 5000)
    .option("--host <host>", "Host header (default: the app's first configured host; none for `*`)")
    .option("--stack <name>", "stack to read hosts and `pulumi stack output` from", "dev");
  const options = parseWith<TrafficOptions & { args: string[] }>(program, args, write);
  const { args: _args, ...rest } = options;
  if (rest.concurrency > 64) throw new UsageError(`npm run traffic --: --concurrency must be at most 64, got ${rest.concurrency}`);
  if (rest.count > 100_000) throw new UsageError(`npm run traffic --: --count must be at most 100000, got ${rest.count}`);
  return rest;
}
