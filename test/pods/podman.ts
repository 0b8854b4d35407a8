// The podman CLI, as the pod-level tests call it.
import { execFile, execFileSync } from "node:child_process";

export interface PodmanResult {
  stdout: string;
  stderr: string;
}

/** Runs `podman ARGS`; rejects with the command and its stderr when it exits non-zero. */
export function podman(args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<PodmanResult> {
  return new Promise((resolve, reject) => {
    const child = execFile("podman", args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`podman ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
      else resolve({ stdout, stderr });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Like podman(), but never rejects: for clean-up. */
export async function podmanQuiet(args: string[]): Promise<void> {
  await podman(args, { timeoutMs: 60_000 }).catch(() => undefined);
}

/** Why podman cannot run pods here, or undefined when it can. */
export function podmanUnavailable(): string | undefined {
  try {
    execFileSync("podman", ["info", "--format", "{{.Host.OCIRuntime.Name}}"], { stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? "").trim().split("\n").at(-1);
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "podman is not installed (scripts/pods/setup.sh installs it)" : `podman info fails: ${stderr}`;
  }
  try {
    execFileSync("podman", ["image", "exists", "docker.io/library/node:24-alpine"], { stdio: "ignore", timeout: 30_000 });
  } catch {
    return "the node:24-alpine stand-in image is missing (run scripts/pods/setup.sh)";
  }
  return undefined;
}
