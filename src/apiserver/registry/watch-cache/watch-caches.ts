import type { Clock } from "../../../common/clock.js";
import type { TransformingStore } from "../../../storage/transforming-store.js";
import { collectionPrefix, RESOURCES } from "../../resources.js";
import { ResourceWatchCache } from "./resource-cache.js";

/**
 * One watch cache per stored collection (kube-apiserver caches every resource it serves); resources
 * that share a collection (versions of one resource) share its cache.
 */
export interface WatchCacheOptions {
  readonly clock: Clock;
  /** Changes kept per collection for watches that resume (default 1000). */
  readonly capacity?: number;
  readonly restartDelayMs?: number;
}

export class WatchCaches {
  private readonly byPrefix = new Map<string, ResourceWatchCache>();

  constructor(store: TransformingStore, prefix: string, options: WatchCacheOptions) {
    for (const info of RESOURCES) {
      if (info.storageSegment === undefined) continue;
      const p = collectionPrefix(prefix, info, undefined);
      if (this.byPrefix.has(p)) continue;
      this.byPrefix.set(
        p,
        new ResourceWatchCache(store, p, {
          clock: options.clock,
          ...(options.capacity !== undefined ? { capacity: options.capacity } : {}),
          ...(options.restartDelayMs !== undefined ? { restartDelayMs: options.restartDelayMs } : {}),
        }),
      );
    }
  }

  /** The cache of the collection under this prefix, if there is one. */
  forPrefix(collection: string): ResourceWatchCache | undefined {
    return this.byPrefix.get(collection);
  }

  /** Lists and watches every collection; one that fails keeps retrying on its own. */
  async start(): Promise<void> {
    await Promise.all([...this.byPrefix.values()].map((c) => c.start()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.byPrefix.values()].map((c) => c.close()));
  }

  /** For tests and metrics: every cache, by prefix. */
  get all(): ReadonlyMap<string, ResourceWatchCache> {
    return this.byPrefix;
  }
}
