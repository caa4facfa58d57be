/**
 * The revisioned key-value store under the apiserver (etcd, SQLite like kine, memory). Values here are
 * the bytes at rest: already transformed (encrypted) by the layer above. Revisions are the store's
 * global, monotonically increasing counter; an object's resourceVersion is its modRevision.
 */

export interface KeyValue {
  readonly key: string;
  readonly value: Buffer;
  /** Revision of the last write to this key (its resourceVersion). */
  readonly modRevision: number;
  readonly createRevision: number;
}

export interface ListOptions {
  /** Return at most this many (0 or absent = all). */
  readonly limit?: number;
  /** Start strictly after this key (pagination continue token is built on it). */
  readonly startAfter?: string;
  /**
   * Read as of this revision (0 or absent = latest). Below the compact revision → AtrestError "gone";
   * above the current revision → "invalid-argument".
   */
  readonly revision?: number;
}

export interface ListResult {
  readonly items: KeyValue[];
  /** The revision the list was read at. */
  readonly revision: number;
  /** True when more keys under the prefix follow the last item. */
  readonly more: boolean;
}

export type WatchEvent =
  | { readonly type: "put"; readonly kv: KeyValue; readonly prevKv?: KeyValue }
  | {
      readonly type: "delete";
      readonly key: string;
      readonly modRevision: number;
      readonly prevKv?: KeyValue;
    };

export interface Watch {
  /** Stops the watch; no events are delivered after it resolves. */
  cancel(): Promise<void>;
}

export interface WatchHandlers {
  onEvent(event: WatchEvent): void;
  /** The watch ended with an error (AtrestError code "gone" when its start revision was compacted). */
  onError(err: Error): void;
}

export interface Store {
  /** The latest revision of the whole store (an empty store is at 1, as etcd). */
  currentRevision(): Promise<number>;
  get(key: string): Promise<KeyValue | undefined>;
  /** Keys with this prefix, in key order. */
  list(prefix: string, options?: ListOptions): Promise<ListResult>;
  /** Creates the key; AtrestError "already-exists" when it exists. Returns the new revision. */
  create(key: string, value: Uint8Array): Promise<KeyValue>;
  /** Compare-and-swap on modRevision; AtrestError "conflict" when the key changed, "not-found" when gone. */
  update(key: string, value: Uint8Array, expectedModRevision: number): Promise<KeyValue>;
  /** Deletes the key (optionally only at expectedModRevision); returns the deleted value; "not-found" when absent. */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue>;
  /**
   * Watches keys under the prefix from `fromRevision` (exclusive of events at or before it;
   * 0 = from now; a future revision waits for it). Events come asynchronously, in revision order.
   * When the events after `fromRevision` were compacted (fromRevision + 1 < compact revision, as in
   * etcd) → AtrestError code "gone", thrown or via onError; after onError the watch is over.
   */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch>;
  /**
   * Drops history older than the revision (lists and watches from before it get "gone"); the state at
   * the revision stays readable. Compacting at or below the current compact revision does nothing.
   */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
