// Upstream members from DNS (members.ts): a host name stands for every address it
// resolves to (a headless Service's pods), re-resolved as they come and go; real
// upstream servers on two loopback addresses, the proxy over real sockets.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { expandMembers, isResolvable, preferredAddresses, type Resolver } from "../../workloads/mirror-proxy/src/members.ts";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { newUpstream } from "../../workloads/mirror-proxy/src/policy.ts";
import { configText, request, startProxy, waitFor } from "./helpers";

/** A server answering its own address, on `address`:`port`. */
async function answerer(address: string, port: number, seen: string[]): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    seen.push(`${address} ${req.headers.host} ${req.headers["x-mirror-shadow"] ?? "primary"}`);
    res.end(address);
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return server;
}

describe("pure parts", () => {
  test("IP literals and localhost are used as written; names are resolved", () => {
    expect(["10.0.0.1", "::1", "localhost", "LOCALHOST", "hostname-v1.demo.svc.cluster.local"].map(isResolvable)).toEqual([false, false, false, false, true]);
  });

  test("one family: IPv4 when any, sorted, without repeats; else IPv6", () => {
    expect(preferredAddresses([{ address: "fd00::2", family: 6 }, { address: "10.0.0.9", family: 4 }, { address: "10.0.0.2", family: 4 }, { address: "10.0.0.9", family: 4 }])).toEqual(["10.0.0.2", "10.0.0.9"]);
    expect(preferredAddresses([{ address: "fd00::2", family: 6 }])).toEqual(["fd00::2"]);
  });

  test("each configured member becomes one member per address; known members are reused", () => {
    const u = newUpstream({ key: "a/v1", hostname: "a-v1", port: 8080, basePath: "" });
    const literal = newUpstream({ key: "a/v1", hostname: "127.0.0.1", port: 9000, basePath: "" });
    const first = expandMembers([u, literal], new Map([["a-v1", ["10.0.0.1", "10.0.0.2"]]]), [u, literal]);
    expect(first.map((m) => `${m.hostname}:${m.port}`)).toEqual(["10.0.0.1:8080", "10.0.0.2:8080", "127.0.0.1:9000"]);
    const second = expandMembers([u, literal], new Map([["a-v1", ["10.0.0.2", "10.0.0.3"]]]), first);
    expect(second[0]).toBe(first[1]);
    expect(second[2]).toBe(first[2]);
    expect(second.map((m) => m.hostname)).toEqual(["10.0.0.2", "10.0.0.3", "127.0.0.1"]);
    // Not resolved (yet): the member as written.
    expect(expandMembers([u], new Map(), [u])).toEqual([u]);
  });
});

describe("a name with two addresses: two members, followed as they change", () => {
  const seen: string[] = [];
  const servers: http.Server[] = [];
  let proxy: MirrorProxy;
  let answer: string[] = ["127.0.0.1", "127.0.0.2"];
  let port = 0;
  const lookups: string[] = [];
  const resolver: Resolver = async (host) => {
    lookups.push(host);
    if (host !== "app-v1.test") throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return answer.map((address) => ({ address, family: 4 }));
  };

  beforeAll(async () => {
    servers.push(await answerer("127.0.0.1", 0, seen));
    port = (servers[0].address() as AddressInfo).port;
    servers.push(await answerer("127.0.0.2", port, seen));
    const text = configText({
      vs: `  hosts: [app]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n`,
      upstreams: { "app/v1": `http://app-v1.test:${port}`, "app/v2": `http://127.0.0.1:${port}` },
    });
    proxy = await startProxy(text, { resolver, resolveIntervalMs: 100 });
  });

  afterAll(async () => {
    await proxy.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  test("requests alternate between the two addresses; the Host stays the client's", async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) bodies.push((await request(proxy.port, { headers: { host: "app" } })).body);
    expect(bodies.sort()).toEqual(["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.2"]);
    expect(seen.every((line) => line.endsWith(" app primary"))).toBe(true);
    expect(lookups).not.toContain("127.0.0.1");
  });

  test("an address that goes away stops getting requests; one that comes back gets them again", async () => {
    answer = ["127.0.0.2"];
    await waitFor(async () => (await request(proxy.port, { headers: { host: "app" } })).body === "127.0.0.2" && (await request(proxy.port, { headers: { host: "app" } })).body === "127.0.0.2", 3000, "only 127.0.0.2");
    const after = [];
    for (let i = 0; i < 4; i++) after.push((await request(proxy.port, { headers: { host: "app" } })).body);
    expect(after).toEqual(["127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.2"]);
    answer = ["127.0.0.1", "127.0.0.2"];
    await waitFor(async () => (await request(proxy.port, { headers: { host: "app" } })).body === "127.0.0.1", 3000, "127.0.0.1 back");
  });

  test("a failing lookup keeps the last members", async () => {
    answer = [];
    await new Promise((r) => setTimeout(r, 300));
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await request(proxy.port, { headers: { host: "app" } })).body);
    expect([...bodies].sort()).toEqual(["127.0.0.1", "127.0.0.2"]);
    answer = ["127.0.0.1", "127.0.0.2"];
  });
});
