import { MIRROR_MARKER_HEADER } from "../../workloads/shared/mirror.ts";
import { MOVIES, moviesFor, moviesReply, startMoviesServer, V2_CHANGES } from "../../workloads/movies/src/server.ts";
import {
  ISO_TIME,
  expectDrainOnSigterm,
  killIfRunning,
  logFields,
  rawConnection,
  request,
  requestLines,
  startServiceProcess,
  type ServiceProcess,
} from "./service-process.ts";

const MAIN = "workloads/movies/src/main.ts";

describe("moviesReply (pure)", () => {
  it("answers GET / with every movie tagged with the serving version", () => {
    const reply = moviesReply({ method: "GET", path: "/" }, "v1");
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe("application/json; charset=utf-8");
    const movies = JSON.parse(reply.body) as unknown[];
    expect(movies).toEqual(MOVIES.map((movie) => ({ ...movie, version: "v1" })));
    expect(movies.length).toBeGreaterThanOrEqual(3);
  });

  it("v2 differs from v1 on purpose: a rating on every movie and one changed year", () => {
    const v1 = JSON.parse(moviesReply({ method: "GET", path: "/" }, "v1").body) as Array<Record<string, unknown>>;
    const v2 = JSON.parse(moviesReply({ method: "GET", path: "/" }, "v2").body) as Array<Record<string, unknown>>;
    expect(v2).toEqual(moviesFor("v2"));
    expect(v2).toHaveLength(v1.length);
    v2.forEach((movie, i) => {
      const { rating, version, ...rest } = movie;
      expect(typeof rating).toBe("number");
      expect(version).toBe("v2");
      const changedYear = movie.id === V2_CHANGES.year.id;
      expect(rest).toEqual({ ...v1[i], version: undefined, year: changedYear ? V2_CHANGES.year.to : v1[i].year });
      if (changedYear) expect(v1[i].year).toBe(V2_CHANGES.year.from);
    });
    expect(v1.every((movie) => !("rating" in movie))).toBe(true);
  });

  it("is 404 elsewhere and 405 for other methods", () => {
    expect(moviesReply({ method: "GET", path: "/movies" }, "v1").status).toBe(404);
    expect(moviesReply({ method: "PUT", path: "/" }, "v1").status).toBe(405);
  });
});

describe("startMoviesServer (in process)", () => {
  it("serves JSON and logs to the given sink", async () => {
    const lines: string[] = [];
    const server = await startMoviesServer({
      port: 0,
      version: "v1",
      log: (line) => lines.push(line),
      now: () => new Date("2026-11-23T13:00:00.000Z"),
    });
    try {
      const answer = await request(server.url, "/", { headers: { host: "movies", [MIRROR_MARKER_HEADER]: "true" } });
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(JSON.parse(answer.body)).toEqual(MOVIES.map((movie) => ({ ...movie, version: "v1" })));
      expect(lines).toEqual(["2026-11-23T13:00:00.000Z method=GET path=/ host=movies version=v1 mirrored=true status=200"]);
    } finally {
      await server.close();
    }
  });
});

describe("movies as a real process", () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startServiceProcess(MAIN, { VERSION: "v2" });
  });
  afterAll(() => killIfRunning(service));

  async function callAndReadLog(requestPath: string, headers: Record<string, string>) {
    const answer = await request(service.url, requestPath, { headers });
    const line = await service.waitForLine((l) => l.includes(` host=${headers.host} `));
    return { answer, line };
  }

  it("answers GET / with the movies as JSON, each with its version, and logs the request", async () => {
    const { answer, line } = await callAndReadLog("/", { host: "movies.example.com" });
    expect(answer.status).toBe(200);
    const movies = JSON.parse(answer.body) as Array<{ id: number; title: string; year: number; version: string }>;
    expect(movies.length).toBeGreaterThanOrEqual(3);
    for (const movie of movies) {
      expect(movie).toEqual({ id: expect.any(Number), title: expect.any(String), year: expect.any(Number), version: "v2", rating: expect.any(Number) });
    }
    expect(line).toMatch(ISO_TIME);
    expect(line.replace(ISO_TIME, "")).toBe("method=GET path=/ host=movies.example.com version=v2 mirrored=false status=200");
  });

  it.each([
    ["a Host ending in -shadow", { host: "movies.example.com-shadow" }, "true"],
    ["a -shadow Host with a port", { host: "movies-shadow:3000" }, "true"],
    ["the mirror marker header", { host: "marked.example.com", [MIRROR_MARKER_HEADER]: "true" }, "true"],
    ["a plain Host with a port", { host: "movies:3000" }, "false"],
  ])("logs mirrored for %s", async (_case, headers, mirrored) => {
    const { answer, line } = await callAndReadLog("/", headers);
    expect(answer.status).toBe(200);
    expect(logFields(line)).toMatchObject({ path: "/", host: headers.host, version: "v2", mirrored });
  });

  it("answers unknown paths with a logged 404", async () => {
    const { answer, line } = await callAndReadLog("/movies/42", { host: "missing.example.com" });
    expect(answer).toMatchObject({ status: 404, body: "not found: /movies/42\n" });
    expect(logFields(line)).toMatchObject({ path: "/movies/42", status: "404" });
  });

  it("answers /healthz without logging it", async () => {
    expect((await request(service.url, "/healthz", { headers: { host: "probe.example.com" } })).status).toBe(200);
    await callAndReadLog("/", { host: "after-probe.example.com" });
    expect(service.lines.filter((l) => l.includes("/healthz") || l.includes(" host=probe.example.com "))).toEqual([]);
  });

  it("survives socket garbage and keeps serving", async () => {
    const connection = await rawConnection(service.port);
    connection.socket.write("\u0016\u0003\u0001 a TLS hello on a plain port\r\n\r\n");
    expect(await connection.closed).toMatch(/^HTTP\/1\.1 400 /);
    expect((await request(service.url, "/")).status).toBe(200);
  });
});

describe("movies shutdown", () => {
  let service: ServiceProcess | undefined;
  afterEach(() => killIfRunning(service));

  it("on SIGTERM stops accepting, finishes the in-flight request, and exits 0", async () => {
    service = await startServiceProcess(MAIN, { VERSION: "v1" });
    const { response, exit } = await expectDrainOnSigterm(service, "/");
    expect(response).toMatch(/HTTP\/1\.1 200 OK\r\n/);
    expect(response.toLowerCase()).toContain("connection: close");
    const body = response.slice(response.lastIndexOf("\r\n\r\n") + 4);
    expect((JSON.parse(body) as Array<{ version: string }>).every((movie) => movie.version === "v1")).toBe(true);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(requestLines(service.lines)).toHaveLength(1);
  });

  it("exits 0 on SIGINT", async () => {
    service = await startServiceProcess(MAIN, { VERSION: "v1" });
    service.child.kill("SIGINT");
    expect(await service.exited).toEqual({ code: 0, signal: null });
  });
});
