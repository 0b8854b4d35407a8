// npm run demo -- [--stack dev] [--set key=value ...] [--once] [--port N] [--requests N]
import { runTool } from "./support/entry.ts";

runTool("demo", () => import("./lib/demo.ts"));
