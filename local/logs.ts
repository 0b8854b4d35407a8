// npm run logs -- [app] [--tail N] [--follow] [--kubernetes | --local] [--stack dev] [-n namespace]
import { runTool } from "./support/entry.ts";

runTool("logs", () => import("./lib/logs.ts"));
