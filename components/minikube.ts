// The few facts the program asks of the user's minikube. Side effects live
// here; the parsing is pure and tested on its own.
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "node:child_process";

/** The minikube binary; MINIKUBE_BIN lets tests (or a user) name another. */
function minikubeBin(env: NodeJS.ProcessEnv): string {
  return env.MINIKUBE_BIN || "minikube";
}

function runMinikube(args: string[], env: NodeJS.ProcessEnv): string | undefined {
  try {
    return execFileSync(minikubeBin(env), args, { encoding: "utf8", timeout: 15_000, stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
}

/** `minikube ip`, or undefined when minikube is absent or stopped. */
export function minikubeIp(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const out = runMinikube(["ip"], env)?.trim();
  return out && /^[0-9a-fA-F.:]+$/.test(out) ? out : undefined;
}

export interface DockerEndpoint {
  /** e.g. tcp://192.168.49.2:2376 */
  host: string;
  /** Folder holding ca.pem, cert.pem, key.pem when TLS is on. */
  certPath?: string;
}

/** Reads DOCKER_HOST / DOCKER_CERT_PATH / DOCKER_TLS_VERIFY from KEY=VALUE pairs. */
export function dockerEndpointFromVars(vars: Record<string, string | undefined>): DockerEndpoint | undefined {
  if (!vars.DOCKER_HOST) return undefined;
  const tls = vars.DOCKER_TLS_VERIFY === "1" && vars.DOCKER_CERT_PATH;
  return { host: vars.DOCKER_HOST, ...(tls ? { certPath: vars.DOCKER_CERT_PATH } : {}) };
}

/** Parses `minikube docker-env --shell none` (KEY=VALUE lines). */
export function parseEnvLines(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)="?([^"]*)"?\s*$/.exec(line);
    if (match) vars[match[1]] = match[2];
  }
  return vars;
}

/** Why the endpoint was chosen, when the user should know (a DOCKER_HOST not confirmed as minikube's). */
export type EndpointWarning = (message: string) => void;

/**
 * Where to build images: minikube's Docker daemon. The shell's DOCKER_HOST is taken as is when
 * `eval $(minikube docker-env)` set it (MINIKUBE_ACTIVE_DOCKERD marks that); any other
 * DOCKER_HOST (Docker Desktop's, a remote one) is checked against `minikube docker-env`: when
 * minikube names another daemon, minikube's is used, and when minikube cannot be asked, the
 * shell's is used; either way with a warning, never silently (images built into a daemon the
 * cluster does not read never start: ErrImageNeverPull). Undefined when there is neither.
 */
export function minikubeDockerEndpoint(env: NodeJS.ProcessEnv = process.env, warn: EndpointWarning = defaultWarn): DockerEndpoint | undefined {
  const fromShell = dockerEndpointFromVars(env);
  if (fromShell && env.MINIKUBE_ACTIVE_DOCKERD) return fromShell;
  const out = runMinikube(["docker-env", "--shell", "none"], env);
  const fromMinikube = out ? dockerEndpointFromVars(parseEnvLines(out)) : undefined;
  if (!fromShell) return fromMinikube;
  if (!fromMinikube) {
    warn(
      `DOCKER_HOST=${fromShell.host} is not minikube's (no MINIKUBE_ACTIVE_DOCKERD, and minikube docker-env did not answer): ` +
        "building the images there; the cluster must be able to read that daemon's images (else: eval $(minikube docker-env))",
    );
    return fromShell;
  }
  if (fromMinikube.host !== fromShell.host) {
    warn(`DOCKER_HOST=${fromShell.host} is not minikube's Docker (minikube docker-env: ${fromMinikube.host}): building the images into minikube's`);
  }
  return fromMinikube;
}

function defaultWarn(message: string): void {
  pulumi.log.warn(message);
}
