/**
 * The config check as its own process (configCheck.ts starts it): reads the config text on
 * stdin, parses and validates it with config.ts (yaml and zod), and writes the plain config,
 * or the problems, as one JSON document on stdout. Exit 0 either way: a rejected config is
 * an answer, not a failure of the check.
 */
import type { ConfigCheckResult } from "./configCheck.ts";
import { ConfigError, parseMirrorProxyConfig } from "./config.ts";

function check(text: string): ConfigCheckResult {
  try {
    return { config: parseMirrorProxyConfig(text) };
  } catch (e) {
    return e instanceof ConfigError ? { problems: e.problems } : { error: (e as Error).message };
  }
}

const chunks: Buffer[] = [];
process.stdin.on("data", (c: Buffer) => chunks.push(c));
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(check(Buffer.concat(chunks).toString("utf8"))));
});
