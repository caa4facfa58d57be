import { LRUCache } from "lru-cache";
import type { Clock } from "../../common/clock.js";
import { KMS_V2_DEK_CACHE_MAX_ENTRIES, KMS_V2_DEK_CACHE_TTL_MS } from "./constants.js";

/**
 * Decrypted DEKs (type 0) and seeds (type 1) under kube's cache key (cache-key.ts), kept 24 h on the
 * injected clock. A key not cached is loaded once however many reads wait for it. Values are key
 * material: never log them.
 */
export class SeedCache {
  private readonly cache: LRUCache<string, Buffer>;
  private readonly loading = new Map<string, Promise<Buffer>>();

  constructor(
    clock: Clock,
    private readonly onSize: (size: number) => void = () => undefined,
  ) {
    this.cache = new LRUCache<string, Buffer>({
      max: KMS_V2_DEK_CACHE_MAX_ENTRIES,
      ttl: KMS_V2_DEK_CACHE_TTL_MS,
      // Time comes from the injected clock, read on every lookup (no caching of "now").
      perf: clock,
      ttlResolution: 0,
    });
  }

  get(cacheKey: string): Buffer | undefined {
    return this.cache.get(cacheKey);
  }

  /** Stores (or refreshes) `key` for another 24 h. */
  set(cacheKey: string, key: Buffer): void {
    this.cache.set(cacheKey, key);
    this.onSize(this.cache.size);
  }

  /** The cached value, or the one `load` resolves to (shared by concurrent callers, cached on success). */
  getOrLoad(cacheKey: string, load: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.loading.get(cacheKey);
    if (pending === undefined) {
      pending = load()
        .then((key) => {
          this.set(cacheKey, key);
          return key;
        })
        .finally(() => this.loading.delete(cacheKey));
      this.loading.set(cacheKey, pending);
    }
    return pending;
  }

  get size(): number {
    return this.cache.size;
  }
}
