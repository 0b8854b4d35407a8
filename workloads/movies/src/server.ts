// movies: a small JSON API whose every item names the version that served it,
// so v1's and v2's answers (and logs) can be told apart. v2 also differs on purpose
// (V2_CHANGES), so that comparing its answers with v1's (the mirror proxy's `compare`)
// has something to find.
import {
  isReadMethod,
  jsonReply,
  methodNotAllowed,
  notFound,
  startAppService,
  type AppServerOptions,
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

export type VersionedMovie = Movie & { version: string; rating?: number };

/**
 * What v2 changes, the kind of thing a dark launch should catch: a new field (`rating`,
 * on every movie) and one changed value (The Matrix's year: an off-by-one in v2).
 */
export const V2_CHANGES = {
  ratings: { 1: 8.3, 2: 8.3, 3: 8.1, 4: 8.7 } as Readonly<Record<number, number>>,
  year: { id: 4, from: 1999, to: 2000 },
} as const;

export function moviesFor(version: string): VersionedMovie[] {
  if (version !== "v2") return MOVIES.map((movie) => ({ ...movie, version }));
  return MOVIES.map((movie) => ({
    ...movie,
    year: movie.id === V2_CHANGES.year.id ? V2_CHANGES.year.to : movie.year,
    version,
    rating: V2_CHANGES.ratings[movie.id],
  }));
}

/** `GET /` -> the movies as a JSON array, each with the serving version. */
export function moviesReply(request: RequestInfo, version: string): Reply {
  if (request.path !== "/") return notFound(request.path);
  if (!isReadMethod(request.method)) return methodNotAllowed(["GET", "HEAD"]);
  return jsonReply(200, moviesFor(version));
}

/** Port default DEFAULT_MOVIES_PORT (3000). */
export interface MoviesServerOptions extends AppServerOptions {
  version: string;
}

export function startMoviesServer(options: MoviesServerOptions): Promise<RunningServer> {
  return startAppService((request) => moviesReply(request, options.version), options.version, DEFAULT_MOVIES_PORT, options);
}
