/** The lean primary client (undici Pool.dispatch behind ClientRequest-like events) against real sockets. */
import http from "node:http";
import net from "node:net";
import { LeanRequest, leanPool, type LeanResponse } from "../../workloads/mirror-proxy/src/primaryLean.ts";
import { closedPort } from "./helpers.ts";

let server: http.Server;
let port = 0;
const big = Buffer.alloc(4 * 1024 * 1024, 97);

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/big") {
      res.writeHead(200, { "content-length": big.length });
      return void res.end(big);
    }
    if (req.url === "/hang") return; // never answers
    if (req.url === "/cut") {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
      return void setTimeout(() => req.socket.destroy(), 20);
    }
    res.writeHead(201, "Made", [["X-Case", "Kept"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["content-length", "5"]].flat());
    res.end(`${req.method} ${req.headers.host}`.slice(0, 5));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const pool = (p = port, timeoutMs = 1000, onTimeout = () => {}) => leanPool("127.0.0.1", p, { timeoutMs: () => timeoutMs, code: "ECONNECTTIMEOUT", onTimeout });

function send(r: LeanRequest): Promise<{ res?: LeanResponse; body: Buffer; error?: NodeJS.ErrnoException; resError?: Error; closed: boolean }> {
  return new Promise((resolve) => {
    const out: { res?: LeanResponse; body: Buffer; error?: NodeJS.ErrnoException; resError?: Error; closed: boolean } = { body: Buffer.alloc(0), closed: false };
    const chunks: Buffer[] = [];
    r.on("response", (res: LeanResponse) => {
      out.res = res;
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e: Error) => (out.resError = e));
    });
    r.on("error", (e: NodeJS.ErrnoException) => (out.error = e));
    r.on("close", () => {
      out.closed = true;
      out.body = Buffer.concat(chunks);
      resolve(out);
    });
    r.end();
  });
}

test("status, message, raw headers as sent (case and repeats), the body, then close", async () => {
  const p = pool();
  const r = await send(new LeanRequest(p, { method: "GET", path: "/", headers: ["host", "app.example", "x-forwarded-for", "1.2.3.4"] }));
  expect(r.res).toMatchObject({ statusCode: 201, statusMessage: "Made" });
  expect(r.res!.rawHeaders.slice(0, 6)).toEqual(["X-Case", "Kept", "Set-Cookie", "a=1", "Set-Cookie", "b=2"]);
  expect(r.res!.headers).toMatchObject({ "x-case": "Kept", "set-cookie": ["a=1", "b=2"] });
  expect(r.body.toString()).toBe("GET a");
  expect(r.error).toBeUndefined();
  await p.destroy();
});

test("backpressure: a paused response stops reading, resume() reads on; every byte arrives", async () => {
  const p = pool();
  const r = new LeanRequest(p, { method: "GET", path: "/big", headers: ["host", "x"] });
  let received = 0;
  let pauses = 0;
  await new Promise<void>((resolve) => {
    r.on("response", (res: LeanResponse) => {
      res.on("data", (c: Buffer) => {
        received += c.length;
        if (pauses < 3) {
          pauses++;
          res.pause();
          setTimeout(() => res.resume(), 20);
        }
      });
    });
    r.on("close", () => resolve());
    r.end();
  });
  expect(pauses).toBe(3);
  expect(received).toBe(big.length);
  await p.destroy();
});

test("a refused connect is an error with its code", async () => {
  const refused = pool(await closedPort());
  expect((await send(new LeanRequest(refused, { method: "GET", path: "/", headers: ["host", "x"] }))).error?.code).toBe("ECONNREFUSED");
  await refused.destroy();
  // The connect timeout (503 through the proxy) is tested at the proxy: test/proxy/hardening/limits.test.ts.
});

test("destroy() before the answer is ECONNRESET (as Node's); an answer cut mid-body errors the response", async () => {
  const p = pool();
  const r = new LeanRequest(p, { method: "GET", path: "/hang", headers: ["host", "x"] });
  const done = send(r);
  setTimeout(() => r.destroy(), 50);
  const d = await done;
  expect(d.error?.code).toBe("ECONNRESET");
  expect(d.closed).toBe(true);
  const cut = await send(new LeanRequest(p, { method: "GET", path: "/cut", headers: ["host", "x"] }));
  expect(cut.res?.statusCode).toBe(200);
  expect(cut.resError).toBeDefined();
  expect(cut.body.toString()).toBe("partial");
  await p.destroy();
});
