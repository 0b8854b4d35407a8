// Where the images are built: minikube's Docker. A DOCKER_HOST that `minikube docker-env`
// did not set is checked against what minikube says (a stand-in minikube binary here),
// and never used silently.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { minikubeDockerEndpoint } from "../../components/minikube";

const dir = mkdtempSync(path.join(tmpdir(), "fake-minikube-"));
/** A minikube whose `docker-env --shell none` prints what a running minikube prints. */
const minikube = path.join(dir, "minikube");
writeFileSync(
  minikube,
  `#!/bin/sh
[ "$1 $2 $3" = "docker-env --shell none" ] || exit 64
printf 'DOCKER_TLS_VERIFY="1"\\nDOCKER_HOST="tcp://192.168.49.2:2376"\\nDOCKER_CERT_PATH="/home/me/.minikube/certs"\\nMINIKUBE_ACTIVE_DOCKERD="minikube"\\n'
`,
);
chmodSync(minikube, 0o755);
const MINIKUBES = { host: "tcp://192.168.49.2:2376", certPath: "/home/me/.minikube/certs" };

function endpoint(env: Record<string, string>) {
  const warnings: string[] = [];
  return { endpoint: minikubeDockerEndpoint(env, (message) => warnings.push(message)), warnings };
}

test("the shell's DOCKER_HOST from `eval $(minikube docker-env)` is taken as is, minikube not asked", () => {
  const env = { DOCKER_HOST: "tcp://10.0.0.5:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/c", MINIKUBE_ACTIVE_DOCKERD: "minikube", MINIKUBE_BIN: "/nonexistent" };
  expect(endpoint(env)).toEqual({ endpoint: { host: "tcp://10.0.0.5:2376", certPath: "/c" }, warnings: [] });
});

test("no DOCKER_HOST: what minikube docker-env says", () => {
  expect(endpoint({ MINIKUBE_BIN: minikube })).toEqual({ endpoint: MINIKUBES, warnings: [] });
});

test("a stray DOCKER_HOST (e.g. Docker Desktop's) is not minikube's: minikube's is used, with a warning naming both", () => {
  expect(endpoint({ DOCKER_HOST: "unix:///var/run/docker.sock", MINIKUBE_BIN: minikube })).toEqual({
    endpoint: MINIKUBES,
    warnings: ["DOCKER_HOST=unix:///var/run/docker.sock is not minikube's Docker (minikube docker-env: tcp://192.168.49.2:2376): building the images into minikube's"],
  });
});

test("a DOCKER_HOST equal to minikube's, set by hand: used, no warning", () => {
  expect(endpoint({ DOCKER_HOST: "tcp://192.168.49.2:2376", MINIKUBE_BIN: minikube }).warnings).toEqual([]);
});

test("a DOCKER_HOST minikube cannot confirm (minikube absent): used, with a warning", () => {
  const { endpoint: chosen, warnings } = endpoint({ DOCKER_HOST: "tcp://build-host:2376", MINIKUBE_BIN: "/nonexistent/minikube" });
  expect(chosen).toEqual({ host: "tcp://build-host:2376" });
  expect(warnings).toEqual([expect.stringMatching(/^DOCKER_HOST=tcp:\/\/build-host:2376 is not minikube's \(no MINIKUBE_ACTIVE_DOCKERD, and minikube docker-env did not answer\)/)]);
});
