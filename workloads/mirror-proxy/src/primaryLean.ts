/**
 * A lean client for body-less primary requests: undici's Pool.dispatch behind the small part
 * of ClientRequest/IncomingMessage the proxy uses, so the forwarding code stays the same.
 * `http.request` + Agent builds a ClientRequest, an IncomingMessage and their streams per
 * request and runs the Agent's socket bookkeeping; dispatch calls back with the status, the
 * raw headers and the body chunks (measured: about half the CPU per request, bench/).
 *
 * Events as Node's: the request emits "response" (status >= 200) with a LeanResponse, "error"
 * for a failure before the answer (a destroy() without error is ECONNRESET "socket hang up",
 * as Node's), and "close" once at the end; the response emits "data", "end", and "error" when
 * the answer is cut. The response is not a stream: forward it with data/pause/resume (proxy.ts
 * relay()), not pipe().
 */
import { EventEmitter } from "node:events";
import type http from "node:http";
import net from "node:net";
// The Pool module alone: undici's index also loads fetch, WebSocket, caches... (~15 MB of RSS the proxy never uses).
import Pool from "undici/lib/dispatcher/pool.js";

type Abort = (err?: Error) => void;

function hangUp(): NodeJS.ErrnoException {
  return Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
}

export class LeanResponse extends EventEmitter {
  statusCode: number;
  statusMessage: string;
  rawHeaders: string[];
  private built: http.IncomingHttpHeaders | undefined;
  private paused = false;
  private resumeReading: (() => void) | undefined;
  private readonly req: LeanRequest;

  constructor(req: LeanRequest, status: number, statusMessage: string, rawHeaders: string[], resume: () => void) {
    super();
    this.req = req;
    this.statusCode = status;
    this.statusMessage = statusMessage;
    this.rawHeaders = rawHeaders;
    this.resumeReading = resume;
  }

  /** Lower-case names, repeats joined with ", " (set-cookie a list), as IncomingMessage.headers; built when asked. */
  get headers(): http.IncomingHttpHeaders {
    if (this.built === undefined) {
      const o: http.IncomingHttpHeaders = {};
      const raw = this.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const k = raw[i].toLowerCase();
        const prev = o[k];
        if (k === "set-cookie") o[k] = [...((prev as string[] | undefined) ?? []), raw[i + 1]];
        else o[k] = prev === undefined ? raw[i + 1] : `${prev}, ${raw[i + 1]}`;
      }
      this.built = o;
    }
    return this.built;
  }

  /** The "data" listener's answer to undici: false stops reading until resume(). */
  get flowing(): boolean {
    return !this.paused;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (this.paused) {
      this.paused = false;
      this.resumeReading?.();
    }
    return this;
  }

  destroy(): this {
    this.req.destroy(undefined, true);
    return this;
  }
}

export class LeanRequest extends EventEmitter {
  private abort: Abort | undefined;
  private res: LeanResponse | undefined;
  private ended = false;
  private done = false;
  private readonly pool: Pool;
  private readonly options: { path: string; method: string; headers: string[] };

  constructor(pool: Pool, options: { path: string; method: string; headers: string[] }) {
    super();
    this.pool = pool;
    this.options = options;
  }

  /** Sends the request (it has no body). */
  end(): this {
    if (this.ended || this.done) return this;
    this.ended = true;
    this.pool.dispatch(
      { ...this.options, body: null },
      {
        onConnect: (abort: Abort) => {
          this.abort = abort;
        },
        onHeaders: (status: number, raw: Buffer[], resume: () => void, statusText: string) => {
          if (status < 200) return true; // 1xx: the answer follows
          const headers = new Array<string>(raw.length);
          for (let i = 0; i < raw.length; i++) headers[i] = raw[i].toString("latin1");
          this.res = new LeanResponse(this, status, statusText, headers, resume);
          this.emit("response", this.res);
          return !this.done && this.res.flowing;
        },
        onData: (chunk: Buffer) => {
          const r = this.res!;
          r.emit("data", chunk);
          return !this.done && r.flowing;
        },
        onComplete: () => {
          this.res?.emit("end");
          this.finish();
        },
        onError: (err: Error) => {
          if (this.done) return;
          if (this.res !== undefined) this.res.emit("error", err);
          else this.emit("error", err);
          this.finish();
        },
      } as unknown as Parameters<Pool["dispatch"]>[1],
    );
    return this;
  }

  /**
   * Cuts the request: before the answer, "error" (err, else ECONNRESET) as Node's; after it,
   * the response's "error" (unless the response itself was destroyed: `quiet`); then "close".
   */
  destroy(err?: Error, quiet = false): this {
    if (this.done) return this;
    const e = err ?? hangUp();
    if (this.res === undefined) this.emit("error", e);
    else if (!quiet) this.res.emit("error", e);
    this.finish();
    this.abort?.(e);
    return this;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.emit("close");
  }
}

/**
 * A keep-alive undici Pool to one primary origin. New connections go through `connect`,
 * which fails a connect past `timeoutMs()` with an error of `code` (the proxy's 503), as
 * its http.Agent does; no request or body timeouts (the route's timeout is the proxy's).
 */
export function leanPool(host: string, port: number, connect: { timeoutMs: () => number; code: string; onTimeout: () => void }): Pool {
  const origin = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return new Pool(origin, {
    connections: null,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: (_opts: unknown, callback: (err: Error | null, socket: net.Socket | null) => void) => {
      const socket = net.connect({ host, port, noDelay: true });
      let settled = false;
      const timer = setTimeout(() => {
        connect.onTimeout();
        socket.destroy(Object.assign(new Error("upstream connect timeout"), { code: connect.code }));
      }, connect.timeoutMs());
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        callback(err, err ? null : socket);
      };
      socket.once("connect", () => settle(null));
      socket.once("error", (e) => settle(e));
      return socket;
    },
  } as ConstructorParameters<typeof Pool>[1]);
}
