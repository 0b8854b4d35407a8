/**
 * The lean shadow client (shadow.ts) against raw TCP servers answering in every framing a
 * shadow may use: each copy must end exactly once, with the right outcome, and connections
 * must be reused when (and only when) the framing allows it.
 */
import net from "node:net";
import { AnswerCapture, ShadowPool, type Copy, type Outcome } from "../../workloads/mirror-proxy/src/shadow.ts";
import { waitFor } from "./helpers.ts";

interface Ended {
  id: number;
  outcome: Outcome;
  status: number;
}

/** A raw server: `answer(requestHead)` returns the bytes to write back (or null: hang). */
async function rawServer(answer: (head: string) => string | null): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.slice(0, end);
        const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        const out = answer(head);
        if (out === null) continue;
        if (out === "CLOSE") return void s.destroy();
        s.write(out);
        if (/connection: close/i.test(out) || out.endsWith("until close")) return void s.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

type SendOpts = { method?: string; timeoutMs?: number; maxConns?: number; capture?: AnswerCapture };

function pool(port: number): { pool: ShadowPool<number>; ended: Ended[]; send: (id: number, opts?: SendOpts) => void } {
  const ended: Ended[] = [];
  const p = new ShadowPool<number>("127.0.0.1", port, (copy: Copy<number>, outcome, status) => ended.push({ id: copy.ctx, outcome, status }));
  const send = (id: number, opts: SendOpts = {}) => {
    const method = opts.method ?? "GET";
    const now = performance.now();
    p.send(`${method} /${id} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`, Buffer.alloc(0), { ctx: id, started: now, deadline: now + (opts.timeoutMs ?? 2000), noBody: method === "HEAD", capture: opts.capture }, opts.maxConns ?? 4, opts.timeoutMs ?? 2000);
  };
  return { pool: p, ended, send };
}

const byId = (e: Ended[]) => [...e].sort((a, b) => a.id - b.id);

test.each([
  ["content-length", "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", 200],
  ["chunked with extensions and trailers", "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n", 201],
  ["a 100 Continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno", 404],
  ["204 without a length", "HTTP/1.1 204 No Content\r\n\r\n", 204],
])("%s: pipelined copies all end with their status, on one reused connection", async (_name, reply, status) => {
  const srv = await rawServer(() => reply);
  const { pool: p, ended, send } = pool(srv.port);
  try {
    for (let i = 0; i < 10; i++) send(i); // one tick: one connection, pipelined
    await waitFor(() => ended.length === 10);
    expect(byId(ended)).toEqual(Array.from({ length: 10 }, (_, id) => ({ id, outcome: "response", status })));
    send(10); // next tick: the idle connection is reused
    await waitFor(() => ended.length === 11);
    expect(srv.connections()).toBe(1);
  } finally {
    p.destroy();
    await srv.close();
  }
});

test("HEAD: a Content-Length with no body follows", async () => {
  const srv = await rawServer(() => "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
  const { pool: p, ended, send } = pool(srv.port);
  try {
    send(1, { method: "HEAD" });
    send(2, { method: "HEAD" });
    await waitFor(() => ended.length === 2);
    expect(ended.every((e) => e.outcome === "response" && e.status === 200)).toBe(true);
  } finally {
    p.destroy();
    await srv.close();
  }
});

test("a body delimited by the connection's close, and Connection: close, end the copy and the connection", async () => {
  let n = 0;
  const srv = await rawServer(() => (n++ % 2 === 0 ? "HTTP/1.1 200 OK\r\n\r\nuntil close" : "HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"));
  const { pool: p, ended, send } = pool(srv.port);
  try {
    send(1);
    await waitFor(() => ended.length === 1);
    await new Promise((r) => setImmediate(r));
    send(2);
    await waitFor(() => ended.length === 2);
    expect(byId(ended)).toEqual([
      { id: 1, outcome: "response", status: 200 },
      { id: 2, outcome: "response", status: 503 },
    ]);
    expect(srv.connections()).toBe(2);
    await waitFor(() => p.size === 0);
  } finally {
    p.destroy();
    await srv.close();
  }
});

test("a hanging shadow: every copy times out exactly once, connections are dropped", async () => {
  const srv = await rawServer(() => null);
  const { pool: p, ended, send } = pool(srv.port);
  try {
    for (let i = 0; i < 5; i++) send(i, { timeoutMs: 100 });
    await new Promise((r) => setImmediate(r));
    for (let i = 5; i < 8; i++) send(i, { timeoutMs: 100 });
    await waitFor(() => ended.length === 8, 3000);
    expect(ended.every((e) => e.outcome === "timeout")).toBe(true);
    expect(new Set(ended.map((e) => e.id)).size).toBe(8);
    expect(p.size).toBe(0);
  } finally {
    p.destroy();
    await srv.close();
  }
});

test("a reset, a refused connect and a malformed answer end copies as reset, connect and error", async () => {
  const reset = await rawServer(() => "CLOSE");
  const bad = await rawServer(() => "SMTP ready\r\n\r\n");
  const dead = await rawServer(() => null);
  const deadPort = dead.port;
  await dead.close();
  const a = pool(reset.port);
  const b = pool(bad.port);
  const c = pool(deadPort);
  try {
    a.send(1);
    b.send(2);
    c.send(3);
    c.send(4);
    await waitFor(() => a.ended.length + b.ended.length + c.ended.length === 4);
    expect(a.ended).toEqual([{ id: 1, outcome: "reset", status: 0 }]);
    expect(b.ended).toEqual([{ id: 2, outcome: "error", status: 0 }]);
    expect(byId(c.ended)).toEqual([
      { id: 3, outcome: "connect", status: 0 },
      { id: 4, outcome: "connect", status: 0 },
    ]);
  } finally {
    for (const x of [a, b, c]) x.pool.destroy();
    await Promise.all([reset.close(), bad.close()]);
  }
});

test("concurrent copies across ticks use up to maxConns connections, then pipeline", async () => {
  const srv = await rawServer(() => null);
  const { pool: p, ended, send } = pool(srv.port);
  try {
    for (let i = 0; i < 6; i++) {
      send(i, { maxConns: 3, timeoutMs: 150 });
      await new Promise((r) => setImmediate(r));
    }
    expect(p.size).toBe(3);
    await waitFor(() => ended.length === 6, 3000);
  } finally {
    p.destroy();
    await srv.close();
  }
});

describe("compared copies keep their answer (AnswerCapture)", () => {
  test.each([
    ["content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\ncontent-length: 7\r\n\r\n{\"a\":1}", '{"a":1}'],
    ["chunked", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n{\"a\r\n4\r\n\":1}\r\n0\r\nx-trailer: 1\r\n\r\n", '{"a":1}'],
    ["a 100 Continue first", "HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\ncontent-length: 7\r\n\r\n{\"a\":1}", '{"a":1}'],
  ])("%s: status, headers (lower-case, repeated joined) and body, pipelined next to uncaptured copies", async (_name, reply, body) => {
    const srv = await rawServer(() => reply);
    const { pool: p, ended, send } = pool(srv.port);
    try {
      const caps = [new AnswerCapture(1000), new AnswerCapture(1000)];
      send(0);
      send(1, { capture: caps[0] });
      send(2);
      send(3, { capture: caps[1] });
      await waitFor(() => ended.length === 4);
      for (const c of caps) {
        expect(c.status).toBe(200);
        expect(c.headers["content-type"]).toBe("application/json");
        expect(c.headers["x-a"]).toBe("1, 2");
        expect(c.headers["x-interim"]).toBeUndefined();
        expect(c.body.body()?.toString()).toBe(body);
      }
    } finally {
      p.destroy();
      await srv.close();
    }
  });

  test("until close, and a body above the cap is only counted", async () => {
    let n = 0;
    const srv = await rawServer(() => (n++ === 0 ? "HTTP/1.1 200 OK\r\n\r\nuntil close" : `HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n${"x".repeat(5000)}`));
    const { pool: p, ended, send } = pool(srv.port);
    try {
      const small = new AnswerCapture(100);
      send(1, { capture: small });
      await waitFor(() => ended.length === 1);
      expect(small.body.body()?.toString()).toBe("until close");
      const big = new AnswerCapture(100);
      send(2, { capture: big });
      await waitFor(() => ended.length === 2);
      expect(ended[1]).toEqual({ id: 2, outcome: "response", status: 200 });
      expect(big.body.tooLarge).toBe(true);
      expect(big.body.bytes).toBe(5000);
      expect(big.body.body()).toBeUndefined();
    } finally {
      p.destroy();
      await srv.close();
    }
  });
});
