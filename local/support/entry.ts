// Shared start of the local tools: the Pulumi program's modules are loaded
// through a hook (see component-loader.ts), registered before anything
// imports them; then the tool's main runs and its exit code is the process's.
// A UsageError from the tool's flag parsing (usage.ts loads nothing from
// components/) is printed here, for every tool alike.
import { UsageError } from "../lib/usage.ts";
import { PROJECT_ROOT, registerComponentLoader } from "./component-loader.ts";

type ToolModule = { main(argv: string[], projectDir: string): Promise<number> };

export function runTool(name: string, load: () => Promise<ToolModule>): void {
  registerComponentLoader();
  load()
    .then(({ main }) => main(process.argv.slice(2), PROJECT_ROOT))
    .catch((error: unknown) => {
      if (!(error instanceof UsageError)) throw error;
      if (error.message) process.stderr.write(error.message + "\n");
      return error.exitCode;
    })
    .then(
      (code) => process.exit(code),
      (error: Error) => {
        process.stderr.write(`npm run ${name}: ${error.stack ?? error.message}\n`);
        process.exit(1);
      },
    );
}
