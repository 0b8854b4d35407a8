/**
 * Issue 13, case 3: paths are normalized before routing as Istio does (BASE by default),
 * and the normalized path is forwarded. Before: `/public/../secret`, `%2e%2e` and `..\`
 * reached the `/public` route and went upstream verbatim.
 */
import { normalizePath } from "../../../workloads/mirror-proxy/src/pathNormalization.ts";
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";
import { configText, request, startProxy, startUpstream, type Upstream } from "../helpers.ts";

describe("normalizePath", () => {
  test.each([
    ["/a/b", "/a/b"],
    ["/public/../secret", "/secret"],
    ["/public/%2e%2e/secret", "/secret"],
    ["/public/%2E%2E/secret", "/secret"],
    ["/public/..\\secret", "/secret"],
    ["\\public\\x", "/public/x"],
    ["/a/./b/", "/a/b/"],
    ["/a/..", "/"],
    ["/../../x", "/x"],
    ["/%7euser/%41%2d%5F", "/~user/A-_"],
    ["/a%3fb%2fc", "/a%3Fb%2Fc"], // reserved: stays encoded (hex upper-cased)
    ["/public/..%2fsecret", "/public/..%2Fsecret"], // Istio BASE: %2F is not decoded
    ["/a//b", "/a//b"], // BASE keeps double slashes
    ["/a%zz", "/a%zz"], // not an escape: as sent
    ["/app.js", "/app.js"],
  ])("BASE %s -> %s", (input, want) => {
    expect(normalizePath(input, "BASE")).toBe(want);
  });

  test("the other modes", () => {
    expect(normalizePath("/a//b/../c", "MERGE_SLASHES")).toBe("/a/c");
    expect(normalizePath("/public/..%2fsecret", "DECODE_AND_MERGE_SLASHES")).toBe("/secret");
    expect(normalizePath("/public/..%5csecret", "DECODE_AND_MERGE_SLASHES")).toBe("/secret");
    expect(normalizePath("/public/../secret", "NONE")).toBe("/public/../secret");
    expect(normalizePath("/a%00", "BASE")).toBeUndefined();
    expect(normalizePath("/a%00", "DECODE_AND_MERGE_SLASHES")).toBeUndefined();
  });
});

describe("through the proxy", () => {
  let pub: Upstream;
  let secret: Upstream;
  const proxies: MirrorProxy[] = [];
  const start = async (normalization?: string) => {
    const p = await startProxy(
      configText({
        vs: `  hosts: ["*"]
  http:
    - match: [{ uri: { prefix: /secret } }]
      route: [{ destination: { host: app, subset: v2 } }]
    - match: [{ uri: { prefix: /public } }]
      route: [{ destination: { host: app, subset: v1 } }]
`,
        upstreams: { "app/v1": pub.url, "app/v2": secret.url },
        proxy: normalization ? `  pathNormalization: ${normalization}\n` : "",
      }),
    );
    proxies.push(p);
    return p;
  };
  beforeAll(async () => {
    pub = await startUpstream("public");
    secret = await startUpstream("secret");
  });
  afterAll(async () => {
    for (const p of proxies) await p.close();
    await pub.close();
    await secret.close();
  });

  /** Which upstream answered, and the path it was given. */
  const get = async (p: MirrorProxy, path: string) => (await request(p.port, { path })).body;

  test("BASE (default): dot segments, encoded dots and backslashes route as the normalized path, which is forwarded", async () => {
    const p = await start();
    expect(await get(p, "/public/../secret?q=%2e%2e")).toBe("secret GET /secret?q=%2e%2e");
    expect(await get(p, "/public/%2e%2e/secret")).toBe("secret GET /secret");
    expect(await get(p, "/public/..\\secret")).toBe("secret GET /secret");
    expect(await get(p, "/public/ok")).toBe("public GET /public/ok");
    // As in Istio's BASE, an encoded slash is not a separator: one segment `..%2Fsecret` under /public.
    expect(await get(p, "/public/..%2fsecret")).toBe("public GET /public/..%2Fsecret");
    // Absolute-form targets are normalized too.
    expect(await get(p, "http://a/public/../secret")).toBe("secret GET /secret");
  });

  test("DECODE_AND_MERGE_SLASHES: ..%2f is a dot segment too", async () => {
    const p = await start("DECODE_AND_MERGE_SLASHES");
    expect(await get(p, "/public/..%2fsecret")).toBe("secret GET /secret");
    expect(await get(p, "/public//x")).toBe("public GET /public/x");
  });

  test("NONE: as received", async () => {
    const p = await start("NONE");
    expect(await get(p, "/public/../secret")).toBe("public GET /public/../secret");
  });
});
