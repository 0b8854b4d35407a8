// The Pulumi program's modules (components/*.ts) are CommonJS TypeScript with
// extensionless imports and type-only names in plain imports: Node's own type
// stripping cannot run them. These hooks let the local tools import them
// unchanged: extensionless relative imports from a .ts file find the .ts
// sibling, and those files are transpiled to CommonJS by TypeScript (as
// ts-jest and Pulumi do). Register before importing anything from components/.
import { existsSync, readFileSync } from "node:fs";
import { createRequire, registerHooks } from "node:module";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The project folder (Pulumi.yaml, components/, local/): what the local tools take as projectDir. */
export const PROJECT_ROOT = findProjectRoot();
const COMPONENTS_DIR = path.join(PROJECT_ROOT, "components") + path.sep;

/** The folder holding Pulumi.yaml and components/, above the entry script or the working directory. */
function findProjectRoot(): string {
  const starts = [path.dirname(path.resolve(process.argv[1] ?? ".")), process.cwd()];
  for (const start of starts) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (existsSync(path.join(dir, "Pulumi.yaml")) && existsSync(path.join(dir, "components"))) return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error(`cannot find the project (a folder with Pulumi.yaml and components/) above ${starts.join(" or ")}`);
}

type TypeScriptModule = typeof import("typescript");
let typescript: TypeScriptModule | undefined;

function transpileToCommonJs(source: string, fileName: string): string {
  typescript ??= createRequire(path.join(PROJECT_ROOT, "package.json"))("typescript") as TypeScriptModule;
  return typescript.transpileModule(source, {
    fileName,
    compilerOptions: {
      module: typescript.ModuleKind.CommonJS,
      target: typescript.ScriptTarget.ES2022,
      esModuleInterop: true,
      sourceMap: false,
      inlineSourceMap: true,
    },
  }).outputText;
}

let registered = false;

export function registerComponentLoader(): void {
  if (registered) return;
  registered = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const parent = context.parentURL?.startsWith("file:") ? fileURLToPath(context.parentURL) : undefined;
      if (parent?.startsWith(COMPONENTS_DIR) && /^\.\.?\//.test(specifier) && path.extname(specifier) === "") {
        const candidate = path.resolve(path.dirname(parent), `${specifier}.ts`);
        if (existsSync(candidate)) return { url: pathToFileURL(candidate).href, shortCircuit: true };
      }
      return nextResolve(specifier, context);
    },
    load(url, context, nextLoad) {
      if (url.startsWith("file:") && url.endsWith(".ts")) {
        const file = fileURLToPath(url);
        if (file.startsWith(COMPONENTS_DIR)) {
          return { format: "commonjs", source: transpileToCommonJs(readFileSync(file, "utf8"), file), shortCircuit: true };
        }
      }
      return nextLoad(url, context);
    },
  });
}
