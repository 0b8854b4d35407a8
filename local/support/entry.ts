// Shared start of the local tools: the Pulumi program's modules are loaded
// through a hook (see component-loader.ts), registered before anything
// imports them; then the tool's main runs and its exit code is the process's.
import * as path from "node:path";
import { registerComponentLoader } from "./component-loader.ts";

type ToolModule = { main(argv: string[], projectDir: string): Promise<number> };

export function runTool(name: string, load: () => Promise<ToolModule>): void {
  registerComponentLoader();
  const projectDir = path.resolve(path.dirname(path.resolve(process.argv[1])), "..");
  load()
    .then(({ main }) => main(process.argv.slice(2), projectDir))
    .then(
      (code) => process.exit(code),
      (error: Error) => {
        process.stderr.write(`npm run ${name}: ${error.stack ?? error.message}\n`);
        process.exit(1);
      },
    );
}
