// movies: a small JSON API whose every item names the version that served it,
// so v1's and v2's answers (and logs) can be told apart.
import type { LogSink } from "../../shared/log.ts";
import {
  isReadMethod,
  jsonReply,
  methodNotAllowed,
  notFound,
  startService,
  type Reply,
  type RequestInfo,
  type RunningServer,
} from "../../shared/http-service.ts";

export const DEFAULT_MOVIES_PORT = 3000;

export interface Movie {
  id: number;
  title: string;
  year: number;
}

export const MOVIES: readonly Movie[] = [
  { id: 1, title: "Metropolis", year: 1927 },
  { id: 2, title: "2001: A Space Odyssey", year: 1968 },
  { id: 3, title: "Blade Runner", year: 1982 },
  { id: 4, title: "The Matrix", year: 1999 },
];

export type VersionedMovie = Movie & { version: string };

export function moviesFor(version: string): VersionedMovie[] {
  return MOVIES.map((movie) => ({ ...movie, version }));
}

/** `GET /` -> the movies as a JSON array, each with the serving version. */
export function moviesReply(request: RequestInfo, version: string): Reply {
  if (request.path !== "/") return notFound(request.path);
  if (!isReadMethod(request.method)) return methodNotAllowed(["GET", "HEAD"]);
  return jsonReply(200, moviesFor(version));
}

export interface MoviesServerOptions {
  version: string;
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Bind address, default 127.0.0.1 (main.ts binds 0.0.0.0 in the container). */
  host?: string;
  /** Where request log lines go, default stdout. */
  log?: LogSink;
  now?: () => Date;
  shutdownGraceMs?: number;
}

export function startMoviesServer(options: MoviesServerOptions): Promise<RunningServer> {
  return startService({
    route: (request) => moviesReply(request, options.version),
    version: options.version,
    port: options.port ?? DEFAULT_MOVIES_PORT,
    host: options.host ?? "127.0.0.1",
    log: options.log,
    now: options.now,
    shutdownGraceMs: options.shutdownGraceMs,
  });
}
