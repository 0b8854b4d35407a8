import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { MIRROR_MARKER_HEADER } from "../../workloads/shared/mirror.ts";
import { hostnameReply, startHostnameServer } from "../../workloads/hostname/src/server.ts";
import {
  ISO_TIME,
  NODE_24,
  REPO_ROOT,
  expectDrainOnSigterm,
  killIfRunning,
  logFields,
  rawConnection,
  request,
  requestLines,
  startServiceProcess,
  type ServiceProcess,
} from "./service-process.ts";

const MAIN = "workloads/hostname/src/main.ts";
const POD = "hostname-v1-abc123";

describe("hostnameReply (pure)", () => {
  const identity = { podName: POD, version: "v1" };

  it("answers GET /version/ with the pod name and version", () => {
    expect(hostnameReply({ method: "GET", path: "/version/" }, identity)).toEqual({
      status: 200,
      contentType: "text/plain; charset=utf-8",
      body: `${POD} v1\n`,
    });
    expect(hostnameReply({ method: "HEAD", path: "/version" }, identity).status).toBe(200);
  });

  it("is 404 elsewhere and 405 for other methods", () => {
    expect(hostnameReply({ method: "GET", path: "/" }, identity)).toMatchObject({ status: 404, body: "not found: /\n" });
    expect(hostnameReply({ method: "POST", path: "/version/" }, identity)).toMatchObject({
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  });
});

describe("startHostnameServer (in process)", () => {
  it("serves, logs one line per request to the given sink, and closes", async () => {
    const lines: string[] = [];
    const server = await startHostnameServer({
      port: 0,
      podName: "pod-x",
      version: "v2",
      log: (line) => lines.push(line),
      now: () => new Date("2026-11-23T13:00:00.000Z"),
    });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      const answer = await request(server.url, "/version/?debug=1", {
        headers: { host: "hostname.example.com-shadow:80" },
      });
      expect(answer).toMatchObject({ status: 200, body: "pod-x v2\n" });
      expect(answer.headers["content-type"]).toBe("text/plain; charset=utf-8");
      expect((await request(server.url, "/healthz")).status).toBe(200);
      expect(lines).toEqual([
        "2026-11-23T13:00:00.000Z method=GET path=/version/ host=hostname.example.com-shadow:80 version=v2 mirrored=true status=200",
      ]);
    } finally {
      await server.close();
    }
    await server.close(); // idempotent
    await expect(request(server.url, "/version/")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("cuts a request still in flight once the shutdown grace period is over", async () => {
    const server = await startHostnameServer({ port: 0, podName: "p", version: "v1", log: () => {}, shutdownGraceMs: 50 });
    const connection = await rawConnection(server.port);
    connection.socket.write("GET /version/ HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    await connection.waitFor("100 Continue");
    await server.close();
    expect(await connection.closed).toBe("HTTP/1.1 100 Continue\r\n\r\n");
  });

  it("rejects when the port is taken", async () => {
    const first = await startHostnameServer({ port: 0, podName: "a", version: "v1", log: () => {} });
    try {
      await expect(startHostnameServer({ port: first.port, podName: "b", version: "v1", log: () => {} })).rejects.toThrow(
        /EADDRINUSE/,
      );
    } finally {
      await first.close();
    }
  });
});

describe("hostname as a real process", () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startServiceProcess(MAIN, { VERSION: "v1", HOSTNAME: POD });
  });
  afterAll(() => killIfRunning(service));

  /** Calls the service and waits for its log line, found by its (unique per test) Host and path. */
  async function callAndReadLog(requestPath: string, headers: Record<string, string>) {
    const answer = await request(service.url, requestPath, { headers });
    const host = headers.host;
    const line = await service.waitForLine((l) => l.includes(` host=${host} `) && l.includes(` path=${requestPath.split("?")[0]} `));
    return { answer, line };
  }

  it("answers GET /version/ with its pod name and version, and logs the request", async () => {
    const { answer, line } = await callAndReadLog("/version/", { host: "hostname.example.com" });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(`${POD} v1\n`);
    expect(line).toMatch(ISO_TIME);
    expect(line.replace(ISO_TIME, "")).toBe(
      "method=GET path=/version/ host=hostname.example.com version=v1 mirrored=false status=200",
    );
  });

  it.each([
    ["a Host ending in -shadow", { host: "hostname.example.com-shadow" }, "true"],
    ["a -shadow Host with a port", { host: "shadow-port.example.com-shadow:80" }, "true"],
    ["the mirror marker header", { host: "marker.example.com", [MIRROR_MARKER_HEADER]: "true" }, "true"],
    ["the marker header set to false", { host: "marker-false.example.com", [MIRROR_MARKER_HEADER]: "false" }, "false"],
    ["a plain Host", { host: "plain.example.com:8080" }, "false"],
  ])("logs mirrored=%s for %s", async (_case, headers, mirrored) => {
    const { answer, line } = await callAndReadLog("/version/", headers);
    expect(answer.status).toBe(200);
    expect(logFields(line)).toMatchObject({ host: headers.host, version: "v1", mirrored, status: "200" });
  });

  it("answers unknown paths with a logged 404", async () => {
    const { answer, line } = await callAndReadLog("/nope?x=1", { host: "missing.example.com" });
    expect(answer.status).toBe(404);
    expect(answer.body).toBe("not found: /nope\n");
    expect(logFields(line)).toMatchObject({ method: "GET", path: "/nope", status: "404", mirrored: "false" });
  });

  it("answers other methods with a logged 405", async () => {
    const answer = await request(service.url, "/version/", { method: "DELETE", headers: { host: "delete.example.com" } });
    expect(answer.status).toBe(405);
    const line = await service.waitForLine((l) => l.includes(" host=delete.example.com "));
    expect(logFields(line)).toMatchObject({ method: "DELETE", status: "405" });
  });

  it("answers /healthz without logging it", async () => {
    const health = await request(service.url, "/healthz", { headers: { host: "probe.example.com" } });
    expect(health).toMatchObject({ status: 200, body: "ok\n" });
    // Requests are handled in order: once a later request is logged, a probe line would be there already.
    await callAndReadLog("/version/", { host: "after-probe.example.com" });
    expect(service.lines.filter((l) => l.includes("/healthz") || l.includes(" host=probe.example.com "))).toEqual([]);
  });

  it.each([
    ["socket garbage", "\u0000\u0001\u0002 not http at all\r\n\r\n"],
    ["a malformed request line", "GET /version/ HTTP/9.9.9 please\r\n\r\n"],
    ["a header without a colon", "GET /version/ HTTP/1.1\r\nHost hostname.example.com\r\n\r\n"],
    ["oversized headers", `GET /version/ HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`],
  ])("survives %s with a 4xx and keeps serving", async (_case, bytes) => {
    const connection = await rawConnection(service.port);
    connection.socket.write(bytes);
    const response = await connection.closed;
    expect(response).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect((await request(service.url, "/version/")).status).toBe(200);
    expect(service.child.exitCode).toBeNull();
  });

  it("keeps serving on a keep-alive connection after a request with a body", async () => {
    const connection = await rawConnection(service.port);
    connection.socket.write(
      "GET /version/ HTTP/1.1\r\nHost: body.example.com\r\nContent-Length: 3\r\n\r\nabc" +
        "GET /version/ HTTP/1.1\r\nHost: body.example.com\r\nConnection: close\r\n\r\n",
    );
    const response = await connection.closed;
    expect(response.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
  });
});

describe("hostname shutdown", () => {
  let service: ServiceProcess | undefined;
  afterEach(() => killIfRunning(service));

  it("on SIGTERM stops accepting, finishes the in-flight request, and exits 0", async () => {
    service = await startServiceProcess(MAIN, { VERSION: "v2", HOSTNAME: "hostname-v2-xyz" });
    const { response, exit } = await expectDrainOnSigterm(service, "/version/");
    expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(response.toLowerCase()).toContain("connection: close");
    expect(response.endsWith("\r\n\r\nhostname-v2-xyz v2\n")).toBe(true);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(requestLines(service.lines).map((l) => logFields(l).host)).toEqual(["in-flight.example.com"]);
    expect(service.lines.at(-1)).toMatch(/ event=stopped$/);
  });

  it("exits at once on a second signal while a request is still in flight", async () => {
    service = await startServiceProcess(MAIN, { VERSION: "v1" });
    const connection = await rawConnection(service.port);
    connection.socket.write("GET /version/ HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    await connection.waitFor("100 Continue");
    service.child.kill("SIGTERM");
    await service.waitForLine((line) => line.includes("event=shutdown"));
    service.child.kill("SIGTERM");
    expect(await service.exited).toEqual({ code: 143, signal: null });
    expect(service.lines.at(-1)).toMatch(/ event=forced-exit signal=SIGTERM$/);
  });

  it("exits 0 on SIGINT", async () => {
    service = await startServiceProcess(MAIN, { VERSION: "v1" });
    service.child.kill("SIGINT");
    expect(await service.exited).toEqual({ code: 0, signal: null });
  });

  it("refuses a bad PORT with exit 1 and a message", () => {
    const result = spawnSync(NODE_24, [path.join(REPO_ROOT, MAIN)], { env: { PORT: "eighty" }, encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('PORT must be an integer from 0 to 65535 (0 = any free port), got "eighty"');
  });
});
