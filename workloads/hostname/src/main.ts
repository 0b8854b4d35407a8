// Container entry point. Env: PORT (default 8080), VERSION, HOSTNAME (the pod name), BIND_ADDRESS (default 0.0.0.0).
import { runService } from "../../shared/run.ts";
import { DEFAULT_HOSTNAME_PORT, startHostnameServer } from "./server.ts";

void runService("hostname", DEFAULT_HOSTNAME_PORT, (settings) => startHostnameServer(settings));
