/** The storage layer: one Store interface, its implementations, and the transforming layer above it. */
export type { KeyValue, ListOptions, ListResult, Store, Watch, WatchEvent, WatchHandlers } from "./store.js";
export { MemoryStore } from "./memory-store.js";
export { EtcdStore, type EtcdStoreOptions } from "./etcd-store.js";
export { SqliteStore, sqlitePathFromUrl, type SqliteStoreOptions } from "./sqlite-store.js";
export {
  startCompactor,
  DEFAULT_COMPACTION_INTERVAL_MS,
  type Compactor,
  type CompactorOptions,
} from "./compactor.js";
export { openStore, storeEndpointFromFlags, type StoreEndpoint } from "./open-store.js";
export {
  TransformingStore,
  transformerPrefixOf,
  type DecodedList,
  type DecodedValue,
  type DecodedWatchEvent,
  type DecodedWatchHandlers,
  type TransformationObserver,
  type TransformationRecord,
  type TransformerForKey,
  type TransformingStoreOptions,
  type UpdateFn,
  type WrittenValue,
} from "./transforming-store.js";
