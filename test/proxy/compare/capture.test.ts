/** Holding answers for comparison, and the latency-difference buckets. */
import { BodyCapture, declaredTooLarge, InFlightGate } from "../../../workloads/mirror-proxy/src/compare/capture.ts";
import { bucketIndex, bucketLabel, LATENCY_DELTA_BUCKETS, latencyDeltaSeconds } from "../../../workloads/mirror-proxy/src/compare/compareStats.ts";
import { BoundedCounter } from "../../../workloads/mirror-proxy/src/compare/boundedCounts.ts";

describe("BodyCapture", () => {
  test("keeps the chunks up to the cap and joins them once", () => {
    const c = new BodyCapture(10);
    const first = Buffer.from("hello ");
    expect(c.push(first)).toBe(true);
    expect(c.push(Buffer.from("you!"))).toBe(true);
    expect(c.body()?.toString()).toBe("hello you!");
    expect(c.bytes).toBe(10);
    const single = new BodyCapture(10);
    single.push(first);
    expect(single.body()).toBe(first); // no copy for a one-chunk body
    expect(new BodyCapture(0).body()?.length).toBe(0);
  });

  test("past the cap: lets go of everything, remembers only the size", () => {
    const c = new BodyCapture(10);
    c.push(Buffer.alloc(8));
    expect(c.push(Buffer.alloc(8))).toBe(false);
    expect(c.push(Buffer.alloc(8))).toBe(false);
    expect(c.tooLarge).toBe(true);
    expect(c.body()).toBeUndefined();
    expect(c.bytes).toBe(24);
  });

  test("a declared content-length above the cap is known before the body", () => {
    expect(declaredTooLarge("11", 10)).toBe(true);
    expect(declaredTooLarge("10", 10)).toBe(false);
    expect(declaredTooLarge(undefined, 10)).toBe(false);
    expect(declaredTooLarge("1e9", 10)).toBe(false);
  });
});

test("InFlightGate: at most `limit` held, never queued", () => {
  const g = new InFlightGate(2);
  expect([g.tryAcquire(), g.tryAcquire(), g.tryAcquire()]).toEqual([true, true, false]);
  g.release();
  expect(g.held).toBe(1);
  expect(g.tryAcquire()).toBe(true);
  g.release();
  g.release();
  g.release();
  expect(g.held).toBe(0);
  expect(new InFlightGate(0).tryAcquire()).toBe(false);
});

test("latency difference buckets (shadow - primary, seconds, le semantics)", () => {
  expect(latencyDeltaSeconds(20, 45)).toBeCloseTo(0.025);
  expect(latencyDeltaSeconds(45, 20)).toBeCloseTo(-0.025);
  expect(bucketLabel(0)).toBe("0");
  expect(bucketLabel(0.0003)).toBe("0.001");
  expect(bucketLabel(-0.0003)).toBe("0");
  expect(bucketLabel(-0.003)).toBe("-0.001");
  expect(bucketLabel(0.025)).toBe("0.025");
  expect(bucketLabel(-100)).toBe("-5");
  expect(bucketLabel(100)).toBe("+Inf");
  expect(bucketIndex(100)).toBe(LATENCY_DELTA_BUCKETS.length);
  expect([...LATENCY_DELTA_BUCKETS]).toEqual([...LATENCY_DELTA_BUCKETS].sort((a, b) => a - b));
});

describe("BoundedCounter", () => {
  test("overestimate (Space-Saving): a late frequent key takes the smallest slot and says by how much it may be over", () => {
    const c = new BoundedCounter(2, "overestimate");
    c.add("a");
    c.add("a");
    c.add("b");
    c.add("c"); // evicts b (1): c = 2, overcount 1
    expect(c.top()).toEqual([{ key: "a", count: 2, overcount: 0 }, { key: "c", count: 2, overcount: 1 }]);
    expect(c.size).toBe(2);
    expect(c.evictions).toBe(1);
  });

  test("underestimate: counts never grow from evicted keys", () => {
    const c = new BoundedCounter(2, "underestimate");
    c.add("a", 5);
    c.add("b", 3);
    expect(c.add("c")).toBe(1);
    expect(c.get("b")).toBe(0);
    expect(c.top()).toEqual([{ key: "a", count: 5, overcount: 0 }, { key: "c", count: 1, overcount: 0 }]);
  });
});
