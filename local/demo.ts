// npm run demo -- [--stack dev] [--set key=value ...] [--once] [--port N] [--requests N]
// The Pulumi program's modules are loaded through a hook (see support/component-loader.ts),
// registered before anything imports them.
import * as path from "node:path";
import { registerComponentLoader } from "./support/component-loader.ts";

registerComponentLoader();
const projectDir = path.resolve(path.dirname(path.resolve(process.argv[1])), "..");
import("./lib/demo.ts")
  .then(({ main }) => main(process.argv.slice(2), projectDir))
  .then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`npm run demo: ${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
