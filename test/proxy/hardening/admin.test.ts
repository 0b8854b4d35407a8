/**
 * Issue 13, case 2: /compare holds traffic data, and was served to anyone reaching the
 * admin port (0.0.0.0 in the pod). Now the admin port keeps what the kubelet and Prometheus
 * need (/healthz, /readyz, /metrics) for everyone, and the protected routes (/compare,
 * /compare/summary, /compare/stats) answer loopback clients (kubectl port-forward) or the
 * token of spec.adminTokenFile. A client from another address is made here by binding the
 * client socket to 127.0.0.6 (Istio's inbound passthrough source, deliberately untrusted),
 * so no second network interface is needed.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { configText, request, startProxy, startUpstream, type Reply, type Upstream } from "../helpers.ts";

/** A GET from a client whose address is `from` (not the 127.0.0.1 every other test uses). */
function getFrom(from: string, port: number, p: string, headers: Record<string, string> = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: p, localAddress: from, headers, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: performance.now() - started }));
      })
      .on("error", reject);
  });
}
const REMOTE = "127.0.0.6";

describe("admin split", () => {
  let v1: Upstream;
  let v2: Upstream;
  let proxy: MirrorProxy;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "admin-token-"));
  const tokenFile = path.join(dir, "token");
  beforeAll(async () => {
    fs.writeFileSync(tokenFile, "s3cret-token\n");
    v1 = await startUpstream("v1");
    v2 = await startUpstream("v2");
    proxy = await startProxy(
      configText({
        vs: `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: v1 } }]\n      mirror: { host: app, subset: v2 }\n`,
        upstreams: { "app/v1": v1.url, "app/v2": v2.url },
        proxy: `  compare: { routes: ["*"] }\n  adminTokenFile: ${tokenFile}\n`,
      }),
    );
    await request(proxy.port, { path: "/card/4111111111111111" });
  });
  afterAll(async () => {
    await proxy.close();
    await v1.close();
    await v2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("probes and metrics answer any client (where the rendered probes and Prometheus look)", async () => {
    expect((await getFrom(REMOTE, proxy.adminPort, "/healthz")).status).toBe(200);
    expect((await getFrom(REMOTE, proxy.adminPort, "/readyz")).status).toBe(200);
    expect((await getFrom(REMOTE, proxy.adminPort, "/metrics")).body).toContain("mirror_proxy_requests_total");
  });

  test("the comparison is refused to a non-loopback client without the token, with a message saying how to reach it", async () => {
    for (const p of ["/compare", "/compare/summary", "/compare/stats"]) {
      const r = await getFrom(REMOTE, proxy.adminPort, p);
      expect(r.status).toBe(403);
      expect(r.body).toContain(`kubectl port-forward <pod> ${proxy.adminPort}`);
      expect(r.body).not.toContain("4111");
    }
    expect((await getFrom(REMOTE, proxy.adminPort, "/compare", { authorization: "Bearer wrong" })).status).toBe(403);
  });

  test("served to loopback clients (port-forward), and to others with the token", async () => {
    const local = await request(proxy.adminPort, { path: "/compare" });
    expect(local.status).toBe(200);
    expect(JSON.parse(local.body).totals).toBeDefined();
    expect((await getFrom(REMOTE, proxy.adminPort, "/compare/summary", { authorization: "Bearer s3cret-token" })).status).toBe(200);
  });

  test("a rotated token (the Secret's file rewritten) applies at once", async () => {
    fs.writeFileSync(tokenFile, "rotated\n");
    expect((await getFrom(REMOTE, proxy.adminPort, "/compare", { authorization: "Bearer s3cret-token" })).status).toBe(403);
    expect((await getFrom(REMOTE, proxy.adminPort, "/compare", { authorization: "Bearer rotated" })).status).toBe(200);
  });
});
