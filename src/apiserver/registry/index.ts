/** The registry: Kubernetes REST semantics over the transforming store. */
export { Registry, type RegistryOptions } from "./registry.js";
export type {
  ApplyOptions,
  ApplyResult,
  DeleteOptions,
  ListPage,
  ListQuery,
  WatchEventType,
  WatchHandle,
  WatchSink,
  WriteOptions,
} from "./types.js";
