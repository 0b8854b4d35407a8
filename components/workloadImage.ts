import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";

export interface WorkloadImageArgs {
  /** Workload folder name under the build context, e.g. `hostname` or `mirror-proxy`. */
  workload: string;
  /** Docker build context: the `workloads/` folder (workloads share `shared/`). */
  contextDir: string;
  /** Provider talking to minikube's Docker daemon. */
  provider: docker.Provider;
}

const IGNORED = new Set(["node_modules", "dist", ".DS_Store"]);

/** Files of a folder, recursively, sorted, skipping build output. */
function listFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((entry) => !IGNORED.has(entry))
    .sort()
    .flatMap((entry) => {
      const full = path.join(dir, entry);
      return statSync(full).isDirectory() ? listFiles(full) : [full];
    });
}

/** The files an image of `workload` is built from (its folder, shared code, build config). */
export function imageInputs(contextDir: string, workload: string): string[] {
  const roots = [workload, "shared", "tsconfig.build.json", ".dockerignore"]
    .map((entry) => path.join(contextDir, entry))
    .filter((full) => existsSync(full));
  return roots.flatMap((full) => (statSync(full).isDirectory() ? listFiles(full) : [full]));
}

/** A tag derived from the build inputs: any change to them rolls the pods. */
export function contentTag(contextDir: string, files: string[]): string {
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(path.relative(contextDir, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 12);
}

/**
 * A workload image built into minikube's Docker daemon (no registry, no push),
 * tagged by content so `imagePullPolicy: IfNotPresent` still picks up changes.
 */
export class WorkloadImage extends pulumi.ComponentResource {
  readonly imageRef: pulumi.Output<string>;

  constructor(name: string, args: WorkloadImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("traffic-mirroring:images:WorkloadImage", name, {}, opts);

    const tag = contentTag(args.contextDir, imageInputs(args.contextDir, args.workload));
    const image = new docker.Image(
      name,
      {
        imageName: `traffic-mirroring/${args.workload}:${tag}`,
        build: {
          context: args.contextDir,
          dockerfile: path.join(args.contextDir, args.workload, "Dockerfile"),
        },
        skipPush: true,
      },
      { parent: this, provider: args.provider },
    );

    this.imageRef = image.imageName;
    this.registerOutputs({ imageRef: this.imageRef });
  }
}
