/**
 * The comparison dashboard, `GET /compare/ui` on the admin port (a protected route: it
 * shows traffic data). One self-contained page, no CDN, no external request: per route the
 * figures (compared, coverage, difference rate with its 95 % interval, shadow errors,
 * skips, latency delta), the top differing paths with an example, the newest mismatch side
 * by side (v1 value, v2 value), and the latency-delta histogram as an inline SVG chart.
 * It polls `/compare/ui.json` (the replica's `/compare/stats` plus the figures stats.ts
 * derives) every 2 s.
 *
 * Safety: every value from traffic (paths, keys, values, request lines, hosts) reaches the
 * page only through `textContent` / `createTextNode` / `setAttribute` of fixed attribute
 * names; the script never parses HTML. The Content-Security-Policy allows exactly this
 * page's own script and style (by hash) and `connect-src 'self'`, so even a bug there could
 * not run an injected handler or reach another origin.
 */
import { createHash } from "node:crypto";
import type http from "node:http";
import { figures, type CompareStats, type RouteFigures } from "./stats.ts";

export interface DashboardData {
  stats: CompareStats;
  figures: Record<string, RouteFigures>;
}

export function dashboardData(stats: CompareStats): DashboardData {
  return { stats, figures: Object.fromEntries(Object.entries(stats.routes).map(([route, r]) => [route, figures(r, stats.latencyDeltaBuckets)])) };
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 20px}h1{font-size:18px;margin:0}
#status{margin:4px 0 0;color:#b8c0d0;font-size:12px}main{padding:12px 20px;display:grid;gap:16px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 16px}
h2{font-size:15px;margin:0 0 8px;font-family:ui-monospace,monospace}
.figs{display:flex;flex-wrap:wrap;gap:8px 24px;margin-bottom:8px}.fig b{display:block;font-size:18px}
.fig span{color:#5a6478;font-size:12px}.bad b{color:#b3261e}.ok b{color:#1e7b34}
table{border-collapse:collapse;width:100%;margin:6px 0}td,th{border-top:1px solid #eceef2;padding:3px 6px;text-align:left;vertical-align:top}
th{font-size:12px;color:#5a6478;font-weight:600}td.v{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
td.v1{background:#fdf1f0}td.v2{background:#eef7ee}h3{font-size:13px;margin:10px 0 2px}
.muted{color:#5a6478;font-size:12px}svg{width:100%;max-width:720px;height:150px}svg text{font-size:9px;fill:#5a6478}
svg rect{fill:#4a78c2}svg rect.neg{fill:#2e9c59}svg rect.pos{fill:#c2564a}`;

const SCRIPT = `"use strict";
const REFRESH_MS = 2000;
function el(tag, cls, ...kids) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
const pct = (f) => (f * 100).toFixed(f === 0 || f >= 0.1 ? 1 : 2).replace(/\\.0$/, "") + " %";
const ms = (s) => (s === undefined || s === null ? "–" : (s > 0 ? "+" : "") + Number((s * 1000).toFixed(Math.abs(s) >= 0.01 ? 0 : 1)) + " ms");
const json = (v) => (v === undefined ? "(absent)" : JSON.stringify(v));
function fig(label, value, cls) {
  return el("div", "fig" + (cls ? " " + cls : ""), el("b", "", value), el("span", "", label));
}
function chart(bounds, counts) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 720 150");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "latency delta histogram (v2 minus v1)");
  const max = Math.max(1, ...counts);
  const w = 720 / counts.length;
  counts.forEach((n, i) => {
    const h = (n / max) * 110;
    const r = document.createElementNS(NS, "rect");
    r.setAttribute("x", String(i * w + 1));
    r.setAttribute("y", String(120 - h));
    r.setAttribute("width", String(w - 2));
    r.setAttribute("height", String(h));
    const upper = i < bounds.length ? bounds[i] : Infinity;
    r.setAttribute("class", upper <= 0 ? "neg" : "pos");
    const t = document.createElementNS(NS, "title");
    t.textContent = (i < bounds.length ? "≤ " + ms(upper) : "> " + ms(bounds[bounds.length - 1])) + ": " + n;
    r.append(t);
    svg.append(r);
    if (i % 2 === 0 || i === counts.length - 1) {
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", String(i * w + w / 2));
      label.setAttribute("y", "134");
      label.setAttribute("text-anchor", "middle");
      label.textContent = i < bounds.length ? String(Math.round(upper * 1000 * 10) / 10) : "+Inf";
      svg.append(label);
    }
  });
  const unit = document.createElementNS(NS, "text");
  unit.setAttribute("x", "360");
  unit.setAttribute("y", "148");
  unit.setAttribute("text-anchor", "middle");
  unit.textContent = "v2 − v1, ms (bucket upper bounds; green: v2 faster)";
  svg.append(unit);
  return svg;
}
function routeCard(name, r, f, bounds) {
  const [lo, hi] = f.differingInterval;
  const s = el("section", "route");
  s.dataset.route = name;
  s.append(el("h2", "", name));
  const skipped = Object.entries(r.skipped).filter(([, n]) => n > 0).map(([k, n]) => k + " " + n).join(", ") || "none";
  s.append(el("div", "figs",
    fig("mirrored", f.mirrored),
    fig("compared (coverage " + pct(f.coverage) + ")", f.compared),
    fig("differ, 95 % CI " + pct(lo) + "–" + pct(hi), pct(f.differingRate), f.differing > 0 ? "bad" : f.compared > 0 ? "ok" : ""),
    fig("shadow errors (" + f.shadowErrors + ")", pct(f.shadowErrorRate), f.shadowErrors > 0 ? "bad" : ""),
    fig("latency delta p50 / p90", ms(f.latencyDelta.p50) + " / " + ms(f.latencyDelta.p90)),
  ));
  s.append(el("p", "muted", "skipped: " + skipped + (r.noiseLearned.length ? " · noise learned (not compared): " + r.noiseLearned.join(", ") : "")));
  if (r.topDifferences.length) {
    s.append(el("h3", "", "Top differing paths"));
    const t = el("table", "top", el("tr", "", el("th", "", "path"), el("th", "", "count"), el("th", "", "example (v1 → v2)")));
    for (const p of r.topDifferences.slice(0, 10)) {
      const d = p.example && p.example.difference;
      t.append(el("tr", "", el("td", "v", p.path), el("td", "", p.count), el("td", "v", d ? d.path + ": " + json(d.primary) + " → " + json(d.shadow) : "")));
    }
    s.append(t);
  }
  const m = r.lastMismatch;
  if (m) {
    s.append(el("h3", "", "Newest mismatch: "), el("p", "muted example-request", m.request + " (Host " + m.host + ", " + m.time + ")"));
    const t = el("table", "mismatch", el("tr", "", el("th", "", "path"), el("th", "", "v1"), el("th", "", "v2")));
    for (const d of m.differences) t.append(el("tr", "", el("td", "v", d.path), el("td", "v v1", d.kind === "added" ? "(absent)" : json(d.primary)), el("td", "v v2", d.kind === "removed" ? "(absent)" : json(d.shadow))));
    if (m.omitted) t.append(el("tr", "", el("td", "muted", "… " + m.omitted + " more")));
    s.append(t);
  }
  s.append(el("h3", "", "Latency delta (" + r.latencyDelta.count + " pairs)"), chart(bounds, r.latencyDelta.counts));
  return s;
}
async function refresh() {
  const status = document.getElementById("status");
  try {
    const res = await fetch("/compare/ui.json", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status + ": " + (await res.text()));
    const data = await res.json();
    const main = document.getElementById("routes");
    const names = Object.keys(data.stats.routes);
    main.replaceChildren(...names.map((n) => routeCard(n, data.stats.routes[n], data.figures[n], data.stats.latencyDeltaBuckets)));
    if (!names.length) main.append(el("p", "muted", "No compared route yet."));
    status.textContent = "replica " + data.stats.replicas.join(", ") + " · updated " + new Date().toLocaleTimeString() + " · refreshes every " + REFRESH_MS / 1000 + " s";
  } catch (e) {
    status.textContent = "cannot read /compare/ui.json: " + e.message;
  }
}
refresh();
setInterval(refresh, REFRESH_MS);
`;

const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>mirror-proxy: v2 compared with v1</title><style>${STYLE}</style></head>
<body><header><h1>mirror-proxy: v2 compared with v1</h1><p id="status">loading…</p></header>
<main id="routes"></main><script>${SCRIPT}</script></body></html>
`;

const HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-length": String(Buffer.byteLength(PAGE)),
  "content-security-policy": `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** Serves the page (HEAD and GET). */
export function serveDashboard(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, HEADERS);
  res.end(req.method === "HEAD" ? undefined : PAGE);
}
