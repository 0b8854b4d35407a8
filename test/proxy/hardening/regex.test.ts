/**
 * Issue 13, case 1: route regexes are RE2 (linear time). On V8's backtracking engine the
 * probe's `/api/(\w+/?)*` against `/api/` + 28 x `a` + `!` took 4.3 s (23 s on this loaded
 * machine), and every other client waited as long.
 */
import { compileRe2 } from "../../../workloads/mirror-proxy/src/regex.ts";
import { configText, request, startUpstream, type Upstream } from "../helpers.ts";
import { startProxy } from "../helpers.ts";
import type { MirrorProxy } from "../../../workloads/mirror-proxy/src/proxy.ts";

const EVIL = `/api/${"a".repeat(28)}!`;

describe("linear-time route regexes", () => {
  test("the probe's pattern and input, and far longer inputs, match in linear time", () => {
    const re = compileRe2("/api/(\\w+/?)*");
    const t = performance.now();
    expect(re.test(EVIL)).toBe(false);
    expect(re.test(`/api/${"a/".repeat(5000)}!`)).toBe(false);
    expect(re.test(`/api/${"ab/".repeat(5000)}`)).toBe(true);
    expect(performance.now() - t).toBeLessThan(500); // backtracking: hours for the last two
  });

  describe("through the proxy", () => {
    let v1: Upstream;
    let proxy: MirrorProxy;
    beforeAll(async () => {
      v1 = await startUpstream("v1");
      proxy = await startProxy(
        configText({
          vs: `  hosts: ["*"]
  http:
    - name: api
      match: [{ uri: { regex: "/api/(\\\\w+/?)*" } }]
      route: [{ destination: { host: app, subset: v1 } }]
    - name: rest
      route: [{ destination: { host: app, subset: v1 } }]
`,
          upstreams: { "app/v1": v1.url },
        }),
      );
    });
    afterAll(async () => {
      await proxy.close();
      await v1.close();
    });

    test("the probe's path is routed at once and stalls no other client", async () => {
      const [evil, other] = await Promise.all([request(proxy.port, { path: EVIL }), request(proxy.port, { path: "/other" })]);
      expect(evil.status).toBe(200);
      expect(evil.body).toBe(`v1 GET ${EVIL}`); // fell through to the catch-all route
      expect(evil.ms).toBeLessThan(500);
      expect(other.ms).toBeLessThan(500);
      expect((await request(proxy.port, { path: "/api/users/42/" })).status).toBe(200);
    });
  });
});
