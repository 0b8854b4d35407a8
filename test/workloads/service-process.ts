// Test helpers: a workload started as a real Node process, and raw HTTP calls
// with full control over the Host header and the bytes on the wire.
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import * as readline from "node:readline";
import { logFields } from "../../workloads/shared/log.ts";

export { logFields };

export const REPO_ROOT = path.resolve(__dirname, "../..");
/** Node 24 from the `node` npm package: it runs the .ts sources directly. */
export const NODE_24 = path.join(REPO_ROOT, "node_modules/.bin/node");
const WAIT_MS = 5_000;

export type LinePredicate = (line: string) => boolean;

export interface ServiceProcess {
  url: string;
  port: number;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves with the first stdout line (past or future) that matches. */
  waitForLine(predicate: LinePredicate): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  child: ChildProcess;
}

export async function startServiceProcess(mainFile: string, env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(NODE_24, [path.join(REPO_ROOT, mainFile)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", BIND_ADDRESS: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  const waiters = new Set<{ predicate: LinePredicate; resolve: (line: string) => void }>();
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const waiter of waiters) {
      if (waiter.predicate(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );

  function waitForLine(predicate: LinePredicate): Promise<string> {
    const seen = lines.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const waiter = { predicate, resolve: (line: string) => (clearTimeout(timer), resolve(line)) };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching log line within ${WAIT_MS} ms.\nstdout:\n${lines.join("\n")}\nstderr:\n${stderr}`));
      }, WAIT_MS);
      waiters.add(waiter);
      void exited.then(({ code }) => {
        if (waiters.delete(waiter)) {
          clearTimeout(timer);
          reject(new Error(`process exited (${code}) before the expected log line.\nstdout:\n${lines.join("\n")}\nstderr:\n${stderr}`));
        }
      });
    });
  }

  const listening = await waitForLine((line) => line.includes("event=listening"));
  const url = logFields(listening).url;
  return { url, port: Number(new URL(url).port), lines, waitForLine, exited, child };
}

/** Stops a process a test left running (after a failure), and waits for it. */
export async function killIfRunning(service: ServiceProcess | undefined): Promise<void> {
  if (!service || service.child.exitCode !== null || service.child.signalCode !== null) return;
  service.child.kill("SIGKILL");
  await service.exited;
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET (or another method) with any Host header; a fresh connection each time so nothing lingers. */
export function request(
  baseUrl: string,
  requestPath: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(requestPath, baseUrl),
      { method: options.method ?? "GET", headers: options.headers, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Opens a raw TCP connection; `read()` collects what the server sends. */
export async function rawConnection(port: number): Promise<{
  socket: net.Socket;
  received(): string;
  waitFor(text: string): Promise<string>;
  closed: Promise<string>;
}> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let data = "";
  const listeners = new Set<() => void>();
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    data += chunk;
    for (const listener of listeners) listener();
  });
  socket.on("error", () => {});
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(data)));
  function waitFor(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (data.includes(text)) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(data);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`did not receive ${JSON.stringify(text)} within ${WAIT_MS} ms; got ${JSON.stringify(data)}`));
      }, WAIT_MS);
      listeners.add(check);
      check();
    });
  }
  return { socket, received: () => data, waitFor, closed };
}

/** Request log lines only (not the lifecycle `event=` lines). */
export function requestLines(lines: string[]): string[] {
  return lines.filter((line) => / method=/.test(line));
}

export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z /;

/**
 * SIGTERM while a request is in flight: the server stops accepting, still
 * answers that request (with `connection: close`), then exits 0.
 * The request is held open deterministically with `Expect: 100-continue`: the
 * server's `100 Continue` proves it has the request; its body is sent only
 * after the server has begun shutting down.
 */
export async function expectDrainOnSigterm(
  service: ServiceProcess,
  requestPath: string,
): Promise<{ response: string; exit: { code: number | null; signal: NodeJS.Signals | null } }> {
  const connection = await rawConnection(service.port);
  connection.socket.write(
    `GET ${requestPath} HTTP/1.1\r\nHost: in-flight.example.com\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n`,
  );
  await connection.waitFor("100 Continue");
  service.child.kill("SIGTERM");
  await service.waitForLine((line) => line.includes("event=shutdown signal=SIGTERM"));
  // No longer accepting: a new connection is refused.
  await expect(request(service.url, "/healthz")).rejects.toThrow(/ECONNREFUSED/);
  connection.socket.write("body");
  const response = await connection.closed;
  const exit = await service.exited;
  return { response, exit };
}
