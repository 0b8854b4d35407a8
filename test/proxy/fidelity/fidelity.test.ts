/**
 * Fidelity: every manifest of the Istio corpus (../shared/istio-corpus, real manifests from
 * istio/istio) and of manifests/ (ours, for the fields and cases the corpus lacks), loaded
 * by the real parser and served by the real proxy over sockets, behaves as Istio documents
 * (cases.ts, own-cases.ts). A refusal is exactly one line naming the field and why.
 * The counts are printed at the end (accepted and behaving / refused, by reason).
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CORPUS_CASES, type Case, type Probe } from "./cases.ts";
import { call, corpusFiles, load, readCorpus, readOwn, serve, type Served } from "./harness.ts";
import { OWN_CASES } from "./own-cases.ts";
import { render, type TemplateVars } from "./render.ts";
import { haveOpenssl } from "./tls.ts";

const files = corpusFiles();
const tally = { accepted: 0, refused: [] as string[], own: 0 };

function text(c: Case, v: TemplateVars | undefined): string {
  const raw = c.file.startsWith("own:") ? readOwn(c.file.slice(4)) : readCorpus(c.file);
  const body = raw.includes("{{") ? render(raw, v) : raw;
  return c.extra ? `${body}\n---\n${c.extra}` : body;
}

async function probe(s: Served, p: Probe): Promise<void> {
  const before = new Map(s.ups.map((u) => [u, u.seen.length]));
  const r = await call(s.proxy.port, p.req);
  expect({ probe: p.name, status: r.status }).toEqual({ probe: p.name, status: p.status });
  if (p.upstream !== undefined) expect({ probe: p.name, upstream: r.headers["x-upstream"] ?? null }).toEqual({ probe: p.name, upstream: p.upstream });
  if (p.body !== undefined) expect(r.body).toBe(p.body);
  for (const [k, v] of Object.entries(p.headers ?? {})) expect({ probe: p.name, [k]: r.headers[k] }).toEqual({ probe: p.name, [k]: v });
  if (p.minMs !== undefined) expect(r.ms).toBeGreaterThanOrEqual(p.minMs);
  if (p.maxMs !== undefined) expect(r.ms).toBeLessThan(p.maxMs);
  if (p.seenPath !== undefined || p.seenHeaders !== undefined) {
    const member = Number(r.headers["x-member"] ?? 0);
    const up = s.ups.find((u) => u.key === p.upstream && u.member === member);
    const seen = up?.seen.slice(before.get(up) ?? 0).find((x) => !x.mirrored);
    if (p.seenPath !== undefined) expect({ probe: p.name, path: seen?.url }).toEqual({ probe: p.name, path: p.seenPath });
    for (const [k, v] of Object.entries(p.seenHeaders ?? {})) expect({ probe: p.name, [k]: seen?.headers[k] }).toEqual({ probe: p.name, [k]: v });
  }
}

async function runCase(c: Case, v: TemplateVars | undefined): Promise<void> {
  const manifest = text(c, v);
  // What the parser says of the manifest on its own (with upstreams for all its destinations).
  if (c.refused) {
    const served = await serve(manifest).then(
      async (s) => {
        await s.close();
        return true;
      },
      (e: Error) => e,
    );
    expect(served).toBeInstanceOf(Error);
    const lines = (served as Error).message.split("\n").slice(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(c.refused);
    if (!c.file.startsWith("own:")) tally.refused.push(`${c.file}: ${lines[0].slice(0, 140)}`);
    return;
  }
  const setup = c.setup ? await c.setup() : undefined;
  let served = manifest;
  for (const [k, val] of Object.entries(setup?.replace ?? {})) served = served.replaceAll(k, val);
  const s = await serve(served, { members: c.members, answers: c.answers, proxyExtra: c.proxyExtra, urls: setup?.urls }).catch(async (e: unknown) => {
    await setup?.close();
    throw e;
  });
  try {
    const notes = s.log.filter((l) => l.startsWith("mirror-proxy: note: "));
    for (const n of c.notes ?? []) expect(notes.some((l) => l.includes(n)) ? n : notes).toBe(n);
    for (const p of c.probes ?? []) await probe(s, p);
    if (c.custom) await c.custom(s, v);
  } finally {
    await s.close();
    await setup?.close();
  }
  if (c.file.startsWith("own:")) tally.own++;
  else tally.accepted++;
}

const label = (c: Case, v: TemplateVars | undefined) => `${c.file}${v ? ` ${JSON.stringify(v)}` : ""}`;

describe("the Istio corpus", () => {
  if (!files) {
    test.skip("../shared/istio-corpus is absent (CI lays shared/ beside the checkout): corpus fidelity not checked", () => undefined);
    return;
  }
  test("every corpus manifest has expectations, and every case names a corpus manifest", () => {
    const covered = new Set(CORPUS_CASES.map((c) => c.file));
    expect(files.filter((f) => !covered.has(f))).toEqual([]);
    expect([...covered].filter((f) => !files.includes(f))).toEqual([]);
  });
  for (const c of CORPUS_CASES) {
    const variants = c.variants ?? [undefined];
    for (const v of variants) {
      // The TLS cases make their certificates with openssl.
      (c.setup && !haveOpenssl() ? test.skip : test)(label(c, v), () => runCase(c, v), 60000);
    }
  }
  test("refusals name the corpus manifests' unsupported fields only", () => {
    for (const c of CORPUS_CASES) if (c.refused) expect(load(text(c, c.variants?.[0])).accepted).toBe(false);
  });
});

describe("own manifests (fields and cases the corpus lacks)", () => {
  for (const c of OWN_CASES) for (const v of c.variants ?? [undefined]) (c.setup && !haveOpenssl() ? test.skip : test)(label(c, v), () => runCase(c, v), 60000);
});

test("the README's supported-fields table names exactly the fields the fidelity cases exercise", () => {
  const readme = readFileSync(join(__dirname, "../../../workloads/mirror-proxy/README.md"), "utf8");
  const table = /<!-- fidelity-fields:start -->([\s\S]*?)<!-- fidelity-fields:end -->/.exec(readme)?.[1] ?? "";
  const rows = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]).sort();
  const exercised = [...new Set([...CORPUS_CASES, ...OWN_CASES].flatMap((c) => c.fields))].sort();
  expect(rows).toEqual(exercised);
});

afterAll(() => {
  if (!files) return;
  const corpusCount = CORPUS_CASES.reduce((n, c) => n + (c.variants?.length ?? 1), 0);
  const lines = [
    `fidelity: corpus ${files.length} manifests (${corpusCount} cases with template variants and checks of DestinationRule-only files): ${tally.accepted} accepted and behaving as documented, ${tally.refused.length} refused; own manifests: ${tally.own} cases passed`,
    ...tally.refused.map((r) => `  refused: ${r}`),
  ];
  console.log(lines.join("\n"));
});
