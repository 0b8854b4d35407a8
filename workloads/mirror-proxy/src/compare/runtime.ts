/**
 * Comparison at run time: what the proxy holds for one config's `spec.compare` block (the
 * compiled options, the noise learner, the report, the in-flight gate) and, per compared
 * request, a `Comparison` that collects the primary's answer and the answers of its copies
 * (the shadow copies, and the second primary copy when noise is sampled) and compares them
 * once every one of them has ended, in a `setImmediate`, off the client's path.
 *
 * No sockets here: proxy.ts feeds the answers in (primary chunks *after* it wrote them to
 * the client; copies through the shadow client's `AnswerCapture`). Every comparison ends
 * exactly once: each of its parts ends once (answer, failure or abandon) and the gate slot
 * is released after the comparison ran, so at most `maxInFlight` comparisons hold answers.
 */
import { isReadMethod } from "../../../shared/http-service.ts";
import type { MirrorProxyConfig } from "../config.ts";
import { routeId } from "../model.ts";
import { resolveUpstreamKey } from "../proxyConfig.ts";
import { AnswerCapture } from "../shadow.ts";
import { BodyCapture, declaredTooLarge, InFlightGate } from "./capture.ts";
import { latencyDeltaSeconds } from "./compareStats.ts";
import { compareAnswers, compileCompareOptions, type Answer, type CompiledCompareOptions } from "./diff.ts";
import { compileRedactor, type Redactor } from "./redact.ts";
import { NoiseLearner, noiseLearningOptions, shouldSampleNoise } from "./noise.ts";
import type { CompareRouteMetrics } from "../metrics.ts";
import { CompareReport, type RequestSummary, type RouteTally, type SkipReason } from "./report.ts";
import { compareOptionsFrom, compileRouteSelector } from "./selection.ts";
import type { CompareSettings } from "./settings.ts";

/** What a comparison reports besides the report itself (the Prometheus side). */
export interface CompareHooks {
  /** The pre-bound series of a compare label (created once per label, see metrics.ts). */
  routeMetrics(route: string): CompareRouteMetrics;
}

/** A compare label's report tally and Prometheus series, looked up once per compared copy. */
export interface BoundRoute {
  readonly tally: RouteTally;
  readonly metrics: CompareRouteMetrics;
}

/** The settings as one string: equal strings = unchanged settings (a reload keeps what was learned). */
export function settingsKey(settings: CompareSettings): string {
  return JSON.stringify(settings);
}

/**
 * The report label of a compared copy: the route id, or `<route id> -> <upstream key>`
 * when the route mirrors to several destinations (`mirrors[]`), each compared on its own.
 */
export function compareLabel(routeId: string, mirrorCount: number, mirrorKey: string): string {
  return mirrorCount > 1 ? `${routeId} -> ${mirrorKey}` : routeId;
}

/** Every compare label a config can produce on the routes `selects` picks (to bind their series up front). */
export function compareLabelsOf(config: MirrorProxyConfig, selects: (routeId: string) => boolean): string[] {
  const labels: string[] = [];
  for (const vs of config.virtualServices) {
    vs.http.forEach((r, i) => {
      const id = routeId(vs.name, r, i);
      if (!selects(id)) return;
      const targets = r.mirror ? [r.mirror] : (r.mirrors ?? []).map((m) => m.destination);
      for (const d of targets) labels.push(compareLabel(id, targets.length, resolveUpstreamKey(config.proxy.upstreams, d) ?? d.host));
    });
  }
  return labels;
}

export class CompareRuntime {
  readonly settings: CompareSettings;
  readonly key: string;
  readonly options: CompiledCompareOptions;
  /** Masks secrets in the differences and the request line before the report stores them (redact.ts). */
  readonly redact: Redactor;
  readonly learning: CompiledCompareOptions;
  readonly noise: NoiseLearner | undefined;
  readonly report: CompareReport;
  readonly gate: InFlightGate;
  readonly hooks: CompareHooks;
  /** Whether a route id's copies are compared: a function of the id and `settings.routes` only, compiled once per config. */
  readonly selects: (routeId: string) => boolean;
  readonly #bound = new Map<string, BoundRoute>();

  constructor(settings: CompareSettings, hooks: CompareHooks) {
    this.settings = settings;
    this.key = settingsKey(settings);
    this.options = compileCompareOptions({ ...compareOptionsFrom(settings), redactPaths: settings.redact.paths });
    this.redact = compileRedactor(settings.redact);
    this.learning = noiseLearningOptions(this.options);
    this.noise = settings.noise ? new NoiseLearner({ minSamples: settings.noise.minSamples }) : undefined;
    this.report = new CompareReport({ lastMismatches: settings.lastMismatches, noise: this.noise });
    this.gate = new InFlightGate(settings.maxInFlight);
    this.hooks = hooks;
    this.selects = compileRouteSelector(settings.routes);
  }

  /** The tally and series of a compare label (one Map lookup once bound). */
  bind(label: string): BoundRoute {
    let b = this.#bound.get(label);
    if (b === undefined) {
      b = { tally: this.report.route(label), metrics: this.hooks.routeMetrics(label) };
      this.#bound.set(label, b);
    }
    return b;
  }

  /** Binds the labels a config can produce up front, so their series exist (at 0) before any traffic. */
  prebind(labels: Iterable<string>): void {
    for (const l of labels) this.bind(l);
  }

  skip(label: string, reason: SkipReason): void {
    skipOn(this.bind(label), reason);
  }

  /** Noise learning is on for this request's method: a second primary copy may be sampled and warm-up applies. */
  #learnsFrom(method: string): boolean {
    return this.noise !== undefined && this.settings.noise!.samplePercent > 0 && isReadMethod(method);
  }

  /**
   * Whether this request also gets a second primary copy: GET/HEAD only (a second POST to
   * v1 would repeat its side effect); every such request while the route is warming up
   * (fewer than `minSamples` pairs), then `samplePercent` of them.
   */
  wantsNoiseCopy(routeId: string, method: string): boolean {
    if (!this.#learnsFrom(method)) return false;
    return this.noise!.pairs(routeId) < this.noise!.minSamples || shouldSampleNoise(this.settings.noise!.samplePercent);
  }

  /**
   * Starts a comparison of one request's copies (`labels`, one per sampled shadow copy), or
   * counts them as skipped (`in_flight_limit`) and returns undefined when the gate is full.
   */
  begin(routeId: string, labels: string[], request: RequestSummary, noiseCopy: boolean): Comparison | undefined {
    const bound = labels.map((l) => this.bind(l));
    for (const b of bound) {
      b.tally.mirrored++;
      b.metrics.mirrored.inc();
    }
    if (!this.gate.tryAcquire()) {
      for (const b of bound) skipOn(b, "in_flight_limit");
      return undefined;
    }
    return new Comparison(this, routeId, labels, bound, request, noiseCopy);
  }

  /** Comparisons holding answers now. */
  get inFlight(): number {
    return this.gate.held;
  }

  /** Called by Comparison once all its parts ended, in a setImmediate. */
  finish(c: Comparison): void {
    try {
      this.#finish(c);
    } finally {
      this.gate.release();
    }
  }

  #finish(c: Comparison): void {
    const p = c.primary;
    if (p.failed) {
      for (const leg of c.legs) {
        if (leg.shadowError) shadowErrorOn(leg.bound);
        skipOn(leg.bound, "primary_failed");
      }
      return;
    }
    const primary: Answer | undefined = p.tooLarge ? undefined : { status: p.status, headers: p.headers, body: p.body.body() ?? EMPTY };
    const encoded = p.encoded;
    const noise = this.noise;
    const n = c.noiseLeg;
    if (noise && n && primary && !encoded && n.ok) {
      const second = n.answer();
      if (second && !isEncoded(n.capture.headers["content-encoding"])) noise.learnFromPrimaries(c.routeId, primary, second, this.learning);
    }
    const warmingUp = this.#learnsFrom(c.request.method) && noise!.pairs(c.routeId) < noise!.minSamples;
    let request: RequestSummary | undefined; // masked once, with the first mismatch (only mismatches store it)
    for (const leg of c.legs) {
      const b = leg.bound;
      if (!leg.ok) {
        if (leg.shadowError) shadowErrorOn(b);
        skipOn(b, leg.failure ?? "shadow_failed");
        continue;
      }
      if (leg.capture.status >= 500) shadowErrorOn(b);
      const delta = latencyDeltaSeconds(p.ms, leg.ms);
      b.tally.latencyDelta(delta);
      b.metrics.latencyDelta.observe(delta);
      const shadow = leg.answer();
      if (!primary || !shadow) skipOn(b, "body_too_large");
      else if (encoded || isEncoded(leg.capture.headers["content-encoding"])) skipOn(b, "content_encoding");
      else if (warmingUp) skipOn(b, "noise_warmup");
      else {
        const r = this.redact.result(compareAnswers(primary, shadow, this.options, noise?.noiseFor(c.routeId)));
        if (r.result === "mismatch") request ??= this.redact.request(c.request);
        this.report.recordOn(b.tally, leg.label, request ?? c.request, r);
        b.metrics.compared.inc();
        if (r.result === "mismatch") b.metrics.differing.inc();
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);

function skipOn(b: BoundRoute, reason: SkipReason): void {
  b.tally.skip(reason);
  b.metrics.skipped[reason].inc();
}

function shadowErrorOn(b: BoundRoute): void {
  b.tally.shadowErrors++;
  b.metrics.shadowErrors.inc();
}

function isEncoded(v: string | string[] | number | undefined): boolean {
  if (v === undefined) return false;
  const s = String(v).trim().toLowerCase();
  return s !== "" && s !== "identity";
}

/** The primary's answer as it streams to the client. */
export class PrimaryPart {
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  readonly body: BodyCapture;
  encoded = false;
  ms = 0;
  ended = false;
  failed = false;

  constructor(maxBytes: number) {
    this.body = new BodyCapture(maxBytes);
  }

  /** Above the cap, declared (not captured at all) or found while streaming: `body.tooLarge`. */
  get tooLarge(): boolean {
    return this.body.tooLarge;
  }
}

/** One copy of the request (a shadow copy, or the noise copy to the primary's destination). */
export class Leg {
  readonly label: string;
  /** The label's tally and series (unused for the noise copy, which is never reported as a v2 copy). */
  readonly bound: BoundRoute;
  readonly capture: AnswerCapture;
  readonly #c: Comparison;
  /** 0 not sent yet, 1 in flight, 2 ended. */
  #state = 0;
  ok = false;
  failure: SkipReason | undefined;
  /** The shadow failed (sent and no complete answer, or down): counted as a shadow error. */
  shadowError = false;
  ms = 0;

  constructor(c: Comparison, bound: BoundRoute, label: string, maxBytes: number) {
    this.#c = c;
    this.bound = bound;
    this.label = label;
    this.capture = new AnswerCapture(maxBytes);
  }

  get unsent(): boolean {
    return this.#state === 0;
  }

  /** The copy went to the shadow client, which will call `settled` exactly once. */
  sent(): void {
    if (this.#state === 0) this.#state = 1;
  }

  /** The copy's answer ended (`response` = complete) or it failed; `ms` since it was sent. */
  settled(response: boolean, ms: number): void {
    if (this.#state === 2) return;
    this.#state = 2;
    this.ok = response;
    this.shadowError = !response;
    this.ms = ms;
    this.#c.partEnded();
  }

  /**
   * The copy was never sent (dropped before leaving, or the request was abandoned);
   * `shadowError` when the shadow itself is the reason (it is down).
   */
  dropped(reason: SkipReason, shadowError = false): void {
    if (this.#state === 2) return;
    this.#state = 2;
    this.failure = reason;
    this.shadowError = shadowError;
    this.#c.partEnded();
  }

  answer(): Answer | undefined {
    const body = this.capture.body.body();
    return body === undefined ? undefined : { status: this.capture.status, headers: this.capture.headers, body };
  }
}

export class Comparison {
  readonly runtime: CompareRuntime;
  readonly routeId: string;
  readonly request: RequestSummary;
  /** When the primary request left (performance.now()); set by the proxy. */
  started = 0;
  readonly primary: PrimaryPart;
  readonly legs: Leg[];
  readonly noiseLeg: Leg | undefined;
  #pending: number;

  /** `bound[i]` is `labels[i]`'s tally and series (CompareRuntime.bind). */
  constructor(runtime: CompareRuntime, routeId: string, labels: string[], bound: BoundRoute[], request: RequestSummary, noiseCopy: boolean) {
    const max = runtime.settings.maxBodyBytes;
    this.runtime = runtime;
    this.routeId = routeId;
    this.request = request;
    this.primary = new PrimaryPart(max);
    this.legs = labels.map((l, i) => new Leg(this, bound[i], l, max));
    // The noise copy is never reported as a v2 copy; its `bound` is only there to keep Leg's type simple.
    this.noiseLeg = noiseCopy ? new Leg(this, bound[0], routeId, max) : undefined;
    this.#pending = 1 + this.legs.length + (noiseCopy ? 1 : 0);
  }

  /** Primary response headers (Node's lower-case object). */
  primaryHead(status: number, headers: Record<string, string | string[] | undefined>): void {
    const p = this.primary;
    p.status = status;
    p.headers = headers;
    p.encoded = isEncoded(headers["content-encoding"]);
    // A HEAD answer declares the length of a body it does not carry.
    const cl = headers["content-length"];
    if (this.request.method !== "HEAD" && declaredTooLarge(typeof cl === "string" ? cl : undefined, p.body.maxBytes)) p.body.markTooLarge();
  }

  /** A chunk of the primary's body, after it was written to the client. */
  primaryChunk(chunk: Buffer): void {
    if (!this.primary.tooLarge) this.primary.body.push(chunk);
  }

  primaryEnd(now: number): void {
    const p = this.primary;
    if (p.ended) return;
    p.ended = true;
    p.ms = now - this.started;
    this.partEnded();
  }

  /** No complete primary answer (error, timeout, client abort); a no-op once it ended. */
  primaryFailed(): void {
    const p = this.primary;
    if (p.ended) return;
    p.ended = true;
    p.failed = true;
    this.partEnded();
  }

  /** Copies never sent (the client went away before its body ended) end here. */
  abandonUnsent(): void {
    for (const leg of this.legs) if (leg.unsent) leg.dropped("shadow_failed");
    if (this.noiseLeg?.unsent) this.noiseLeg.dropped("shadow_failed");
  }

  partEnded(): void {
    if (--this.#pending === 0) setImmediate(finishComparison, this);
  }
}

function finishComparison(c: Comparison): void {
  c.runtime.finish(c);
}
