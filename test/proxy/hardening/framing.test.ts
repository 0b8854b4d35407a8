/**
 * Issue 13, cases 4, 5, 6 and 10: strict framing at the raw-socket interface. Before: two
 * Host headers were accepted (one forwarded), a client-sent x-mirror-shadow reached the
 * primary, `Connection: content-length` lost the body (0 of 5 bytes upstream), CONNECT got
 * a closed connection and an oversized head got 400.
 */
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { configText, metric, startProxy, startUpstream, waitFor, type Upstream } from "../helpers.ts";
import { raw, statuses } from "./raw.ts";

describe("strict framing", () => {
  let v1: Upstream;
  let v2: Upstream;
  let proxy: MirrorProxy;
  beforeAll(async () => {
    v1 = await startUpstream("v1");
    v2 = await startUpstream("v2");
    proxy = await startProxy(
      configText({
        vs: `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n      mirror: { host: app, subset: v2 }\n`,
        upstreams: { "app/v1": v1.url, "app/v2": v2.url },
        proxy: "  limits: { maxRequestHeaderBytes: 4096 }\n",
      }),
    );
  });
  afterAll(async () => {
    await proxy.close();
    await v1.close();
    await v2.close();
  });

  test("two Host headers: 400, nothing forwarded", async () => {
    const before = v1.arrived;
    const r = await raw(proxy.port, "GET /dup HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");
    expect(statuses(r.text)).toEqual([400]);
    expect(r.closed).toBe(true);
    expect(v1.arrived).toBe(before);
  });

  test("a client's x-mirror-shadow never reaches the primary; the copy carries ours", async () => {
    const r = await raw(proxy.port, "GET /marker HTTP/1.1\r\nHost: a\r\nX-Mirror-Shadow: true\r\nConnection: close\r\n\r\n");
    expect(statuses(r.text)).toEqual([200]);
    const primary = v1.seen.find((s) => s.url === "/marker")!;
    expect(primary.headers["x-mirror-shadow"]).toBeUndefined();
    await waitFor(() => v2.seen.some((s) => s.url === "/marker"), 3000, "the copy");
    expect(v2.seen.find((s) => s.url === "/marker")!.headers["x-mirror-shadow"]).toBe("true");
  });

  test("Connection: content-length does not drop the body's framing", async () => {
    const r = await raw(proxy.port, "POST /cl HTTP/1.1\r\nHost: a\r\nConnection: content-length, close\r\nContent-Length: 5\r\n\r\nhello");
    expect(statuses(r.text)).toEqual([200]);
    expect(v1.seen.find((s) => s.url === "/cl")!.bodyLength).toBe(5);
  });

  test("CONNECT gets an error status, not a closed connection", async () => {
    const r = await raw(proxy.port, "CONNECT 10.0.0.1:443 HTTP/1.1\r\nHost: 10.0.0.1:443\r\n\r\n");
    expect(statuses(r.text)).toEqual([405]);
  });

  test("an oversized header block gets 431 and is counted", async () => {
    const r = await raw(proxy.port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"x".repeat(8000)}\r\n\r\n`);
    expect(statuses(r.text)).toEqual([431]);
    expect(await metric(proxy, "mirror_proxy_limit_hits_total", { limit: "max_request_header_bytes" })).toBe(1);
  });

  test("%00 in the path: 400", async () => {
    const r = await raw(proxy.port, "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(statuses(r.text)).toEqual([400]);
  });
});
