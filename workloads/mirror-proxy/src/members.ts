// Upstream members from DNS. An upstream URL whose host is a DNS name stands for
// every address the name resolves to: in the cluster, a headless Service
// (`<app>-v1`, clusterIP: None) answers one A record per ready pod, so the pods
// become separate members of the group (round-robin; the comparison's noise copy
// goes to another pod than the primary). Re-resolved every few seconds as pods
// come and go; an IP literal or `localhost` is used as written.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Routing, Upstream, UpstreamGroup } from "./routing.ts";

/** CoreDNS's default TTL for Service records. */
export const DEFAULT_RESOLVE_INTERVAL_MS = 5000;
/** A lookup slower than this counts as failed (the previous members stay). */
const LOOKUP_TIMEOUT_MS = 2000;

/** Every address of a name. */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true });

/** Whether a configured member's host is a name to resolve. */
export function isResolvable(hostname: string): boolean {
  return isIP(hostname) === 0 && hostname.toLowerCase() !== "localhost";
}

/** Addresses of one family, sorted: IPv4 when there is any, else IPv6 (a dual-stack pod stays one member). */
export function preferredAddresses(found: ReadonlyArray<{ address: string; family: number }>): string[] {
  const v4 = found.filter((a) => a.family === 4);
  return [...new Set((v4.length > 0 ? v4 : found).map((a) => a.address))].sort();
}

/**
 * The group's members: each configured member replaced by one member per address of its
 * host (`resolved`), or kept as written when its host is not resolved. Members already in
 * `previous` are reused, so their connections (keyed per Upstream object) stay warm.
 */
export function expandMembers(configured: readonly Upstream[], resolved: ReadonlyMap<string, readonly string[]>, previous: readonly Upstream[]): Upstream[] {
  const same = (a: Upstream, b: Upstream) => a.hostname === b.hostname && a.port === b.port && a.basePath === b.basePath;
  const out: Upstream[] = [];
  for (const u of configured) {
    const addresses = resolved.get(u.hostname);
    const wanted = addresses && addresses.length > 0 ? addresses.map((hostname) => ({ ...u, hostname })) : [u];
    for (const w of wanted) out.push(previous.find((p) => same(p, w)) ?? w);
  }
  return out;
}

function sameMembers(a: readonly Upstream[], b: readonly Upstream[]): boolean {
  return a.length === b.length && a.every((u, i) => u === b[i]);
}

export interface MemberResolverOptions {
  intervalMs?: number;
  resolver?: Resolver;
  log?: (line: string) => void;
}

/** Keeps the groups of the current routing expanded to their hosts' addresses. */
export class MemberResolver {
  private readonly intervalMs: number;
  private readonly resolver: Resolver;
  private readonly log: (line: string) => void;
  private timer: NodeJS.Timeout | undefined;
  /** The members each group was compiled with (URLs as written). */
  private configured = new Map<UpstreamGroup, Upstream[]>();
  /** Hosts whose last lookup failed, so a failure is logged once, not every interval. */
  private failing = new Set<string>();
  /** The addresses of each host at its last successful lookup. */
  private lastGood = new Map<string, string[]>();
  private generation = 0;

  constructor(options: MemberResolverOptions = {}) {
    this.intervalMs = options.intervalMs ?? DEFAULT_RESOLVE_INTERVAL_MS;
    this.resolver = options.resolver ?? systemResolver;
    this.log = options.log ?? ((line) => console.log(line));
  }

  /** Follows a (new) routing: resolves its hosts now, then every interval. Returns when the first round is done. */
  follow(routing: Routing): Promise<void> {
    this.stop();
    this.configured = new Map([...routing.upstreams.values()].map((g) => [g, [...g.members]]));
    const hosts = [...new Set([...this.configured.values()].flat().map((u) => u.hostname).filter(isResolvable))];
    if (hosts.length === 0) return Promise.resolve();
    const generation = ++this.generation;
    const round = () => this.resolveAll(hosts, generation);
    this.timer = setInterval(round, this.intervalMs);
    this.timer.unref();
    return round();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.generation++;
  }

  private async resolveAll(hosts: string[], generation: number): Promise<void> {
    // A host whose lookup fails keeps its last addresses: a DNS blip is not an outage.
    await Promise.all(
      hosts.map(async (host) => {
        const addresses = await this.lookup(host);
        if (addresses) this.lastGood.set(host, addresses);
      }),
    );
    if (generation !== this.generation) return; // a reload or stop came meanwhile
    for (const [group, configured] of this.configured) {
      const next = expandMembers(configured, this.lastGood, group.members);
      if (sameMembers(next, group.members)) continue;
      group.members = next;
      if (group.cursor >= next.length) group.cursor = 0;
      this.log(`mirror-proxy: upstream ${group.key}: ${next.map((u) => `${u.hostname}:${u.port}`).join(", ")}`);
    }
  }

  private async lookup(host: string): Promise<string[] | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const found = await Promise.race([
        this.resolver(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${LOOKUP_TIMEOUT_MS} ms`)), LOOKUP_TIMEOUT_MS);
        }),
      ]);
      const addresses = preferredAddresses(found);
      if (addresses.length === 0) throw new Error("no addresses");
      if (this.failing.delete(host)) this.log(`mirror-proxy: ${host} resolves again`);
      return addresses;
    } catch (e) {
      if (!this.failing.has(host)) {
        this.failing.add(host);
        this.log(`mirror-proxy: cannot resolve ${host} (${(e as Error).message}); keeping its previous members`);
      }
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
