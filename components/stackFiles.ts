// Reads a stack's config the way the Pulumi CLI would hand it to the program:
// the defaults declared in Pulumi.yaml, overlaid with Pulumi.<stack>.yaml.
// Used where no Pulumi CLI runs (the local stack, its tests).
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { parseStackConfig, PROJECT, RawStackConfig, StackConfig } from "./config";

export interface LocalStackConfig {
  config: StackConfig;
  /** The files read, for messages. */
  files: string[];
}

/** `traffic-mirroring:mirrorPercent` → `mirrorPercent`; other projects' keys are dropped. */
function projectKeys(values: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values ?? {})
      .filter(([key]) => key.startsWith(`${PROJECT}:`))
      .map(([key, value]) => [key.slice(PROJECT.length + 1), value]),
  );
}

/**
 * The validated config of `stack` in `projectDir`, with `overrides` (plain
 * keys, as `pulumi config set` would store them) applied last.
 */
export function loadStackConfig(
  projectDir: string,
  stack = "dev",
  overrides: Record<string, unknown> = {},
): LocalStackConfig {
  const projectFile = path.join(projectDir, "Pulumi.yaml");
  const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
  const project = parse(readFileSync(projectFile, "utf8")) ?? {};
  const defaults = Object.fromEntries(
    Object.entries<{ default?: unknown }>(project.config ?? {}).map(([key, declaration]) => [key, declaration?.default]),
  );
  const files = [projectFile];
  let stackValues: Record<string, unknown> = {};
  if (existsSync(stackFile)) {
    stackValues = projectKeys(parse(readFileSync(stackFile, "utf8"))?.config);
    files.push(stackFile);
  }
  const merged = { ...defaults, ...stackValues, ...overrides };
  // Pulumi hands the program strings for top-level keys, and "" means unset.
  const raw = Object.fromEntries(
    Object.entries(merged).filter(([, value]) => value !== "" && value !== undefined && value !== null),
  ) as RawStackConfig;
  return { config: parseStackConfig(raw), files };
}
