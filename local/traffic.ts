// npm run traffic -- --app movies --count 50 [--cookie user=test] [--url URL] [--concurrency N]
import { runTool } from "./support/entry.ts";

runTool("traffic", () => import("./lib/trafficCli.ts"));
