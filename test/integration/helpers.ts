// Shared by the local and live integration tests: curl as users run it, the
// movies phase (N requests, then the v1/v2 counts), and the statistical bound.
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { binomialAcceptance } from "../../local/lib/stats.ts";

export const REPO_ROOT = path.resolve(__dirname, "../..");
export const CURL = "/usr/bin/curl";
/** A correct stack fails a share check with probability below this. */
export const FAILURE_PROBABILITY = 1e-6;

/** Runs one of the stack's exported curl commands through a shell, as a user pastes it. */
export function runCurl(command: string): Promise<{ body: string; status: number }> {
  if (!command.startsWith("curl ")) throw new Error(`not a curl command: ${command}`);
  // -S: say why when it fails (-s alone is silent); -w: the status after the body.
  const withStatus = `${CURL}${command.slice("curl".length)} -S -w '\\n%{http_code}'`;
  return new Promise((resolve, reject) => {
    execFile("/bin/sh", ["-c", withStatus], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${withStatus} failed: ${error.message}\n${stderr}`));
      const end = stdout.lastIndexOf("\n");
      resolve({ body: stdout.slice(0, end), status: Number(stdout.slice(end + 1)) });
    });
  });
}

/** A project folder like the repo's, whose stack file the test can rewrite (as `pulumi config set` does). */
export function temporaryProject(stack: string, config: Record<string, string>): { dir: string; setConfig(values: Record<string, string>): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mirror-itest-"));
  copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  let current = { ...config };
  const write = () =>
    writeFileSync(
      path.join(dir, `Pulumi.${stack}.yaml`),
      "config:\n" + Object.entries(current).map(([key, value]) => `  traffic-mirroring:${key}: ${JSON.stringify(value)}\n`).join(""),
    );
  write();
  return {
    dir,
    setConfig(values) {
      current = { ...current, ...values };
      write();
    },
  };
}

/** The range of v2 copies that N requests at `percent` must land in (exact binomial tails). */
export function expectedCopies(requests: number, percent: number): { low: number; high: number } {
  return binomialAcceptance(requests, percent, FAILURE_PROBABILITY);
}
