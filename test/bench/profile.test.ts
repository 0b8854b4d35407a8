import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { partOf, profileShares, renderShares, type CpuProfile } from "../../bench/profile";

const SRC = "file:///app/workloads/mirror-proxy/src";

/** A profile from a list of stacks (root first) with the self time, in µs, of their last frame. */
function profileOf(stacks: [string[], number][]): CpuProfile {
  const nodes: CpuProfile["nodes"] = [{ id: 1, callFrame: { functionName: "(root)", url: "" }, children: [] }];
  const samples: number[] = [];
  const timeDeltas: number[] = [0];
  for (const [stack, us] of stacks) {
    let cur = nodes[0];
    for (const f of stack) {
      const [functionName, url = ""] = f.split("@");
      let next = (cur.children ?? []).map((c) => nodes.find((n) => n.id === c)!).find((n) => n.callFrame.functionName === functionName && n.callFrame.url === url);
      if (!next) {
        next = { id: nodes.length + 1, callFrame: { functionName, url }, children: [] };
        nodes.push(next);
        cur.children!.push(next.id);
      }
      cur = next;
    }
    samples.push(cur.id);
    timeDeltas.push(us);
  }
  return { nodes, startTime: 0, endTime: timeDeltas.reduce((a, b) => a + b, 0), samples, timeDeltas };
}

describe("bench: CPU profile shares by part", () => {
  it("classifies frames by URL and function name", () => {
    expect(partOf({ functionName: "parserOnIncoming", url: "node:_http_server" })).toBe("http server");
    expect(partOf({ functionName: "addRequest", url: "node:_http_agent" })).toBe("primary client");
    expect(partOf({ functionName: "onData", url: `${SRC}/shadow.ts` })).toBe("shadow client");
    expect(partOf({ functionName: "selectRoute", url: `${SRC}/routing.ts` })).toBe("routing");
    expect(partOf({ functionName: "forwardRequest", url: `${SRC}/proxy.ts` })).toBe("headers");
    expect(partOf({ functionName: "sendCopy", url: `${SRC}/proxy.ts` })).toBe("shadow client");
    expect(partOf({ functionName: "handle", url: `${SRC}/proxy.ts` })).toBe("proxy glue");
    expect(partOf({ functionName: "inc", url: "file:///app/node_modules/prom-client/lib/counter.js" })).toBe("metrics");
    expect(partOf({ functionName: "diff", url: `${SRC}/compare/diff.ts` })).toBe("compare");
    expect(partOf({ functionName: "observe", url: `${SRC}/plainMetrics.ts` })).toBe("metrics");
    expect(partOf({ functionName: "admit", url: `${SRC}/intake.ts` })).toBe("http server");
    expect(partOf({ functionName: "choose", url: `${SRC}/policy.ts` })).toBe("primary client");
    expect(partOf({ functionName: "normalizePath", url: `${SRC}/pathNormalization.ts` })).toBe("routing");
    expect(partOf({ functionName: "(garbage collector)", url: "" })).toBe("gc");
    expect(partOf({ functionName: "writev", url: "" })).toBe("socket writes");
    // Shared plumbing and other native frames: the caller decides.
    expect(partOf({ functionName: "write_", url: "node:_http_outgoing" })).toBeUndefined();
    expect(partOf({ functionName: "execute", url: "" })).toBeUndefined();
  });

  it("gives shared plumbing to the nearest caller with a part, the rest to node plumbing or other; idle is left out", () => {
    const s = profileShares(
      profileOf([
        [["socketOnData@node:_http_client", "execute", "parserOnHeadersComplete@node:_http_common"], 300], // primary client
        [["parserOnHeadersComplete@node:_http_common", "parserOnIncoming@node:_http_server", "handle@" + SRC + "/proxy.ts", "selectRoute@" + SRC + "/routing.ts"], 100],
        [["parserOnHeadersComplete@node:_http_common", "parserOnIncoming@node:_http_server", "handle@" + SRC + "/proxy.ts"], 100], // glue
        [["parserOnHeadersComplete@node:_http_common", "parserOnIncoming@node:_http_server"], 100], // server
        [["processTicksAndRejections@node:internal/process/task_queues", "endReadableNT@node:internal/streams/readable", "end@node:_http_outgoing"], 200], // plumbing
        [["processTicksAndRejections@node:internal/process/task_queues", "uncork@" + SRC + "/shadow.ts", "writev"], 100], // socket writes
        [["(garbage collector)"], 50],
        [["(program)"], 50],
        [["(idle)"], 5000],
      ]),
    );
    expect(s.idleMs).toBeCloseTo(5);
    expect(s.totalMs).toBeCloseTo(1);
    expect(s.samples).toBe(9);
    expect(s.share).toEqual({
      "http server": 0.1,
      "primary client": 0.3,
      "shadow client": 0,
      routing: 0.1,
      headers: 0,
      metrics: 0,
      compare: 0,
      "proxy glue": 0.1,
      gc: 0.05,
      "socket writes": 0.1,
      "node plumbing": 0.2,
      other: 0.05,
    });
    const table = renderShares([{ name: "proxy-fast", shares: s }]);
    expect(table).toMatch(/^\| part \| proxy-fast \|/);
    expect(table).toMatch(/\| primary client \| 30\.0 % \|/);
  });

  it("reads a real profile written by node --cpu-prof", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prof-"));
    try {
      // A busy loop in a file named like the proxy's routing module.
      const src = path.join(dir, "workloads", "mirror-proxy", "src");
      fs.mkdirSync(src, { recursive: true });
      fs.writeFileSync(path.join(src, "routing.js"), "let x = 0; const end = Date.now() + 300; while (Date.now() < end) x += Math.sqrt(x + 1); console.log(x > 0);\n");
      const r = spawnSync(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-name=p.cpuprofile", path.join(src, "routing.js")], { encoding: "utf8" });
      expect(r.status).toBe(0);
      const s = profileShares(JSON.parse(fs.readFileSync(path.join(dir, "p.cpuprofile"), "utf8")));
      expect(s.samples).toBeGreaterThan(50);
      expect(s.share.routing).toBeGreaterThan(0.5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
