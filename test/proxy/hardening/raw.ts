/** Raw-socket clients for the hardening tests: bytes exactly as a hostile client sends them. */
import net from "node:net";

export interface RawReply {
  /** Everything the proxy sent, latin1. */
  text: string;
  /** The proxy closed the connection (rather than our timeout ending the wait). */
  closed: boolean;
  ms: number;
}

/** Sends `data` (one write), reads until the proxy closes the connection or `waitMs` passes. */
export function raw(port: number, data: string | Buffer, waitMs = 3000): Promise<RawReply> {
  return new Promise((resolve) => {
    const t = performance.now();
    const s = net.connect(port, "127.0.0.1");
    let text = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed, ms: performance.now() - t });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.setEncoding("latin1");
    s.on("data", (d: string) => (text += d));
    s.on("error", () => finish(true));
    s.on("close", () => finish(true));
    s.write(data);
  });
}

/** A client that writes `count` pipelined GETs in one write and never reads the answers (destroy it when done). */
export async function nonReadingPipeliner(port: number, count: number): Promise<net.Socket> {
  const s = net.connect(port, "127.0.0.1");
  await new Promise((r) => s.once("connect", r));
  s.pause();
  s.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(count));
  return s;
}

/** Status codes of the answers in a raw reply, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}
