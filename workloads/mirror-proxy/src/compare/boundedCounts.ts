/**
 * Counts per key in at most `capacity` entries, whatever the number of distinct keys.
 *
 * When full, a new key evicts the entry with the smallest count, so a frequent key that
 * shows up late (after a storm of one-off keys) still gets a place. Two policies:
 * - `overestimate` (Space-Saving, Metwally et al.): the newcomer inherits the evicted count,
 *   so a count may be too high by at most its `overcount`; good for "top N" reports.
 * - `underestimate`: the newcomer starts from its own count; counts are never too high,
 *   which is what noise learning needs (an inflated count would learn noise too early).
 */

export interface CountEntry {
  key: string;
  count: number;
  /** Upper bound of how much of `count` may belong to evicted keys (0 = exact). */
  overcount: number;
}

export type EvictionPolicy = "overestimate" | "underestimate";

interface Slot {
  count: number;
  overcount: number;
}

export class BoundedCounter {
  readonly capacity: number;
  readonly policy: EvictionPolicy;
  /** How many times an entry was evicted to make room. */
  evictions = 0;
  readonly #slots = new Map<string, Slot>();

  constructor(capacity: number, policy: EvictionPolicy) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.policy = policy;
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Adds `by` to `key`'s count and returns the new count. */
  add(key: string, by = 1): number {
    const slot = this.#slots.get(key);
    if (slot) return (slot.count += by);
    let inherited = 0;
    if (this.#slots.size >= this.capacity) inherited = this.#evictSmallest();
    const fresh = this.policy === "overestimate" ? { count: inherited + by, overcount: inherited } : { count: by, overcount: 0 };
    this.#slots.set(key, fresh);
    return fresh.count;
  }

  get(key: string): number {
    return this.#slots.get(key)?.count ?? 0;
  }

  delete(key: string): boolean {
    return this.#slots.delete(key);
  }

  /** The `n` largest counts, largest first (ties: first seen first). */
  top(n = Infinity): CountEntry[] {
    const all = [...this.#slots].map(([key, s]) => ({ key, count: s.count, overcount: s.overcount }));
    all.sort((a, b) => b.count - a.count);
    return all.slice(0, n);
  }

  #evictSmallest(): number {
    let minKey: string | undefined;
    let min = Infinity;
    for (const [key, s] of this.#slots) {
      if (s.count < min) {
        min = s.count;
        minKey = key;
        if (min <= 1) break; // cannot get smaller
      }
    }
    this.#slots.delete(minKey!);
    this.evictions++;
    return min;
  }
}
