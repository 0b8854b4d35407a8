/**
 * The fidelity harness: a manifest (Istio YAML as people apply it) plus a MirrorProxy document
 * generated for it (one real upstream server per destination `host/subset`), loaded by the
 * real parser, served by the real proxy over sockets, and checked against what Istio documents
 * for it (each case's expectations, written by hand in cases.ts).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigError, parseMirrorProxyConfig } from "../../../workloads/mirror-proxy/src/config.ts";
import { startMirrorProxy, type MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";

const REPO = join(__dirname, "../../..");

/**
 * `../shared/istio-corpus` beside the checkout (CI lays shared/ there); in a git worktree,
 * beside the main checkout the worktree belongs to.
 */
function corpusDir(): string {
  const beside = join(REPO, "../shared/istio-corpus");
  if (existsSync(beside)) return beside;
  try {
    // A worktree's .git is a file: "gitdir: <main checkout>/.git/worktrees/<name>".
    const m = /^gitdir: (.*)\/\.git\/worktrees\/[^/]+\s*$/m.exec(readFileSync(join(REPO, ".git"), "utf8"));
    if (m) return join(m[1], "../shared/istio-corpus");
  } catch {
    // a plain checkout: .git is a directory
  }
  return beside;
}
export const CORPUS_DIR = corpusDir();
export const OWN_DIR = join(__dirname, "manifests");

export function corpusFiles(): string[] | undefined {
  try {
    return readdirSync(CORPUS_DIR).filter((f) => f.endsWith(".yaml")).sort();
  } catch {
    return undefined;
  }
}

/** Every destination key (`host` or `host/subset`) a manifest routes or mirrors to. */
export function destinationKeys(text: string): string[] {
  const keys = new Set<string>();
  const add = (d: unknown) => {
    if (!d || typeof d !== "object") return;
    const { host, subset } = d as { host?: unknown; subset?: unknown };
    if (typeof host === "string") keys.add(typeof subset === "string" ? `${host}/${subset}` : host);
  };
  for (const doc of parseAllDocuments(text)) {
    const js = doc.toJS() as { kind?: string; spec?: { http?: unknown[] } } | null;
    if (!js || js.kind !== "VirtualService" || !Array.isArray(js.spec?.http)) continue;
    for (const r of js.spec.http as Record<string, unknown>[]) {
      for (const d of (r.route as { destination?: unknown }[] | undefined) ?? []) add(d.destination);
      add(r.mirror);
      for (const m of (r.mirrors as { destination?: unknown }[] | undefined) ?? []) add(m.destination);
    }
  }
  return [...keys].sort();
}

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  mirrored: boolean;
}

/** How an upstream answers: 200 naming itself by default. */
export type Answer = (req: http.IncomingMessage, res: http.ServerResponse, n: number, member: number) => void;

export interface FakeUpstream {
  key: string;
  /** Member index when a key has several URLs. */
  member: number;
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

export async function startFake(key: string, member: number, answer?: Answer): Promise<FakeUpstream> {
  const up: FakeUpstream = { key, member, url: "", seen: [], close: async () => undefined };
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const mirrored = req.headers["x-mirror-shadow"] === "true";
      up.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, mirrored });
      if (answer && !mirrored) return answer(req, res, n++, member);
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": key, "x-member": String(member) });
      res.end(`${key} ${req.method} ${req.url}`);
    });
  });
  // A WebSocket-style upgrade: 101, then echo everything back.
  server.on("upgrade", (req, socket, head) => {
    up.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, mirrored: false });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: upgrade\r\nx-upstream: ${key}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  up.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return up;
}

/** Outcome of loading a manifest: accepted (with the proxy's load notes) or refused with its problem lines. */
export type Load = { accepted: true; notes: string[] } | { accepted: false; lines: string[] };

export function mirrorProxyDoc(upstreams: Record<string, string | string[]>, extra = ""): string {
  const lines = Object.entries(upstreams).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `apiVersion: traffic-mirroring/v1\nkind: MirrorProxy\nspec:\n  shadowHostSuffix: ""\n  upstreams:${lines.length === 0 ? " {}" : `\n${lines.join("\n")}`}\n${extra}`;
}

export function load(text: string): Load {
  try {
    return { accepted: true, notes: parseMirrorProxyConfig(text).notes };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { accepted: false, lines: e.message.split("\n").slice(1) };
  }
}

export interface Served {
  proxy: MirrorProxy;
  ups: FakeUpstream[];
  log: string[];
  close(): Promise<void>;
}

/**
 * Serves `manifest` with one fake upstream per destination key (`members[key]` of them, each
 * answering with `answers[key]`), plus `proxyExtra` lines in the MirrorProxy spec.
 */
export async function serve(manifest: string, opts: { members?: Record<string, number>; answers?: Record<string, Answer>; proxyExtra?: string; urls?: Record<string, string | string[]> } = {}): Promise<Served> {
  const ups: FakeUpstream[] = [];
  const upstreams: Record<string, string | string[]> = { ...(opts.urls ?? {}) };
  for (const key of destinationKeys(manifest)) {
    if (upstreams[key] !== undefined) continue;
    const n = opts.members?.[key] ?? 1;
    const urls: string[] = [];
    for (let i = 0; i < n; i++) {
      const u = await startFake(key, i, opts.answers?.[key]);
      ups.push(u);
      urls.push(u.url);
    }
    upstreams[key] = n === 1 ? urls[0] : urls;
  }
  const text = `${manifest}\n---\n${mirrorProxyDoc(upstreams, opts.proxyExtra)}`;
  const log: string[] = [];
  const proxy = await startMirrorProxy(parseMirrorProxyConfig(text), { listen: 0, admin: 0, host: "127.0.0.1", log: (l) => log.push(l) });
  return {
    proxy,
    ups,
    log,
    close: async () => {
      await proxy.close();
      await Promise.all(ups.map((u) => u.close()));
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

export function call(port: number, r: { method?: string; path?: string; host?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: r.method ?? "GET", path: r.path ?? "/", headers: { ...(r.host ? { host: r.host } : {}), ...r.headers }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: performance.now() - started }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(r.body);
  });
}

export function readOwn(name: string): string {
  return readFileSync(join(OWN_DIR, name), "utf8");
}

export function readCorpus(name: string): string {
  return readFileSync(join(CORPUS_DIR, name), "utf8");
}
