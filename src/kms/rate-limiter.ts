import type { Clock } from "../common/clock.js";

/**
 * Per-access-key token buckets (requests per second, with one second of burst), as Alibaba Cloud KMS
 * throttles each caller (Rejected.Throttling, HTTP 429). In memory per instance.
 */
export class RateLimiter {
  readonly #ratePerSec: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(ratePerSec: number, clock: Clock) {
    this.#ratePerSec = ratePerSec;
    this.#clock = clock;
  }

  /** True when the request may proceed. */
  take(key: string): boolean {
    const now = this.#clock.now();
    const b = this.#buckets.get(key) ?? { tokens: this.#ratePerSec, at: now };
    b.tokens = Math.min(this.#ratePerSec, b.tokens + (Math.max(0, now - b.at) / 1000) * this.#ratePerSec);
    b.at = now;
    if (this.#buckets.size > 100_000) this.#buckets.clear();
    this.#buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
