// npm run verdict -- [--admin URL]... [--kubernetes | --no-kubernetes] [--no-local] [--app NAME]
//                    [--max-diff 1%] [--min-compared 200] [--max-shadow-errors 0.5%] [--max-latency-delta 20ms] [--json]
import { runTool } from "./support/entry.ts";

runTool("verdict", () => import("./lib/verdict.ts"));
