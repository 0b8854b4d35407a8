/**
 * Counters and histograms for the per-request metrics: plain numbers per label set, turned
 * into prom-client's metric objects only when the registry is scraped. A prom-client child's
 * `inc()`/`observe()` hashes and validates its labels on every call; here the child holds
 * its series and adds to a number. Registered in a prom-client Registry, they print the same
 * text (names, HELP/TYPE, label order, buckets, +Inf, _sum, _count) and aggregate across
 * --workers the same way (`get()` is what getMetricsAsJSON reads).
 */
import type { Registry } from "./prom.ts";

interface Config {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registers: Registry[];
}

type Labels = Record<string, string>;

/** One exported value, as prom-client's getForPromString() gives it (`sharedLabels` print after `labels`). */
interface Value {
  labels: Labels;
  sharedLabels: Labels;
  value: number;
  metricName?: string;
}

abstract class PlainMetric<S extends { labels: Labels }> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: "counter" | "histogram";
  readonly aggregator = "sum";
  protected readonly labelNames: readonly string[];
  protected readonly series = new Map<string, S>();

  constructor(c: Config) {
    this.name = c.name;
    this.help = c.help;
    this.labelNames = c.labelNames ?? [];
    // prom-client's Registry takes any object with name/get(): registerMetric only files it by name.
    for (const r of c.registers) r.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  protected abstract make(labels: Labels): S;

  protected seriesOf(values: string[]): S {
    const key = values.join("\0");
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]));
      s = this.make(labels);
      this.series.set(key, s);
    }
    return s;
  }

  protected abstract values(): Value[];

  async getForPromString(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: this.aggregator };
  }

  async get(): Promise<{ name: string; help: string; type: string; values: { labels: Labels; value: number; metricName?: string }[]; aggregator: string }> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ labels, sharedLabels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } })) };
  }

  reset(): void {
    this.series.clear();
  }
}

export class PlainCounter extends PlainMetric<{ labels: Labels; value: number }> {
  readonly type = "counter";

  protected make(labels: Labels) {
    return { labels, value: 0 };
  }

  /** The series of these label values (in labelNames order); keep it, then inc() is an addition. */
  labels(...values: string[]): { inc(n?: number): void } {
    const s = this.seriesOf(values);
    return { inc: (n = 1) => void (s.value += n) };
  }

  inc(n = 1): void {
    this.seriesOf([]).value += n;
  }

  protected values(): Value[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, sharedLabels: {}, value: s.value }));
  }
}

interface HistogramSeries {
  labels: Labels;
  /** Observations per bucket (not cumulative); the last is above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

export class PlainHistogram extends PlainMetric<HistogramSeries> {
  readonly type = "histogram";
  private readonly bounds: readonly number[];

  constructor(c: Config & { buckets: readonly number[] }) {
    super(c);
    this.bounds = [...c.buckets].sort((a, b) => a - b);
  }

  protected make(labels: Labels): HistogramSeries {
    return { labels, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
  }

  labels(...values: string[]): { observe(v: number): void } {
    const s = this.seriesOf(values);
    const b = this.bounds;
    return {
      observe: (v: number) => {
        let i = 0;
        while (i < b.length && v > b[i]) i++; // le: a value equal to a bound is in that bucket
        s.counts[i]++;
        s.sum += v;
        s.count++;
      },
    };
  }

  protected values(): Value[] {
    const out: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i];
        out.push({ labels: { le: String(le) }, sharedLabels: s.labels, value: acc, metricName: bucket });
      });
      out.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      out.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      out.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return out;
  }
}
