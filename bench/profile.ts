// Shares of a V8 CPU profile (`node --cpu-prof`, a .cpuprofile JSON) by part of
// the mirror proxy: each sample's self time goes to the first frame, from the
// leaf up, that belongs to a part (by URL and function name). Node's shared
// plumbing (streams, net, events, the HTTP parser and outgoing message code,
// which server and client both use) belongs to no part: its time goes to the
// caller that does (e.g. a header parsed under the client's socketOnData is the
// primary client's); where no caller does (a callback straight from the event
// loop or the tick queue, e.g. pipe()'s res.end()), it is "node plumbing".
// The socket write syscalls are a part of their own, whoever calls them: on
// loopback a write also runs the receiver's TCP stack, and V8 samples the main
// thread by wall time, so time descheduled in a write shows there too.
// Pure, no relative imports (unit-tested in test/bench/).

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; scriptId?: string | number; lineNumber?: number; columnNumber?: number };
  children?: number[];
  hitCount?: number;
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export const PARTS = ["http server", "primary client", "shadow client", "routing", "headers", "metrics", "compare", "proxy glue", "gc", "socket writes", "node plumbing", "other"] as const;
export type Part = (typeof PARTS)[number];

/** proxy.ts functions that only read or build header lists. */
const HEADER_FUNCTIONS = new Set(["forwardRequest", "endToEndRaw", "connectionNamed", "shadowHeaderBlock", "shadowAuthority"]);
/** proxy.ts functions of the mirror side (sampling aside). */
const SHADOW_FUNCTIONS = new Set(["sendCopy", "sendCopies", "onSettle"]);

/** Native frames of stream_base_commons that do the write syscalls. */
const WRITE_SYSCALLS = /^write(v|Buffer|Utf8String|Latin1String|AsciiString|Ucs2String)$/;

const base = (url: string) => url.slice(url.lastIndexOf("/") + 1).replace(/\.(ts|js|mjs|cjs)$/, "");

/**
 * The part a frame belongs to; undefined for shared plumbing (the caller decides),
 * "idle" for V8's idle pseudo-frame (left out of the shares).
 */
export function partOf(frame: CpuProfileNode["callFrame"]): Part | "idle" | undefined {
  const { functionName: fn, url } = frame;
  if (fn === "(garbage collector)") return "gc";
  if (fn === "(idle)") return "idle";
  if (fn === "(program)") return "other";
  if (fn === "(root)") return undefined;
  if (url === "") return WRITE_SYSCALLS.test(fn) ? "socket writes" : undefined; // other native frames (parser.execute...): their caller's
  if (/\/compare\//.test(url)) return "compare";
  if (/prom-client|\/(metrics|prom|plainMetrics)\.(ts|js)$/.test(url)) return "metrics";
  if (/\/undici\//.test(url)) return "primary client";
  const inProxy = /mirror-proxy\/src\//.test(url);
  if (inProxy) {
    const file = base(url);
    if (file === "shadow") return "shadow client";
    if (file === "intake") return "http server"; // request intake limits (issue 13)
    if (/^(routing|regex|re2|actions)|normali[sz]|^path/i.test(file)) return "routing";
    if (/balanc|pool|policy|outlier|retr|primary|upstream|resolv|members/i.test(file)) return "primary client";
    if (file === "proxy") {
      if (HEADER_FUNCTIONS.has(fn)) return "headers";
      if (SHADOW_FUNCTIONS.has(fn)) return "shadow client";
      return "proxy glue";
    }
    return "other";
  }
  if (url === "node:_http_server") return "http server";
  if (url === "node:_http_client" || url === "node:_http_agent") return "primary client";
  if (url.startsWith("node:")) return undefined; // shared plumbing
  return "other";
}

export interface Shares {
  /** Non-idle sampled time, ms. */
  totalMs: number;
  /** Idle time, ms (left out of the shares). */
  idleMs: number;
  samples: number;
  /** Fraction (0..1) of totalMs per part. */
  share: Record<Part, number>;
}

export function profileShares(profile: CpuProfile): Shares {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self time per node: with samples/timeDeltas, the delta after a sample belongs to it
  // (as Chrome DevTools counts); otherwise hitCount x the mean interval.
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0) {
    for (let i = 0; i < samples.length; i++) {
      const dt = i + 1 < deltas.length ? deltas[i + 1] : 0;
      self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, dt));
    }
  } else {
    const hits = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
    const per = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
    for (const n of profile.nodes) if (n.hitCount) self.set(n.id, n.hitCount * per);
  }
  // The part of the node or, when it has none, of its nearest ancestor that has one;
  // with none up to the root: node plumbing when a node: frame is on the way, else other.
  const memo = new Map<number, Part | "idle" | null>();
  const nearest = (id: number): Part | "idle" | null => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const up = parent.get(id);
    const r = partOf(byId.get(id)!.callFrame) ?? (up === undefined ? null : nearest(up));
    memo.set(id, r);
    return r;
  };
  const classify = (id: number): Part | "idle" => {
    const p = nearest(id);
    if (p !== null) return p;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (byId.get(cur)!.callFrame.url.startsWith("node:")) return "node plumbing";
    }
    return "other";
  };
  const us = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  let idle = 0;
  for (const [id, t] of self) {
    const p = classify(id);
    if (p === "idle") idle += t;
    else us[p] += t;
  }
  const total = PARTS.reduce((a, p) => a + us[p], 0);
  const share = Object.fromEntries(PARTS.map((p) => [p, total > 0 ? us[p] / total : 0])) as Record<Part, number>;
  return { totalMs: total / 1000, idleMs: idle / 1000, samples: samples.length, share };
}

/** One markdown table: a row per part, a column per profile. */
export function renderShares(named: { name: string; shares: Shares }[]): string {
  const head = ["part", ...named.map((n) => n.name)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const p of PARTS) lines.push(`| ${p} | ${named.map((n) => `${(100 * n.shares.share[p]).toFixed(1)} %`).join(" | ")} |`);
  lines.push(`| (CPU sampled, s) | ${named.map((n) => (n.shares.totalMs / 1000).toFixed(1)).join(" | ")} |`);
  return lines.join("\n");
}
