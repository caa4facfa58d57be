import { isAtrestError, type AtrestError } from "../common/errors.js";
import { newIdentityTransformer } from "../envelope/identity.js";
import { contextForKey, type Transformer } from "../envelope/transformer.js";
import { DecodedCache } from "./decoded-cache.js";
export { DEFAULT_DECODED_CACHE_BYTES } from "./decoded-cache.js";
import type {
  DecodedList,
  DecodedValue,
  DecodedWatchHandlers,
  DecodedWatchOptions,
  DeleteConditions,
  GuaranteedUpdateOptions,
  UndecodableValue,
  UpdateFn,
  Watch,
  WrittenValue,
} from "./decoded-value.js";
import { watchDecoded } from "./decoded-watch.js";
import type { KeyValue, ListOptions, Store } from "./store.js";
import { conflictError, notFoundError } from "./store-errors.js";
import {
  transformationStatusOf,
  transformError,
  transformerPrefixOf,
  type TransformationObserver,
  type TransformationType,
} from "./transformation-record.js";

/**
 * The one layer between the apiserver and the revisioned store (kube-apiserver's etcd3 store with its
 * value transformer): every write goes through `transformToStorage` and every read through
 * `transformFromStorage`, with the full storage key as the AAD, so bytes moved to another key do not
 * decrypt. Reads keep the transformer's `stale` flag; `guaranteedUpdate` rewrites a stale value even
 * when the object did not change, which is how re-encryption works ("read; if stale, write back").
 * With a budget, decoded values are kept in a decrypted-object cache by (key, modRevision);
 * `invalidate()` forgets them when the stale verdicts may have changed (reload, key_id rotation).
 */

/** Picks the transformer for a storage key (by its resource, from the encryption configuration). */
export type TransformerForKey = (storageKey: string) => Transformer;

const identity = newIdentityTransformer();

/** Every key through the identity transformer (no encryption configured). */
export const identityTransformerFor: TransformerForKey = () => identity;

export interface TransformingStoreOptions {
  readonly observer?: TransformationObserver;
  /** Attempts of `guaranteedUpdate` / an unconditional delete when another writer wins (default 5). */
  readonly maxConflictRetries?: number;
  /** Budget of the decrypted-object cache, in bytes of plaintext and key (default 0: no cache). */
  readonly decodedCacheBytes?: number;
}

/** A namespace's worth of keys is deleted in pages of this many. */
const DELETE_PAGE = 500;

export class TransformingStore {
  private readonly observer: TransformationObserver | undefined;
  private readonly maxConflictRetries: number;
  private readonly decoded: DecodedCache;

  constructor(
    /** The store under this layer; its values are the bytes at rest. Nothing above reaches it. */
    private readonly raw: Store,
    private readonly transformerFor: TransformerForKey,
    options: TransformingStoreOptions = {},
  ) {
    this.observer = options.observer;
    this.maxConflictRetries = options.maxConflictRetries ?? 5;
    this.decoded = new DecodedCache(options.decodedCacheBytes ?? 0);
  }

  currentRevision(): Promise<number> {
    return this.raw.currentRevision();
  }

  /** Whether the key exists; nothing is decoded (a value that does not read still exists). */
  async has(key: string): Promise<boolean> {
    return (await this.raw.get(key)) !== undefined;
  }

  async get(key: string): Promise<DecodedValue | undefined> {
    const kv = await this.raw.get(key);
    return kv === undefined ? undefined : this.decode(kv);
  }

  /** Decodes every item; the first that fails fails the list with an error naming its key. */
  async list(prefix: string, options: ListOptions = {}): Promise<DecodedList> {
    const res = await this.raw.list(prefix, options);
    const items: DecodedValue[] = [];
    for (const kv of res.items) items.push(await this.decode(kv));
    return { items, revision: res.revision, more: res.more };
  }

  /**
   * A list in which a value that does not decode is reported in its place instead of failing the list
   * (what a cache of every object needs: one bad value must not hide the others).
   */
  async listWithErrors(
    prefix: string,
    options: ListOptions = {},
  ): Promise<{ items: (DecodedValue | UndecodableValue)[]; revision: number; more: boolean }> {
    const res = await this.raw.list(prefix, options);
    const items: (DecodedValue | UndecodableValue)[] = [];
    for (const kv of res.items) {
      try {
        items.push(await this.decode(kv));
      } catch (err) {
        const error = isAtrestError(err) ? err : transformError(err, kv.key, "from_storage");
        items.push({ key: kv.key, modRevision: kv.modRevision, error });
      }
    }
    return { items, revision: res.revision, more: res.more };
  }

  /**
   * The keys under a prefix with their revisions; no value is decoded (keys are stored in the clear,
   * values stay encrypted): what counting and cursors need.
   */
  async listKeys(
    prefix: string,
    options: ListOptions = {},
  ): Promise<{ items: { key: string; modRevision: number }[]; revision: number; more: boolean }> {
    const res = await this.raw.list(prefix, options);
    return {
      items: res.items.map((kv) => ({ key: kv.key, modRevision: kv.modRevision })),
      revision: res.revision,
      more: res.more,
    };
  }

  /** Creates the key; "already-exists" when it exists. */
  create(key: string, data: Uint8Array): Promise<WrittenValue> {
    return this.write(key, data, (stored) => this.raw.create(key, stored));
  }

  /** Writes unconditionally at the expected revision, also when the bytes equal the stored object's. */
  update(key: string, data: Uint8Array, expectedModRevision: number): Promise<WrittenValue> {
    return this.write(key, data, (stored) => this.raw.update(key, stored, expectedModRevision));
  }

  /**
   * kube-apiserver's GuaranteedUpdate, the one place where "stale ⇒ rewrite" lives: read, let `fn`
   * produce the new object (it checks the caller's preconditions on every attempt), write with
   * compare-and-swap, and on a conflict read again and retry. When `fn` returns the same bytes, or
   * undefined, the write is skipped — unless the value is stale, which is rewritten with the current
   * provider. Returns the value as stored afterwards (or as it would be, on a dry run); "not-found" when
   * the key is absent, "conflict" when other writers won every attempt.
   */
  async guaranteedUpdate(
    key: string,
    fn: UpdateFn,
    options: GuaranteedUpdateOptions = {},
  ): Promise<DecodedValue | WrittenValue> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(key);
      if (current === undefined) throw notFoundError(key);
      const produced = await fn(current);
      const next = produced === undefined ? current.data : Buffer.from(produced);
      if (!current.stale && next.equals(current.data)) return current;
      if (options.dryRun === true) return written(current, next);
      try {
        return await this.update(key, next, current.modRevision);
      } catch (err) {
        if (isAtrestError(err, "conflict") && attempt < this.maxConflictRetries) continue;
        throw err;
      }
    }
  }

  /**
   * Deletes the key and returns what it held. The value is read and decoded first (as kube-apiserver
   * does for preconditions), so an undecodable value is not deleted through this path; the delete is
   * conditional on the revision read, and retried on a lost race unless `expectedModRevision` pins it.
   */
  async delete(key: string, conditions: number | DeleteConditions = {}): Promise<DecodedValue> {
    const c: DeleteConditions =
      typeof conditions === "number" ? { expectedModRevision: conditions } : conditions;
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(key);
      if (current === undefined) throw notFoundError(key);
      if (c.expectedModRevision !== undefined && current.modRevision !== c.expectedModRevision)
        throw conflictError(key, current.modRevision, c.expectedModRevision);
      await c.beforeDelete?.(current);
      if (c.dryRun === true) return current;
      try {
        await this.raw.delete(key, current.modRevision);
        this.decoded.delete(key);
        return current;
      } catch (err) {
        const retry = c.expectedModRevision === undefined && attempt < this.maxConflictRetries;
        if (retry && (isAtrestError(err, "conflict") || isAtrestError(err, "not-found"))) continue;
        throw err;
      }
    }
  }

  /** Deletes the stored bytes without reading them (for values that no longer decode). */
  async deleteWithoutDecodingUnsafe(key: string): Promise<KeyValue> {
    const kv = await this.raw.delete(key);
    this.decoded.delete(key);
    return kv;
  }

  /**
   * Deletes every key under the prefix without reading the values (a namespace's contents go with it,
   * whether they decode or not). Keys deleted meanwhile by someone else are skipped. Returns the count.
   */
  async deletePrefixWithoutDecodingUnsafe(prefix: string): Promise<number> {
    let deleted = 0;
    for (;;) {
      const page = await this.raw.list(prefix, { limit: DELETE_PAGE });
      for (const kv of page.items) {
        try {
          await this.raw.delete(kv.key);
          deleted++;
        } catch (err) {
          if (!isAtrestError(err, "not-found")) throw err;
        }
        this.decoded.delete(kv.key);
      }
      if (!page.more || page.items.length === 0) return deleted;
    }
  }

  /** Watches decoded events, in order; a value that fails to decode arrives as an "undecodable" event. */
  watch(
    prefix: string,
    fromRevision: number,
    handlers: DecodedWatchHandlers,
    options: DecodedWatchOptions = {},
  ): Promise<Watch> {
    return watchDecoded(this.raw, prefix, fromRevision, handlers, {
      decode: (kv) => this.decode(kv),
      decodePrevOnPut: options.decodePrevOnPut ?? true,
      decodePrevOnDelete: options.decodePrevOnDelete ?? true,
      deleted: (key, modRevision) => this.decoded.forgetBefore(key, modRevision),
    });
  }

  /**
   * Forgets every decoded value: how values are judged stale may have changed (a new encryption
   * configuration, a KMS v2 provider on a new key_id). A decode already under way is not kept.
   */
  invalidate(): void {
    this.decoded.clear();
  }

  /** How many decoded values the cache holds (for tests and metrics). */
  get decodedCacheSize(): number {
    return this.decoded.size;
  }

  compact(revision: number): Promise<void> {
    return this.raw.compact(revision);
  }

  close(): Promise<void> {
    return this.raw.close();
  }

  /** Reads one stored value through the cache or the key's transformer. Errors name the key, never the bytes. */
  private async decode(kv: KeyValue): Promise<DecodedValue> {
    const hit = this.decoded.get(kv.key, kv.modRevision);
    if (hit !== undefined) return { key: kv.key, ...hit, createRevision: kv.createRevision };
    const generation = this.decoded.generation;
    const started = performance.now();
    const prefix = transformerPrefixOf(kv.value);
    let read;
    try {
      read = await this.transformerFor(kv.key).transformFromStorage(kv.value, contextForKey(kv.key));
    } catch (err) {
      throw this.failed("from_storage", prefix, started, err, kv.key);
    }
    this.record("from_storage", prefix, "OK", started);
    const entry = {
      modRevision: kv.modRevision,
      data: read.plaintext,
      stale: read.stale,
      origin: read.origin,
    };
    this.decoded.set(kv.key, entry, generation);
    return { key: kv.key, ...entry, createRevision: kv.createRevision };
  }

  /** Encodes, stores with `put`, and keeps the plaintext: written by the first provider, so not stale. */
  private async write(
    key: string,
    data: Uint8Array,
    put: (stored: Buffer) => Promise<KeyValue>,
  ): Promise<WrittenValue> {
    const generation = this.decoded.generation;
    const plaintext = Buffer.from(data);
    const started = performance.now();
    let stored;
    try {
      stored = await this.transformerFor(key).transformToStorage(plaintext, contextForKey(key));
    } catch (err) {
      throw this.failed("to_storage", "", started, err, key);
    }
    this.record("to_storage", transformerPrefixOf(stored), "OK", started);
    const kv = await put(stored);
    this.decoded.set(key, { modRevision: kv.modRevision, data: plaintext, stale: false }, generation);
    return written(kv, plaintext);
  }

  private failed(
    type: TransformationType,
    prefix: string,
    started: number,
    err: unknown,
    key: string,
  ): AtrestError {
    const mapped = transformError(err, key, type);
    this.record(type, prefix, transformationStatusOf(mapped.code), started);
    return mapped;
  }

  private record(type: TransformationType, prefix: string, status: string, started: number): void {
    if (this.observer === undefined) return;
    try {
      this.observer.observe({
        transformationType: type,
        transformerPrefix: prefix,
        status,
        durationMs: performance.now() - started,
      });
    } catch {
      // A metrics hook must never fail a read or a write.
    }
  }
}

function written(
  kv: { key: string; modRevision: number; createRevision: number },
  data: Buffer,
): WrittenValue {
  return { key: kv.key, data, modRevision: kv.modRevision, createRevision: kv.createRevision };
}
