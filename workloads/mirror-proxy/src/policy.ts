/**
 * An upstream cluster at run time: its members (the base URLs of one spec.upstreams key) and
 * the DestinationRule traffic policy compiled for it: load balancing, connection pool limits,
 * outlier detection. Each piece is chosen when the config is compiled, so a cluster without a
 * policy costs what it did before: `choose` is plain round-robin, and `tracked` is false, so
 * the proxy never calls `begin`/`end` for it.
 */
import type { BackendPolicy } from "./model.ts";

/** One base URL of an upstream: the key from spec.upstreams (the metrics label) and the parsed URL. */
export interface Upstream {
  key: string;
  hostname: string;
  port: number;
  /** Path prefix of the base URL without a trailing slash ("" for none). */
  basePath: string;
  /** TLS to this member (tls.mode SIMPLE, or an https:// URL). */
  tls: boolean;
  /** Requests in flight to it (kept only when the cluster is `tracked`). */
  active: number;
  /** Outlier detection: consecutive 5xx / gateway errors, ejected until (ms epoch, 0 = not), times ejected. */
  fails5xx: number;
  failsGateway: number;
  ejectedUntil: number;
  ejections: number;
}

/** A member with no load, health or TLS state yet. */
export function newUpstream(u: Pick<Upstream, "key" | "hostname" | "port" | "basePath"> & Partial<Upstream>): Upstream {
  return { tls: false, active: 0, fails5xx: 0, failsGateway: 0, ejectedUntil: 0, ejections: 0, ...u };
}

/** What load balancing may look at in a request. */
export interface HashSource {
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
  queryParam(name: string): string | undefined;
  remoteAddress: string;
  /** Set by a cookie hash policy with a ttl when the request had no cookie: the Set-Cookie value to answer with. */
  setCookie?: string;
}

export interface PolicyEvents {
  ejected(cluster: string): void;
  restored(cluster: string): void;
}

/** FNV-1a, 32 bit. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Cluster {
  readonly key: string;
  /** Replaced as DNS names resolve to other addresses (members.ts). */
  members: Upstream[];
  readonly policy: BackendPolicy | undefined;
  cursor = 0;
  /** True when begin/end must be called around each primary request. */
  readonly tracked: boolean;
  /** Concurrency cap (connectionPool maxConnections / http2MaxRequests) and pending-queue cap. */
  readonly maxActive: number;
  readonly maxPending: number;
  active = 0;
  readonly pending: (() => void)[] = [];
  private readonly events: PolicyEvents | undefined;
  /** Picks the member for a request; undefined when every member is ejected. */
  readonly choose: (src: HashSource | undefined) => Upstream | undefined;

  constructor(key: string, members: Upstream[], policy: BackendPolicy | undefined, events?: PolicyEvents) {
    this.key = key;
    this.members = members;
    this.policy = policy;
    this.events = events;
    const cp = policy?.connectionPool;
    this.maxActive = Math.min(cp?.maxConnections ?? Infinity, cp?.maxRequests ?? Infinity);
    this.maxPending = cp?.maxPending ?? Infinity;
    const lb = policy?.loadBalancer;
    this.tracked = lb?.kind === "least_request" || this.maxActive !== Infinity || policy?.outlier !== undefined;
    const outlier = policy?.outlier !== undefined;
    if (lb?.kind === "hash") {
      const h = lb;
      this.choose = (src) => {
        let key: string | undefined;
        if (src) {
          if (h.header) key = src.header(h.header);
          else if (h.queryParam) key = src.queryParam(h.queryParam);
          else if (h.sourceIp) key = src.remoteAddress;
          else if (h.cookie) {
            key = src.cookie(h.cookie.name);
            if (key === undefined && h.cookie.ttlSec !== undefined) {
              // Envoy: no cookie and a ttl: make one up, hash on it, and hand it to the client.
              key = Math.random().toString(16).slice(2, 18);
              src.setCookie = `${h.cookie.name}=${key}; Max-Age=${Math.floor(h.cookie.ttlSec)}${h.cookie.path ? `; Path=${h.cookie.path}` : ""}; HttpOnly`;
            }
          }
        }
        return key === undefined ? this.randomMember() : this.hashMember(key);
      };
    } else if (lb?.kind === "random") this.choose = () => this.randomMember();
    else if (lb?.kind === "least_request") this.choose = () => this.leastRequest();
    else if (outlier) this.choose = () => this.nextHealthy();
    else this.choose = () => this.next();
  }

  /** Round-robin, ignoring health (no outlier detection). */
  next(): Upstream {
    const m = this.members;
    if (m.length === 1) return m[0];
    const u = m[this.cursor];
    this.cursor = this.cursor + 1 === m.length ? 0 : this.cursor + 1;
    return u;
  }

  /** A member other than `than` when there are several (the next one after it), else the only one. */
  other(than: Upstream): Upstream {
    const m = this.members;
    if (m.length === 1) return m[0];
    return m[(m.indexOf(than) + 1) % m.length];
  }

  private healthy(u: Upstream, now: number): boolean {
    if (u.ejectedUntil === 0) return true;
    if (now < u.ejectedUntil) return false;
    u.ejectedUntil = 0;
    this.events?.restored(this.key);
    return true;
  }

  private nextHealthy(): Upstream | undefined {
    const now = Date.now();
    for (let i = 0; i < this.members.length; i++) {
      const u = this.next();
      if (this.healthy(u, now)) return u;
    }
    return undefined;
  }

  private randomMember(): Upstream | undefined {
    const m = this.members;
    if (this.policy?.outlier === undefined) return m[Math.floor(Math.random() * m.length)];
    const now = Date.now();
    const ok = m.filter((u) => this.healthy(u, now));
    return ok.length === 0 ? undefined : ok[Math.floor(Math.random() * ok.length)];
  }

  /** Envoy's least request: the less busy of two members drawn at random. */
  private leastRequest(): Upstream | undefined {
    const now = Date.now();
    const ok = this.policy?.outlier === undefined ? this.members : this.members.filter((u) => this.healthy(u, now));
    if (ok.length <= 1) return ok[0];
    const a = ok[Math.floor(Math.random() * ok.length)];
    let b = ok[Math.floor(Math.random() * (ok.length - 1))];
    if (b === a) b = ok[ok.length - 1];
    return b.active < a.active ? b : a;
  }

  /** Rendezvous hashing: the same key keeps its member while the member set stays. */
  private hashMember(key: string): Upstream | undefined {
    const now = Date.now();
    let best: Upstream | undefined;
    let bestScore = -1;
    for (const u of this.members) {
      if (this.policy?.outlier !== undefined && !this.healthy(u, now)) continue;
      const score = hash32(`${key}\0${u.hostname}:${u.port}${u.basePath}`);
      if (score > bestScore) {
        bestScore = score;
        best = u;
      }
    }
    return best;
  }

  /**
   * Connection pool admission: runs `start` now, or when a slot frees (queued), or returns
   * false when the pending queue is full too (the caller answers 503 overflow, as Envoy).
   */
  admit(start: () => void): boolean {
    if (this.active < this.maxActive) {
      this.active++;
      start();
      return true;
    }
    if (this.pending.length >= this.maxPending) return false;
    this.pending.push(start);
    return true;
  }

  /** A request admitted by `admit` ended: its slot goes to the next pending one. */
  release(): void {
    this.active--;
    const next = this.pending.shift();
    if (next) {
      this.active++;
      next();
    }
  }

  /** Drops a queued start (its client went away before a slot freed). */
  cancel(start: () => void): void {
    const i = this.pending.indexOf(start);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /**
   * Outlier detection: a primary answer (`status`, 0 for a connect failure or reset) from `u`.
   * Consecutive 5xx (or gateway errors: 502, 503, 504, connect failures) eject the member for
   * baseEjectionTime x times ejected, within maxEjectionPercent (at least one member, as Envoy).
   */
  outcome(u: Upstream, status: number): void {
    const od = this.policy?.outlier;
    if (!od) return;
    const gateway = status === 0 || status === 502 || status === 503 || status === 504;
    if (status === 0 || status >= 500) u.fails5xx++;
    else u.fails5xx = 0;
    if (gateway) u.failsGateway++;
    else u.failsGateway = 0;
    const hit = (od.consecutive5xx !== undefined && u.fails5xx >= od.consecutive5xx) || (od.consecutiveGateway !== undefined && u.failsGateway >= od.consecutiveGateway);
    if (!hit || u.ejectedUntil !== 0) return;
    u.fails5xx = 0;
    u.failsGateway = 0;
    const now = Date.now();
    const ejected = this.members.filter((m) => m.ejectedUntil > now).length;
    if (ejected > 0 && (100 * (ejected + 1)) / this.members.length > od.maxEjectionPercent) return;
    u.ejections++;
    u.ejectedUntil = now + od.baseEjectionMs * u.ejections;
    this.events?.ejected(this.key);
  }
}
