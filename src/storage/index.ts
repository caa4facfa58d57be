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
  identityTransformerFor,
  type TransformerForKey,
  type TransformingStoreOptions,
} from "./transforming-store.js";
export type {
  DecodedList,
  DecodedValue,
  DecodedWatchEvent,
  DecodedWatchHandlers,
  DecodedWatchOptions,
  DeleteConditions,
  GuaranteedUpdateOptions,
  UpdateFn,
  WrittenValue,
} from "./decoded-value.js";
export { DEFAULT_DECODED_CACHE_BYTES } from "./decoded-cache.js";
export {
  isUnreadableValueError,
  transformerPrefixOf,
  type TransformationObserver,
  type TransformationRecord,
} from "./transformation-record.js";
