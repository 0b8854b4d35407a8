/** spec.copyHeaders: headers set or removed on the copies only, over real sockets, and its validation. */
import { ConfigError, parseMirrorProxyConfig } from "../../workloads/mirror-proxy/src/config.ts";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { configText, request, startProxy, startUpstream, waitFor, type Upstream } from "./helpers.ts";

const VS = `  hosts: ["*"]
  http:
    - name: shaped
      match: [{ uri: { prefix: /shaped } }]
      route: [{ destination: { host: app, subset: v1 } }]
      mirror: { host: app, subset: v2 }
    - name: plain
      route: [{ destination: { host: app, subset: v1 } }]
      mirror: { host: app, subset: v2 }
`;

const SHAPE = `  copyHeaders:
    shaped:
      set: { X-Dark-Launch: "true", x-tenant: copy }
      remove: [authorization, Cookie]
`;

function text(upstreams: Record<string, string>, proxy = SHAPE): string {
  return configText({ vs: VS, upstreams, proxy });
}

describe("copyHeaders over real sockets", () => {
  let v1: Upstream;
  let v2: Upstream;
  let proxy: MirrorProxy;
  beforeAll(async () => {
    v1 = await startUpstream("v1");
    v2 = await startUpstream("v2");
    proxy = await startProxy(text({ "app/v1": v1.url, "app/v2": v2.url }));
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([v1.close(), v2.close()]);
  });
  beforeEach(() => {
    v1.seen.length = 0;
    v2.seen.length = 0;
  });

  const sent = { authorization: "Bearer secret", cookie: "session=abc", "x-tenant": "acme", "x-keep": "1" };

  test("the copy is shaped; the primary gets the request untouched", async () => {
    const reply = await request(proxy.port, { path: "/shaped/a", headers: sent });
    expect(reply.status).toBe(200);
    await waitFor(() => v2.seen.length === 1, 5000, "the copy");
    const [primary] = v1.seen;
    expect(primary.headers).toMatchObject(sent);
    expect(primary.headers["x-dark-launch"]).toBeUndefined();
    const [copy] = v2.seen;
    expect(copy.headers.authorization).toBeUndefined();
    expect(copy.headers.cookie).toBeUndefined();
    expect(copy.headers["x-dark-launch"]).toBe("true");
    expect(copy.headers["x-tenant"]).toBe("copy"); // set replaces the client's value
    expect(copy.headers["x-keep"]).toBe("1");
    expect(copy.headers["x-mirror-shadow"]).toBe("true");
  });

  test("a POST's copy is shaped too, its body intact", async () => {
    await request(proxy.port, { method: "POST", path: "/shaped/b", headers: sent, body: "hello" });
    await waitFor(() => v2.seen.length === 1, 5000, "the copy");
    expect(v2.seen[0]).toMatchObject({ method: "POST", bodyLength: 5 });
    expect(v2.seen[0].headers.authorization).toBeUndefined();
    expect(v1.seen[0].headers.authorization).toBe("Bearer secret");
  });

  test("other routes' copies are not shaped", async () => {
    await request(proxy.port, { path: "/other", headers: sent });
    await waitFor(() => v2.seen.length === 1, 5000, "the copy");
    expect(v2.seen[0].headers).toMatchObject(sent);
    expect(v2.seen[0].headers["x-dark-launch"]).toBeUndefined();
  });
});

describe("copyHeaders validation", () => {
  const upstreams = { "app/v1": "http://127.0.0.1:1", "app/v2": "http://127.0.0.1:2" };
  const problems = (proxy: string): string[] => {
    try {
      parseMirrorProxyConfig(text(upstreams, proxy));
    } catch (error) {
      if (error instanceof ConfigError) return error.message.split("\n").slice(1);
      throw error;
    }
    return [];
  };

  test("accepted, keyed by route name or id, names lower-cased", () => {
    const config = parseMirrorProxyConfig(text(upstreams, "  copyHeaders:\n    app/plain: { remove: [Authorization] }\n"));
    expect(config.proxy.copyHeaders).toEqual({ "app/plain": { set: [], remove: ["authorization"] } });
  });

  test.each([
    ["connection", /spec\.copyHeaders\.shaped\.remove\[0\]: cannot be shaped: a hop-by-hop header, never forwarded \(got connection\)/],
    ["Transfer-Encoding", /cannot be shaped: a hop-by-hop header/],
    ["host", /spec\.copyHeaders\.shaped\.remove\[0\]: cannot be shaped: the proxy writes the copy's Host/],
    ["content-length", /cannot be shaped: the proxy writes the copy's length/],
  ])("%s cannot be shaped", (name, message) => {
    expect(problems(`  copyHeaders:\n    shaped: { remove: [${name}] }\n`).join("\n")).toMatch(message);
  });

  test("set values with line breaks, an unknown route, and set+remove of one name are rejected", () => {
    expect(problems('  copyHeaders:\n    shaped: { set: { x-a: "a\\r\\nb: c" } }\n')).toEqual([
      'MirrorProxy: spec.copyHeaders.shaped.set.x-a: must be a header value: printable ASCII, no line breaks (got "a\\r\\nb: c")',
    ]);
    expect(problems("  copyHeaders:\n    nowhere: { remove: [authorization] }\n")).toEqual([
      'MirrorProxy: spec.copyHeaders.nowhere: no mirroring HTTPRoute has this name (use a route name or <VirtualService>/<name or index>) (got nowhere)',
    ]);
    expect(problems("  copyHeaders:\n    shaped: { set: { x-a: b }, remove: [X-A] }\n")).toEqual([
      'MirrorProxy: spec.copyHeaders.shaped.remove[0]: is also in set (set replaces it already) (got X-A)',
    ]);
    expect(problems("  copyHeaders:\n    shaped: { add: { x-a: b } }\n")).toEqual(['MirrorProxy: spec.copyHeaders.shaped.add: unknown field (got {"x-a":"b"})']);
  });
});
