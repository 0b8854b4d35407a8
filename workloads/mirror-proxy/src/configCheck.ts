/**
 * Config text -> validated config, checked in a short-lived child process (configChecker.ts).
 * Why a process: the YAML parser, zod and the proxy's schemas take ~7 MB of heap that the
 * serving process would otherwise hold for its whole life, for a check that runs at start
 * and on reload; a worker thread does not give it back (its heap pages stay resident after
 * it ends). The child lives ~0.2 s and peaks at ~70 MB of its own. The answer is plain data
 * (JSON); problems come back as a ConfigError, as from parseMirrorProxyConfig itself.
 */
import { spawn } from "node:child_process";
import { realpathSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import type { MirrorProxyConfig } from "./config.ts";
import { ConfigError, type ConfigProblem } from "./proxyConfig.ts";

export type ConfigCheckResult = { config: MirrorProxyConfig } | { problems: ConfigProblem[] } | { error: string };

/** A check that takes longer than this is killed (it parses one file: it never should). */
export const CHECK_TIMEOUT_MS = 30000;

/**
 * configChecker beside the entry point (main.ts, or main.js in the image): a CommonJS build
 * has no import.meta, and type-stripped ES modules no __filename, but both run from the
 * entry's folder.
 */
export function checkerBeside(entry: string): string {
  const real = realpathSync(entry);
  return join(dirname(real), `configChecker${extname(real)}`);
}

// A debugger or profiler of this process must not follow it into the checker: a second
// inspector on the same port (or one waiting for a debugger: --inspect-brk), a CPU or heap
// profile written beside this one's. Flags that take their value as the next argument too.
const NOT_INHERITED = /^--(inspect|debug|cpu-prof|heap-prof|prof$|diagnostic-dir)/;
const VALUE_NEXT = new Set(["--cpu-prof-dir", "--cpu-prof-name", "--cpu-prof-interval", "--heap-prof-dir", "--heap-prof-name", "--heap-prof-interval", "--diagnostic-dir", "--inspect-port", "--debug-port"]);

/** This process's node flags as the checker gets them: V8 and module flags kept, debuggers and profilers dropped. */
export function checkerFlags(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i];
    if (!NOT_INHERITED.test(a)) out.push(a);
    else if (VALUE_NEXT.has(a)) i++;
  }
  return out;
}

/**
 * Checks `text` in a child running `checkerFile` with this process's node flags (checkerFlags);
 * resolves the config, rejects with a ConfigError naming every problem, or an Error when the
 * check itself failed (the checker's stderr in the message).
 */
export function checkConfig(text: string, checkerFile: string, timeoutMs = CHECK_TIMEOUT_MS): Promise<MirrorProxyConfig> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...checkerFlags(process.execArgv), checkerFile], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => {
      if (err.length < 8192) err += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const failed = (why: string) => reject(new Error(`config check (${checkerFile}) ${why}${err.trim() ? `:\n${err.trim()}` : ""}`));
    child.once("error", (e) => {
      clearTimeout(timer);
      failed(`could not start: ${e.message}`);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return failed(signal === "SIGKILL" ? `took over ${timeoutMs} ms` : `exited with ${signal ?? `code ${code}`}`);
      let r: ConfigCheckResult;
      try {
        r = JSON.parse(Buffer.concat(out).toString("utf8")) as ConfigCheckResult;
      } catch {
        return failed("answered no JSON");
      }
      if ("config" in r) resolve(r.config);
      else if ("problems" in r) reject(new ConfigError(r.problems));
      else reject(new Error(r.error));
    });
    child.stdin.on("error", () => undefined); // a checker that died early: its exit is the error
    child.stdin.end(text);
  });
}
