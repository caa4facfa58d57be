import { LRUCache } from "lru-cache";
import type { Clock } from "../common/clock.js";
import type { Random } from "../common/random.js";
import type { AuditRecord } from "./audit-log.js";
import { RateLimiter } from "./rate-limiter.js";

/**
 * Throttling of failed authentication per source, and what it leaves in the audit trail.
 *
 * A request's source address has two budgets of failures: one per access key id it signs with (a bad
 * signature for a known key), one for everything else (an unknown access key, a malformed or missing
 * signature). Each holds `perMinute` failures (refilled evenly over a minute). While a budget lasts,
 * each failure is answered with its own error and audited as itself. Once it is spent, attempts of
 * that kind from that source are refused with Rejected.Throttling (429) before their signature is
 * checked, and are not audited one by one: they are counted, and once a minute (and on shutdown) each
 * budget that refused anything leaves one summary record — outcome Denied, Rejected.Throttling, the
 * source, the last access key id and action tried, and `requestCount` = how many were refused. So a
 * source hammering bad credentials costs the trail at most `perMinute` records plus one a minute per
 * budget, and other callers from the same address with their own valid keys are not affected.
 */
export interface RefusedAttempt {
  readonly sourceIp: string;
  readonly accessKeyId: string;
  readonly principal: string;
  readonly action: string;
}

interface Summary extends RefusedAttempt {
  count: number;
  lastMs: number;
}

export class AuthFailureGuard {
  readonly #budgets: RateLimiter;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #refused: LRUCache<string, Summary>;
  /** Summaries pushed out of the LRU before a flush wrote them. */
  readonly #evicted: Summary[] = [];

  constructor(options: { perMinute: number; clock: Clock; random: Random; maxSources?: number }) {
    this.#clock = options.clock;
    this.#random = options.random;
    const maxKeys = options.maxSources ?? 100_000;
    this.#budgets = new RateLimiter(options.perMinute / 60, options.clock, {
      burst: options.perMinute,
      maxKeys,
    });
    this.#refused = new LRUCache({
      max: maxKeys,
      dispose: (summary, _key, reason) => {
        if (reason === "evict") this.#evicted.push(summary);
      },
    });
  }

  /** The budget of a bad signature for a known access key. */
  static keyBudget(sourceIp: string, accessKeyId: string): string {
    return `${sourceIp}\0${accessKeyId}`;
  }

  /** The budget of unknown access keys and malformed or missing signatures. */
  static otherBudget(sourceIp: string): string {
    return `${sourceIp}\0`;
  }

  /** True while `budget` has failures left (nothing is taken). */
  allows(budget: string): boolean {
    return this.#budgets.available(budget);
  }

  /** Counts one failure against `budget`; false when it was already spent (the attempt is refused). */
  recordFailure(budget: string): boolean {
    return this.#budgets.take(budget);
  }

  /** An attempt refused because its budget was spent: counted for the next summary, not audited now. */
  refused(budget: string, attempt: RefusedAttempt): void {
    const now = this.#clock.now();
    const s = this.#refused.get(budget);
    if (s === undefined) this.#refused.set(budget, { ...attempt, count: 1, lastMs: now });
    else Object.assign(s, attempt, { count: s.count + 1, lastMs: now });
  }

  /** One audit record per budget that refused attempts since the last call; the counts start again. */
  drainSummaries(): AuditRecord[] {
    const summaries = [...this.#evicted.splice(0), ...this.#refused.values()];
    this.#refused.clear();
    this.#evicted.length = 0; // clear() disposes with reason "delete", not "evict"
    return summaries.map((s) => ({
      eventTime: s.lastMs,
      requestId: this.#random.uuid().toUpperCase(),
      principal: s.principal,
      accessKeyId: s.accessKeyId.slice(0, 128),
      sourceIp: s.sourceIp,
      action: s.action.slice(0, 128),
      keyId: "",
      keyVersionId: "",
      outcome: "Denied",
      errorCode: "Rejected.Throttling",
      clientUid: "",
      requestCount: s.count,
    }));
  }
}
