/** Real upstream servers, a small HTTP client and config builders for the proxy tests. */
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { parseMirrorProxyConfig, type MirrorProxyConfig } from "../../workloads/mirror-proxy/src/config.ts";
import { startMirrorProxy, type MirrorProxy, type StartOptions } from "../../workloads/mirror-proxy/src/proxy.ts";

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bodyLength: number;
  sha256: string;
}

export interface Upstream {
  name: string;
  port: number;
  url: string;
  seen: Seen[];
  /** Requests whose headers arrived (including ones still hanging). */
  arrived: number;
  close(): Promise<void>;
}

export type Behaviour = "ok" | "hang" | { delayMs: number } | ((req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void);

/** An upstream answering `<name> <method> <url>` (after reading the whole body), or misbehaving. */
export async function startUpstream(name: string, behaviour: Behaviour = "ok"): Promise<Upstream> {
  const up: Upstream = { name, port: 0, url: "", seen: [], arrived: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    up.arrived++;
    if (behaviour === "hang") return; // never answers; the socket stays open
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      up.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, bodyLength: body.length, sha256: sha256(body) });
      const answer = () => {
        if (typeof behaviour === "function") return behaviour(req, res, body);
        res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
        res.end(`${name} ${req.method} ${req.url}`);
      };
      if (typeof behaviour === "object") setTimeout(answer, behaviour.delayMs).unref();
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  up.port = (server.address() as AddressInfo).port;
  up.url = `http://127.0.0.1:${up.port}`;
  up.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return up;
}

/** A port that was just free and is now closed: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export function sha256(b: Buffer | string): string {
  return createHash("sha256").update(b).digest("hex");
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function request(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: opts.method ?? "GET", path: opts.path ?? "/", headers: opts.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: performance.now() - started }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/**
 * Replies behind a shadow answering after 200 ms: had any client waited for
 * its copy (or its comparison), it would have taken >= 200 ms.
 */
export function expectNotHeldBySlowShadow(replies: Reply[]): void {
  expect(replies.every((r) => r.status === 200)).toBe(true);
  const ms = replies.map((r) => r.ms).sort((a, b) => a - b);
  expect(ms[Math.floor(ms.length * 0.5)]).toBeLessThan(50);
  expect(ms[ms.length - 1]).toBeLessThan(190);
}

/** Runs `n` requests with `concurrency` in parallel; returns the replies in completion order. */
export async function many(n: number, concurrency: number, make: (i: number) => Promise<Reply>): Promise<Reply[]> {
  const out: Reply[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) out.push(await make(next++));
    }),
  );
  return out;
}

/** Polls `check` until it returns true, or fails after `ms`. Never a fixed sleep. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function metricsText(proxy: MirrorProxy): Promise<string> {
  return proxy.metrics.registry.metrics();
}

/** Sum of a metric's samples whose labels include every given label. */
export async function metric(proxy: MirrorProxy, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await metricsText(proxy);
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

export const DR = (name: string, host: string, subsets = ["v1", "v2"]) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name} }
spec:
  host: ${host}
  subsets:
${subsets.map((s) => `    - name: ${s}\n      labels: { version: ${s} }`).join("\n")}
`;

/** A config of VirtualService YAML (`spec:` body, indented 2) plus DestinationRules for `app` and upstreams. */
export function configText(opts: { vs: string; upstreams: Record<string, string>; extra?: string; proxy?: string; drs?: string }): string {
  return [
    opts.drs ?? DR("app", "app"),
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: app, namespace: demo }
spec:
${opts.vs}`,
    ...(opts.extra ? [opts.extra] : []),
    `apiVersion: traffic-mirroring/v1
kind: MirrorProxy
spec:
  upstreams:
${Object.entries(opts.upstreams)
  .map(([k, v]) => `    ${k}: ${v}`)
  .join("\n")}
${opts.proxy ?? ""}`,
  ].join("\n---\n");
}

export async function startProxy(text: string, opts: StartOptions = {}): Promise<MirrorProxy> {
  const config: MirrorProxyConfig = parseMirrorProxyConfig(text);
  return startMirrorProxy(config, { listen: 0, admin: 0, host: "127.0.0.1", log: () => undefined, ...opts });
}
