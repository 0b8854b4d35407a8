// The comparison dashboard (/compare/ui) in a real browser: Debian's headless
// Chromium driven by playwright-core (no browser download). A real proxy
// compares the real movies service's v1 and v2, and a hostile route whose v2
// answers carry <script> and <img onerror> markup in values and keys: the page
// shows them as text and never runs them; it refreshes by itself; it asks for
// nothing but its own origin. The screenshot is kept in .tmp/artifacts/.
import { existsSync, mkdirSync } from "node:fs";
import type http from "node:http";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { startMoviesServer } from "../../workloads/movies/src/server.ts";
import { appendKey, ROOT } from "../../workloads/mirror-proxy/src/compare/jsonPath.ts";
import type { MirrorProxy } from "../../workloads/mirror-proxy/src/proxy.ts";
import { DR, request, startProxy, startUpstream, waitFor, type Upstream } from "../proxy/helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = path.resolve(__dirname, "../../.tmp/artifacts");
const SCRIPT = "<script>window.__pwned = 'script'</script>";
const IMG = `<img src=x onerror="window.__pwned = 'img'">`;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`dashboard browser test skipped: no ${CHROMIUM} (apt-get install chromium)`);
const describeBrowser = haveChromium ? describe : describe.skip;

const vs = (name: string, host: string, subsets: [string, string]) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name} }
spec:
  hosts: ["${host}"]
  http:
    - name: mirror
      route: [{ destination: { host: ${name}, subset: ${subsets[0]} } }]
      mirror: { host: ${name}, subset: ${subsets[1]} }`;

/** v1 answers plain values; v2 the same keys with markup values, plus a key that is markup. */
function hostile(version: "v1" | "v2") {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = JSON.stringify(version === "v1" ? { title: "ok", note: "plain" } : { title: SCRIPT, note: IMG, [IMG]: 1 });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
}

describeBrowser("/compare/ui in headless Chromium", () => {
  let browser: Browser;
  let proxy: MirrorProxy;
  let movies: Array<Awaited<ReturnType<typeof startMoviesServer>>> = [];
  let ups: Upstream[] = [];

  beforeAll(async () => {
    const quiet = { port: 0, host: "127.0.0.1", log: () => undefined };
    movies = await Promise.all([startMoviesServer({ version: "v1", ...quiet }), startMoviesServer({ version: "v2", ...quiet })]);
    ups = await Promise.all([startUpstream("hv1", hostile("v1")), startUpstream("hv2", hostile("v2"))]);
    proxy = await startProxy(
      [
        DR("movies", "movies"),
        DR("hostile", "hostile"),
        vs("movies", "movies.example", ["v1", "v2"]),
        vs("hostile", "hostile.example", ["v1", "v2"]),
        `apiVersion: traffic-mirroring/v1
kind: MirrorProxy
spec:
  upstreams: { movies/v1: "${movies[0].url}", movies/v2: "${movies[1].url}", hostile/v1: "${ups[0].url}", hostile/v2: "${ups[1].url}" }
  compare: { routes: ["*"], ignorePaths: ["$[*].version"] }`,
      ].join("\n---\n"),
      { replica: "mirror-proxy-test" },
    );
    for (let i = 0; i < 20; i++) await request(proxy.port, { headers: { host: "movies.example" } });
    for (let i = 0; i < 3; i++) await request(proxy.port, { headers: { host: "hostile.example" } });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await Promise.all([...movies, ...ups].map((s) => s.close()));
  });

  test("figures, top paths, a mismatch side by side and the latency chart; markup from traffic is text, never run; it refreshes itself", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    const origins = new Set<string>();
    page.on("request", (r) => origins.add(new URL(r.url()).origin));
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));

    await page.goto(`http://127.0.0.1:${proxy.adminPort}/compare/ui`);
    await page.waitForSelector('section[data-route="hostile/mirror"] table.mismatch');
    const movies = page.locator('section[data-route="movies/mirror"]');
    await waitFor(async () => (await movies.locator(".fig").nth(1).locator("b").textContent()) === "20", 5000, "20 compared shown");
    expect(await movies.locator(".fig").nth(2).locator("b").textContent()).toBe("100 %");
    expect(await movies.locator("table.top").textContent()).toContain("$[*].rating");
    expect(await movies.locator("table.top").textContent()).toMatch(/\$\[\d\]\.year: 1999 → 2000/);
    // The newest mismatch side by side: v1's value in one cell, v2's in the next.
    const row = movies.locator("table.mismatch tr", { hasText: ".year" }).first();
    expect(await row.locator("td.v1").textContent()).toBe("1999");
    expect(await row.locator("td.v2").textContent()).toBe("2000");
    // The chart: one bar per latency-delta bucket.
    expect(await movies.locator("svg rect").count()).toBe(24);

    // Hostile values and keys are shown literally...
    const hostileText = (await page.locator('section[data-route="hostile/mirror"]').textContent()) ?? "";
    expect(hostileText).toContain(JSON.stringify(SCRIPT));
    expect(hostileText).toContain(JSON.stringify(IMG));
    expect(hostileText).toContain(appendKey(ROOT, IMG)); // the key, as a JSON path
    // ...and never become elements or run.
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("script").count()).toBe(1); // the page's own
    expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);

    // Refreshes by itself: more traffic shows up without a reload.
    for (let i = 0; i < 5; i++) await request(proxy.port, { headers: { host: "movies.example" } });
    await waitFor(async () => (await movies.locator(".fig").nth(1).locator("b").textContent()) === "25", 10_000, "25 compared shown without a reload");

    // Self-contained: nothing but the admin origin was asked for.
    expect([...origins]).toEqual([`http://127.0.0.1:${proxy.adminPort}`]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });
    await page.close();
  });

  test("the page and its data carry a strict Content-Security-Policy and no-store", async () => {
    const page = await request(proxy.adminPort, { path: "/compare/ui" });
    expect(page.status).toBe(200);
    expect(page.headers["content-security-policy"]).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self'/);
    expect(page.headers["cache-control"]).toBe("no-store");
    expect(Buffer.byteLength(page.body)).toBeLessThan(16 * 1024); // small
    const data = await request(proxy.adminPort, { path: "/compare/ui.json" });
    expect(JSON.parse(data.body).figures["movies/mirror"].compared).toBeGreaterThan(0);
  });
});
