// Upstream servers for the benchmark, run as a separate process (forked by
// bench/run.ts with an IPC channel) so they never share the event loop of the
// proxy under test.
//
//   node bench/upstreams.ts primary            -> one fast server (the primary)
//   node bench/upstreams.ts shadows            -> fast shadow, 200 ms shadow, closed port
//
// Once listening, the process sends {type: "ready", ports: {...}} over IPC.
// It answers {type: "counts"} with {type: "counts", counts: {...}}: requests
// received per server, so the runner can check that copies really arrived.
import http from "node:http";
import net from "node:net";
import { freePort } from "./procs.ts";

const BODY = Buffer.from('{"ok":true,"from":"primary"}\n');
const SHADOW_BODY = Buffer.from('{"ok":true,"from":"shadow"}\n');
const SLOW_SHADOW_DELAY_MS = 200;

type Counts = Record<string, number>;
const counts: Counts = {};

function startServer(name: string, body: Buffer, delayMs: number): Promise<number> {
  counts[name] = 0;
  const server = http.createServer((req, res) => {
    counts[name]++;
    const answer = () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    };
    // Drain any request body before answering (the benchmark sends GETs).
    req.resume();
    if (delayMs > 0) {
      const t = setTimeout(answer, delayMs);
      res.on("close", () => clearTimeout(t));
    } else {
      answer();
    }
  });
  // Long idle keep-alive: nginx (keepalive 64) and the proxy keep pooled
  // sockets between cases; a short server timeout would race them.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.requestTimeout = 0;
  server.maxHeadersCount = 0;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", 1024, () => resolve((server.address() as net.AddressInfo).port));
  });
}

async function main(): Promise<void> {
  const role = process.argv[2];
  const ports: Record<string, number> = {};
  if (role === "primary") {
    ports.primary = await startServer("primary", BODY, 0);
  } else if (role === "shadows") {
    ports.fastShadow = await startServer("fastShadow", SHADOW_BODY, 0);
    ports.slowShadow = await startServer("slowShadow", SHADOW_BODY, SLOW_SHADOW_DELAY_MS);
    // A port that was bound, noted and closed: connecting to it is refused.
    ports.closed = await freePort();
  } else {
    console.error("usage: upstreams.ts primary|shadows");
    process.exit(2);
  }
  if (!process.send) {
    console.log(JSON.stringify(ports));
    return;
  }
  process.on("message", (msg: { type?: string }) => {
    if (msg && msg.type === "counts") process.send!({ type: "counts", counts: { ...counts } });
  });
  // The runner going away (even killed) closes the IPC channel: exit with it.
  process.on("disconnect", () => process.exit(0));
  process.send({ type: "ready", ports });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
