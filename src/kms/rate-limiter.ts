import { LRUCache } from "lru-cache";
import type { Clock } from "../common/clock.js";

/**
 * Per-key token buckets: `ratePerSec` tokens a second, holding at most `burst` (default: one second's
 * worth), as Alibaba Cloud KMS throttles each caller (Rejected.Throttling, HTTP 429). In memory per
 * instance.
 *
 * The buckets are an LRU of `maxKeys` entries: a key in use keeps its bucket however many other keys
 * come and go, and the one evicted is the least recently seen. An evicted bucket would have refilled
 * by the time it comes back (at any realistic request rate, `maxKeys` other keys take far longer than
 * a bucket needs to refill), so eviction never grants a burst a kept bucket would not.
 */
export class RateLimiter {
  readonly #ratePerSec: number;
  readonly #burst: number;
  readonly #clock: Clock;
  readonly #buckets: LRUCache<string, { tokens: number; at: number }>;

  constructor(ratePerSec: number, clock: Clock, options: { maxKeys?: number; burst?: number } = {}) {
    this.#ratePerSec = ratePerSec;
    this.#burst = options.burst ?? ratePerSec;
    this.#clock = clock;
    this.#buckets = new LRUCache({ max: options.maxKeys ?? 100_000 });
  }

  #bucket(key: string): { tokens: number; at: number } {
    const now = this.#clock.now();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.min(this.#burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.#ratePerSec);
    b.at = now;
    return b;
  }

  /** True when the request may proceed (and takes one token). */
  take(key: string): boolean {
    const b = this.#bucket(key);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** True when `take` would succeed now (takes nothing). */
  available(key: string): boolean {
    return this.#bucket(key).tokens >= 1;
  }

  /** How many keys have a bucket now. */
  get size(): number {
    return this.#buckets.size;
  }
}
