/**
 * A lean HTTP/1.1 client for mirror copies: fire a request, read its answer only far enough
 * to know where it ends, discard it. No ClientRequest, Agent, IncomingMessage or streams per
 * copy: one small object per copy and a byte-level response framer per connection.
 *
 * Copies written in the same tick to one shadow go out on one connection in one write
 * (pipelined, at most `PIPELINE_DEPTH` deep), and their answers are framed from one read.
 * A copy only ever queues behind copies of its own tick; a copy in a later tick takes an
 * idle connection, or opens one (at most `maxConns` per shadow), before it pipelines.
 *
 * Every copy ends exactly once, through `onSettle`: a response (its status), a timeout (the
 * connection is destroyed: an HTTP/1.1 connection cannot skip an answer, so every copy
 * queued on it times out with it), or a connection error (connect failure or reset).
 *
 * A copy whose answer is compared (compare/) carries an `AnswerCapture`: the framer then
 * also keeps the status, the headers and the body up to the capture's cap. Copies without
 * one pay a single property check per body segment.
 */
import net from "node:net";
import { BodyCapture } from "./compare/capture.ts";

export const PIPELINE_DEPTH = 16;
const MAX_HEAD_BYTES = 64 * 1024;
/** Error codes of a failed connect (rather than a reset of a connection that was up); the primary uses them too. */
export const CONNECT_ERRORS: ReadonlySet<string> = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EADDRNOTAVAIL"]);

export type Outcome = "response" | "timeout" | "connect" | "reset" | "error";

/** One copy in flight. `ctx` is the caller's, handed back in onSettle. */
export interface Copy<C> {
  ctx: C;
  started: number;
  deadline: number;
  /** HEAD: the answer has no body whatever its headers say. */
  noBody: boolean;
  /** Keep the answer (compared copies only); undefined = drain and discard. */
  capture: AnswerCapture | undefined;
}

/** What a compared copy keeps of its answer: final status, headers (lower-case names), body up to a cap. */
export class AnswerCapture {
  status = 0;
  /** Repeated headers are joined with ", ". */
  readonly headers: Record<string, string> = Object.create(null) as Record<string, string>;
  readonly body: BodyCapture;

  constructor(maxBodyBytes: number) {
    this.body = new BodyCapture(maxBodyBytes);
  }

  /** Keeps `data[start, end)`: copied, so the socket's read buffer is not held; only counted past the cap. */
  take(data: Buffer, start: number, end: number): void {
    if (end <= start) return;
    const part = data.subarray(start, end);
    this.body.push(this.body.tooLarge || this.body.bytes + part.length > this.body.maxBytes ? part : Buffer.from(part));
  }
}

export type Settle<C> = (copy: Copy<C>, outcome: Outcome, status: number) => void;

// Framing phases of the answer being read (plain numbers: erasable TypeScript only).
const Phase = { Head: 0, Length: 1, ChunkSize: 2, ChunkData: 3, ChunkEnd: 4, Trailers: 5, UntilClose: 6 } as const;

class Conn<C> {
  readonly socket: net.Socket;
  readonly queue: Copy<C>[] = [];
  connected = false;
  /** False once the shadow said `Connection: close` (or HTTP/1.0) or framing failed. */
  reusable = true;
  dead = false;
  corked = false;
  error: NodeJS.ErrnoException | undefined;
  rest: Buffer | undefined;
  phase: number = Phase.Head;
  remaining = 0;
  status = 0;
  /** Body bytes of the current answer read and thrown away (bounded by pool.maxDiscardBytes). */
  discarded = 0;

  readonly pool: ShadowPool<C>;

  constructor(pool: ShadowPool<C>, host: string, port: number) {
    this.pool = pool;
    const s = net.connect({ host, port, noDelay: true });
    this.socket = s;
    s.on("connect", () => {
      this.connected = true;
    });
    s.on("data", (d: Buffer) => this.onData(d));
    s.on("error", (e: NodeJS.ErrnoException) => {
      this.error ??= e;
    });
    s.on("close", () => this.onClose());
  }

  send(head: string, body: Buffer, copy: Copy<C>): void {
    this.queue.push(copy);
    const s = this.socket;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(uncork, this);
    }
    s.write(head, "latin1");
    if (body.length > 0) s.write(body);
  }

  /** Destroys the connection; every copy still queued ends with `outcome`. */
  kill(outcome: Outcome): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.remove(this);
    this.socket.destroy();
    const q = this.queue.splice(0);
    for (const c of q) this.pool.settle(c, outcome, 0);
  }

  private onClose(): void {
    if (this.dead) return;
    // A body delimited by the connection's end is complete now.
    if (this.phase === Phase.UntilClose && this.queue.length > 0 && this.error === undefined) this.complete();
    const e = this.error;
    const outcome: Outcome = !this.connected && e?.code !== undefined && CONNECT_ERRORS.has(e.code) ? "connect" : e === undefined || e.code === "ECONNRESET" || e.code === "EPIPE" ? "reset" : "error";
    this.kill(outcome);
  }

  private complete(): void {
    const copy = this.queue.shift()!;
    this.phase = Phase.Head;
    this.pool.settle(copy, "response", this.status);
    if (!this.reusable && !this.dead) this.kill("reset");
    else if (this.queue.length === 0) this.pool.idle(this);
  }

  /**
   * A discarded answer longer than pool.maxDiscardBytes: the copy was answered (its status
   * is known), and reading the rest would only cost the proxy; the connection is closed
   * instead (copies pipelined behind it end as `reset`).
   */
  private cut(): void {
    const copy = this.queue.shift()!;
    this.pool.settle(copy, "response", this.status);
    this.pool.countCut(Date.now());
    this.kill("reset");
  }

  private protocolError(): void {
    this.error ??= Object.assign(new Error("malformed shadow response"), { code: "EPROTO" });
    this.kill("error");
  }

  private onData(chunk: Buffer): void {
    let data = chunk;
    if (this.rest !== undefined) {
      data = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let i = 0;
    const n = data.length;
    while (i < n && !this.dead) {
      switch (this.phase) {
        case Phase.Head: {
          if (this.queue.length === 0) return this.protocolError(); // an answer nobody asked for
          const end = data.indexOf("\r\n\r\n", i, "latin1");
          if (end < 0) {
            if (n - i > MAX_HEAD_BYTES) return this.protocolError();
            this.rest = data.subarray(i);
            return;
          }
          if (!this.parseHead(data.toString("latin1", i, end))) return this.protocolError();
          i = end + 4;
          break;
        }
        case Phase.Length:
        case Phase.ChunkData:
        case Phase.ChunkEnd: {
          const take = Math.min(this.remaining, n - i);
          if (this.phase !== Phase.ChunkEnd) {
            const cap = this.queue[0].capture;
            if (cap !== undefined) cap.take(data, i, i + take);
            else if ((this.discarded += take) > this.pool.maxDiscardBytes) return this.cut();
          }
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            if (this.phase === Phase.Length) this.complete();
            else if (this.phase === Phase.ChunkData) {
              this.phase = Phase.ChunkEnd;
              this.remaining = 2; // CRLF
            } else this.phase = Phase.ChunkSize;
          }
          break;
        }
        case Phase.ChunkSize:
        case Phase.Trailers: {
          const lf = data.indexOf(10, i);
          if (lf < 0) {
            if (n - i > MAX_HEAD_BYTES) return this.protocolError();
            this.rest = data.subarray(i);
            return;
          }
          const line = data.toString("latin1", i, lf).trim();
          i = lf + 1;
          if (this.phase === Phase.Trailers) {
            if (line === "") this.complete();
          } else {
            const semi = line.indexOf(";");
            const hex = semi < 0 ? line : line.slice(0, semi).trim();
            if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return this.protocolError();
            const size = parseInt(hex, 16);
            if (size === 0) this.phase = Phase.Trailers;
            else {
              this.phase = Phase.ChunkData;
              this.remaining = size;
            }
          }
          break;
        }
        case Phase.UntilClose: {
          const cap = this.queue[0]?.capture;
          if (cap !== undefined) cap.take(data, i, n);
          else if ((this.discarded += n - i) > this.pool.maxDiscardBytes) return this.cut();
          i = n;
          break;
        }
      }
    }
  }

  /** Status line and the framing headers; false when malformed. */
  private parseHead(head: string): boolean {
    if (!head.startsWith("HTTP/1.")) return false;
    const status = Number(head.slice(9, 12));
    if (!Number.isInteger(status) || status < 100 || status > 999) return false;
    if (status < 200) return true; // 1xx interim answer: the real one follows
    const http10 = head.charCodeAt(7) === 48; /* HTTP/1.0 */
    const cap = this.queue[0].capture;
    let length = -1;
    let chunked = false;
    let close = http10;
    let start = head.indexOf("\r\n");
    while (start >= 0) {
      const next = head.indexOf("\r\n", start + 2);
      const line = head.slice(start + 2, next < 0 ? undefined : next);
      start = next;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      if (cap !== undefined) {
        const v = line.slice(colon + 1).trim();
        const prev = cap.headers[name];
        cap.headers[name] = prev === undefined ? v : `${prev}, ${v}`;
      }
      if (name === "content-length") {
        const v = Number(line.slice(colon + 1).trim());
        if (!Number.isSafeInteger(v) || v < 0) return false;
        length = v;
      } else if (name === "transfer-encoding") chunked = /(^|,)\s*chunked\s*$/i.test(line.slice(colon + 1));
      else if (name === "connection") {
        const v = line.slice(colon + 1).toLowerCase();
        if (v.includes("close")) close = true;
        else if (http10 && v.includes("keep-alive")) close = false;
      }
    }
    this.status = status;
    this.discarded = 0;
    if (cap !== undefined) cap.status = status;
    if (close) this.reusable = false;
    if (this.queue[0].noBody || status === 204 || status === 304) this.complete();
    else if (chunked) this.phase = Phase.ChunkSize;
    else if (length === 0) this.complete();
    else if (length > this.pool.maxDiscardBytes && cap === undefined) {
      // Declared longer than anyone will read: answered; close rather than read any of it.
      this.cut();
      return true;
    } else if (length > 0) {
      this.phase = Phase.Length;
      this.remaining = length;
    } else {
      this.phase = Phase.UntilClose;
      this.reusable = false;
    }
    return true;
  }
}

function uncork<C>(c: Conn<C>): void {
  c.corked = false;
  if (!c.dead) c.socket.uncork();
}

/** The connections to one shadow origin. */
export class ShadowPool<C> {
  private readonly conns = new Set<Conn<C>>();
  /** Connections with nothing in flight, most recently used last. */
  private readonly idleConns: Conn<C>[] = [];
  /** The connection this tick's copies pipeline on. */
  private current: Conn<C> | undefined;
  private inFlight = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private sweepMs = 100;

  private readonly host: string;
  private readonly port: number;
  readonly settleCopy: Settle<C>;
  /** Connections this pool opens at most before it pipelines on busy ones. */
  maxConns: number;
  /** The copies' timeout; sets how often in-flight copies are checked for their deadline. */
  timeoutMs: number;
  /** Back-off after a connect failure, kept by the caller: skip copies until this time (ms since epoch); 0 = up. */
  downUntil = 0;
  /** A copy is probing whether the shadow is back (only one at a time). */
  probing = false;
  /** How much of an answer nobody keeps (no capture) is read before its connection is closed. */
  maxDiscardBytes = Infinity;
  /** Called each time an answer was cut at maxDiscardBytes. */
  onDiscardCut: (() => void) | undefined;
  /** Cuts allowed per second (0 = any number); see cutBudgetSpent. */
  maxCutsPerSecond = 0;
  /** Token bucket of cuts: refilled at maxCutsPerSecond, holding a tenth of a second's worth, so cuts spread out instead of bursting. */
  private cutTokens = Infinity;
  private cutTokensAt = 0;

  constructor(host: string, port: number, settleCopy: Settle<C>, maxConns = 1, timeoutMs = 1000) {
    this.host = host;
    this.port = port;
    this.settleCopy = settleCopy;
    this.maxConns = maxConns;
    this.timeoutMs = timeoutMs;
  }

  /** Sends one copy; `head` is the request line and headers, ending with an empty line. `maxConns`/`timeoutMs` override the pool's. */
  send(head: string, body: Buffer, copy: Copy<C>, maxConns = this.maxConns, timeoutMs = this.timeoutMs): void {
    let c = this.current;
    if (c === undefined || c.dead || !c.reusable || c.queue.length >= PIPELINE_DEPTH) {
      c = undefined;
      while (this.idleConns.length > 0) {
        const idle = this.idleConns.pop()!;
        if (!idle.dead && idle.reusable && idle.queue.length === 0) {
          c = idle;
          break;
        }
      }
      if (c === undefined && this.conns.size >= Math.max(1, maxConns)) {
        // Every connection allowed is busy: pipeline on the least loaded one.
        for (const x of this.conns) if (x.reusable && x.queue.length < PIPELINE_DEPTH && (c === undefined || x.queue.length < c.queue.length)) c = x;
      }
      if (c === undefined) {
        c = new Conn(this, this.host, this.port);
        this.conns.add(c);
      }
      this.current = c;
      process.nextTick(endTick<C>, this, c);
    }
    this.inFlight++;
    if (this.sweeper === undefined) {
      this.sweepMs = Math.max(5, Math.min(100, Math.floor(timeoutMs / 10)));
      this.sweeper = setInterval(sweep, this.sweepMs, this);
      this.sweeper.unref();
    }
    c.send(head, body, copy);
  }

  private refillCuts(now: number): void {
    const burst = Math.max(1, this.maxCutsPerSecond / 10);
    this.cutTokens = Math.min(burst, this.cutTokens + ((now - this.cutTokensAt) * this.maxCutsPerSecond) / 1000);
    this.cutTokensAt = now;
  }

  /** Counts an answer cut at maxDiscardBytes (copies in flight may take the bucket below zero). */
  countCut(now: number): void {
    if (this.maxCutsPerSecond > 0) {
      this.refillCuts(now);
      this.cutTokens--;
    }
    this.onDiscardCut?.();
  }

  /**
   * True while the cut budget is spent: the caller skips this origin's copies. Called for every
   * copy: the clock is read only when the bucket may be empty (refilling only adds tokens).
   */
  cutBudgetSpent(): boolean {
    if (this.maxCutsPerSecond <= 0 || this.cutTokens >= 1) return false;
    this.refillCuts(Date.now());
    return this.cutTokens < 1;
  }

  settle(copy: Copy<C>, outcome: Outcome, status: number): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
    this.settleCopy(copy, outcome, status);
  }

  idle(c: Conn<C>): void {
    this.idleConns.push(c);
    if (this.idleConns.length > 1024) this.idleConns.splice(0, this.idleConns.length - 512);
  }

  remove(c: Conn<C>): void {
    this.conns.delete(c);
    if (this.current === c) this.current = undefined;
  }

  /** Abandons the copies whose deadline passed (with their connection). */
  sweepNow(now: number): void {
    for (const c of this.conns) if (c.queue.length > 0 && c.queue[0].deadline <= now) c.kill("timeout");
  }

  /** The next tick's copies pick a connection afresh (an idle one first). */
  endTick(c: Conn<C>): void {
    if (this.current === c) this.current = undefined;
  }

  get size(): number {
    return this.conns.size;
  }

  destroy(): void {
    for (const c of [...this.conns]) c.kill("reset");
    this.idleConns.length = 0;
  }
}

function endTick<C>(pool: ShadowPool<C>, c: Conn<C>): void {
  pool.endTick(c);
}

function sweep<C>(pool: ShadowPool<C>): void {
  pool.sweepNow(performance.now());
}
