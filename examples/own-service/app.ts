// A stand-in for "your own service" (billing) in the README's example: what
// `npm run demo` starts as v1 and v2 from the stack file's `local.command`.
// It serves GET /invoices (a list) and POST /invoices (creates one), and logs
// one logfmt line per request the way the demo services do, plus which of the
// headers the copy shaping touches it received (never their values).
// Env: PORT (default 8080), BIND_ADDRESS (default 0.0.0.0), VERSION, APP_VERSION.
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? 8080);
const host = process.env.BIND_ADDRESS ?? "0.0.0.0";
const version = process.env.VERSION ?? "v1";
const release = process.env.APP_VERSION ?? "dev";
let created = 0;

const quote = (value: string) => (value === "" || /[\s="]/.test(value) ? JSON.stringify(value) : value);
function log(fields: Record<string, string | number | boolean>): void {
  const pairs = Object.entries(fields).map(([key, value]) => `${key}=${quote(String(value))}`);
  process.stdout.write(`${new Date().toISOString()} ${pairs.join(" ")}\n`);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const path = (req.url ?? "/").split("?")[0];
    let status = 200;
    let body: unknown = { version, release };
    if (path === "/healthz") body = "ok";
    else if (path === "/invoices" && req.method === "POST") {
      created++;
      status = 201;
      body = { version, created: `inv-${version}-${created}`, bytes: Buffer.concat(chunks).length };
    } else if (path === "/invoices") body = { version, release, invoices: ["inv-1", "inv-2"] };
    else status = 404;
    const text = typeof body === "string" ? `${body}\n` : `${JSON.stringify(body)}\n`;
    res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
    res.end(text);
    if (path === "/healthz") return;
    const hostHeader = req.headers.host ?? "";
    log({
      method: req.method ?? "",
      path,
      host: hostHeader,
      version,
      mirrored: req.headers["x-mirror-shadow"] === "true" || hostHeader.split(":")[0].endsWith("-shadow"),
      status,
      authorization: req.headers.authorization !== undefined ? "present" : "absent",
      cookie: req.headers.cookie !== undefined ? "present" : "absent",
      dark_launch: String(req.headers["x-dark-launch"] ?? "absent"),
    });
  });
});

server.listen(port, host, () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  log({ event: "listening", url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${bound}`, version, release });
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
