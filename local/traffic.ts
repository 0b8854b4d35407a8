// npm run traffic -- --app movies --count 50 [--cookie user=test] [--url URL] [--concurrency N]
// The Pulumi program's modules are loaded through a hook (see support/component-loader.ts),
// registered before anything imports them.
import * as path from "node:path";
import { registerComponentLoader } from "./support/component-loader.ts";

registerComponentLoader();
const projectDir = path.resolve(path.dirname(path.resolve(process.argv[1])), "..");
import("./lib/trafficCli.ts")
  .then(({ main }) => main(process.argv.slice(2), projectDir))
  .then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`npm run traffic: ${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
