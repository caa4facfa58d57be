/** The apiserver's watch cache: per stored collection, fed by the transforming store's watch. */
export { WatchCaches, type WatchCacheOptions } from "./watch-caches.js";
export { ResourceWatchCache, FRESH_WAIT_MS } from "./resource-cache.js";
export { watchFromCache } from "./watch-from-cache.js";
export { listFromCache, CONSISTENT_LIST_WAIT_MS } from "./list-from-cache.js";
