import { LRUCache } from "lru-cache";
import type { Clock } from "../common/clock.js";

/**
 * The KMS's read-through caches (key rows, access keys, policies): lru-cache bounded by entry count,
 * entries expiring `ttlMs` after they were stored, on the injected clock (so tests drive expiry).
 * `ttlMs <= 0` means no caching at all: `undefined`, and callers read the store every time.
 */
export function ttlCache<V extends object>(options: {
  max: number;
  ttlMs: number;
  clock: Clock;
}): LRUCache<string, V> | undefined {
  if (options.ttlMs <= 0) return undefined;
  return new LRUCache<string, V>({
    max: options.max,
    ttl: options.ttlMs,
    // Read the clock on every check (lru-cache otherwise reuses a reading for 1 ms of real time).
    ttlResolution: 0,
    perf: { now: () => options.clock.now() },
  });
}
