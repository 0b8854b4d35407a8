/**
 * Holding answers for comparison without costing the primary anything:
 * - `BodyCapture` keeps references to the chunks of a body *as they stream past* (the proxy
 *   writes each chunk to the client first, then offers it here), up to a byte cap; past the
 *   cap it lets go of everything and only remembers that the body was too large. No copy is
 *   made until `body()` is asked for, once, after the answer ended.
 * - `InFlightGate` bounds how many comparisons hold answers at once: beyond it, skip and count
 *   (`in_flight_limit`), never queue.
 */

export class BodyCapture {
  readonly maxBytes: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #tooLarge = false;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Offers the next chunk (after it was forwarded). Returns false once the cap is passed. */
  push(chunk: Buffer): boolean {
    this.#bytes += chunk.length;
    if (this.#tooLarge) return false;
    if (this.#bytes > this.maxBytes) {
      this.#tooLarge = true;
      this.#chunks = []; // release what was held: this answer will not be compared
      return false;
    }
    this.#chunks.push(chunk);
    return true;
  }

  get tooLarge(): boolean {
    return this.#tooLarge;
  }

  /** The body is known to be above the cap before it streams (a declared length): hold nothing of it. */
  markTooLarge(): void {
    this.#tooLarge = true;
    this.#chunks = [];
  }

  /** Bytes seen so far (including past the cap). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The whole body, or undefined when it was above the cap. */
  body(): Buffer | undefined {
    if (this.#tooLarge) return undefined;
    if (this.#chunks.length !== 1) this.#chunks = [Buffer.concat(this.#chunks, this.#bytes)];
    return this.#chunks[0];
  }
}

/**
 * When a declared `content-length` already says the body is above the cap, the proxy need
 * not capture it at all.
 */
export function declaredTooLarge(contentLength: string | undefined, maxBytes: number): boolean {
  if (contentLength === undefined || !/^\d+$/.test(contentLength)) return false;
  return Number(contentLength) > maxBytes;
}

export class InFlightGate {
  readonly limit: number;
  #held = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  /** Takes a slot if one is free. Every successful acquire needs exactly one release. */
  tryAcquire(): boolean {
    if (this.#held >= this.limit) return false;
    this.#held++;
    return true;
  }

  release(): void {
    if (this.#held > 0) this.#held--;
  }
}
