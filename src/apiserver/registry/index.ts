/** The registry: Kubernetes REST semantics over the transforming store. */
export { Registry } from "./registry.js";
export type {
  DeleteOptions,
  ListPage,
  ListQuery,
  WatchEventType,
  WatchHandle,
  WatchSink,
  WriteOptions,
} from "./types.js";
