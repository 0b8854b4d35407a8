// Container entry point. Env: PORT (default 3000), VERSION, BIND_ADDRESS (default 0.0.0.0).
import { runService } from "../../shared/run.ts";
import { DEFAULT_MOVIES_PORT, startMoviesServer } from "./server.ts";

void runService("movies", DEFAULT_MOVIES_PORT, (settings) => startMoviesServer(settings));
