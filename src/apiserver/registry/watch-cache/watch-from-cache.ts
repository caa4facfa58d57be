import type { ResourceInfo } from "../../resources.js";
import type { Filter } from "../filter.js";
import type { WatchHandle, WatchSink } from "../types.js";
import { CacheWatcher } from "./cache-watcher.js";
import type { ResourceWatchCache } from "./resource-cache.js";

export interface CachedWatchRequest {
  readonly info: ResourceInfo;
  /** The watch's prefix: the collection, or one namespace's part of it. */
  readonly prefix: string;
  readonly filter: Filter;
  /** Changes after this revision; undefined: the current state first, as ADDED events. */
  readonly from: number | undefined;
  readonly sink: WatchSink;
}

/**
 * A watch served by the cache, with kube's resourceVersion semantics: no resourceVersion (or "0") is
 * the cache's current state, then its changes; a resourceVersion is the changes after it, once the
 * cache has reached it, 410 Expired when they left its window. Undefined when the cache cannot serve
 * it (not started, or not at the resourceVersion within the wait): the caller watches the store.
 */
export async function watchFromCache(
  cache: ResourceWatchCache,
  r: CachedWatchRequest,
): Promise<WatchHandle | undefined> {
  if (r.from !== undefined && !(await cache.waitFresh(r.from))) return undefined;
  if (!cache.isReady) return undefined;
  // From here on, synchronous: nothing can happen between the state (or replay) and registration.
  const after = r.from ?? cache.currentRevision;
  const watcher = new CacheWatcher(r.info, cache.prefix, r.prefix, after, r.filter, r.sink, (w) =>
    cache.removeWatcher(w),
  );
  cache.addWatcher(watcher, r.from, r.prefix);
  return {
    cancel: () => {
      watcher.end();
      return Promise.resolve();
    },
    progressRevision: () => Math.max(after, cache.currentRevision),
  };
}
