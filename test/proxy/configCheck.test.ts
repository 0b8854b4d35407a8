/**
 * The config check runs in a child process (configCheck.ts): the real CLI, with a module hook
 * (given to node with --import, which the checker inherits) that logs every module each
 * process resolves. The serving process must never resolve yaml, zod or the schema modules;
 * the checker must (so the test would see the check moving back). What the split is for
 * (heap) is measured by `npm run bench`.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkConfig, checkerBeside, checkerFlags } from "../../workloads/mirror-proxy/src/configCheck.ts";
import { ConfigError } from "../../workloads/mirror-proxy/src/proxyConfig.ts";
import { configText, startUpstream, waitFor, type Upstream } from "./helpers.ts";

const ROOT = resolve(__dirname, "../..");
const NODE = join(ROOT, "node_modules/.bin/node");
const MAIN = join(ROOT, "workloads/mirror-proxy/src/main.ts");

// Logs "<pid> <url>" for every module resolved, in every process started with it.
const HOOK = `import { registerHooks } from "node:module";
import { appendFileSync } from "node:fs";
registerHooks({
  resolve(specifier, context, nextResolve) {
    const r = nextResolve(specifier, context);
    appendFileSync(process.env.MODULE_LOG, process.pid + " " + r.url + "\\n");
    return r;
  },
});
`;
// What only validation needs: the YAML parser, zod, and the modules that build schemas.
const VALIDATION_ONLY = /\/node_modules\/(yaml|zod)\/|\/mirror-proxy\/src\/(config|istio|httpRoute|syntax|copyHeaders|configChecker)\.ts$|\/compare\/(settings|redactSchema)\.ts$/;

let dir: string;
let upstream: Upstream;
let text: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mirror-proxy-check-"));
  upstream = await startUpstream("a");
  text = configText({ vs: `  hosts: ["*"]\n  http:\n    - route: [{ destination: { host: app, subset: a } }]\n`, upstreams: { "app/a": upstream.url } });
});

afterAll(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the serving process never loads yaml, zod or the schemas; the checker process does", async () => {
  writeFileSync(join(dir, "hook.mjs"), HOOK);
  writeFileSync(join(dir, "routing.yaml"), text);
  const log = join(dir, "modules.log");
  const child = spawn(NODE, ["--import", join(dir, "hook.mjs"), MAIN, "--config", join(dir, "routing.yaml"), "--listen", "0", "--admin", "0", "--host", "127.0.0.1"], {
    cwd: ROOT,
    env: { ...process.env, MODULE_LOG: log },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  try {
    await waitFor(() => /admin on http/.test(out), 15000, `startup (${out})`);
    const byPid = new Map<string, string[]>();
    for (const line of readFileSync(log, "utf8").trim().split("\n")) {
      const [pid, url] = line.split(" ");
      byPid.set(pid, [...(byPid.get(pid) ?? []), url]);
    }
    const serving = byPid.get(String(child.pid)) ?? [];
    const checking = [...byPid.entries()].filter(([pid]) => pid !== String(child.pid)).flatMap(([, urls]) => urls);
    expect(serving.some((u) => u.endsWith("/mirror-proxy/src/proxy.ts"))).toBe(true); // the hook saw the serving modules
    expect(serving.filter((u) => VALIDATION_ONLY.test(u))).toEqual([]);
    expect(checking.some((u) => u.includes("/node_modules/zod/"))).toBe(true);
    expect(checking.some((u) => u.includes("/node_modules/yaml/"))).toBe(true);
    expect(checking.some((u) => u.endsWith("/mirror-proxy/src/config.ts"))).toBe(true);
  } finally {
    child.kill("SIGKILL");
  }
});

test("checkConfig answers with the config parseMirrorProxyConfig returns, or a ConfigError naming every problem", async () => {
  const checker = checkerBeside(MAIN);
  expect(checker).toBe(join(ROOT, "workloads/mirror-proxy/src/configChecker.ts"));
  const config = await checkConfig(text, checker);
  expect(config.virtualServices.map((vs) => vs.name)).toEqual(["app"]);
  expect(config.proxy.upstreams).toEqual({ "app/a": upstream.url });

  const bad = text.replace("subset: a }", "subset: zz }").replace(`app/a: ${upstream.url}`, `app/a: ftp://nowhere`);
  const err = await checkConfig(bad, checker).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  const message = (err as ConfigError).message;
  expect(message).toContain('no upstream for "app/zz"');
  expect(message).toContain("spec.upstreams");
  expect((err as ConfigError).problems.length).toBeGreaterThanOrEqual(2);
});

test("a checker that is not there, or hangs, is an error naming it, not a hang of the proxy", async () => {
  const missing = join(dir, "configChecker.ts");
  await expect(checkConfig(text, missing)).rejects.toThrow(missing);
  const hanging = join(dir, "hang.mjs");
  writeFileSync(hanging, "setInterval(() => {}, 1000);\n");
  await expect(checkConfig(text, hanging, 500)).rejects.toThrow(`config check (${hanging}) took over 500 ms`);
});

test("the checker keeps the V8 and module flags, not a debugger or profiler of the proxy's", () => {
  expect(
    checkerFlags(["--max-semi-space-size=2", "--cpu-prof", "--cpu-prof-dir", "/prof", "--cpu-prof-name=a.cpuprofile", "--inspect-brk=0", "--heap-prof", "--import", "hook.mjs", "--no-concurrent-recompilation", "--prof"]),
  ).toEqual(["--max-semi-space-size=2", "--import", "hook.mjs", "--no-concurrent-recompilation"]);
});

test("a proxy run with --cpu-prof writes one profile, its own (the checker's would land beside it)", async () => {
  const profiles = join(dir, "profiles");
  mkdirSync(profiles);
  writeFileSync(join(dir, "routing.yaml"), text);
  const child = spawn(NODE, ["--cpu-prof", `--cpu-prof-dir=${profiles}`, MAIN, "--config", join(dir, "routing.yaml"), "--listen", "0", "--admin", "0", "--host", "127.0.0.1"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise((r) => child.once("exit", r));
  await waitFor(() => /admin on http/.test(out), 15000, `startup (${out})`);
  child.kill("SIGTERM");
  await exited;
  const written = readdirSync(profiles);
  expect(written).toHaveLength(1);
  expect(written[0]).toContain(`.${child.pid}.`); // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
});
