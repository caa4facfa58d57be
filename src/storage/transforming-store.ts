import { AtrestError, type ErrorCode } from "../common/errors.js";
import { contextForKey, type Transformer, type ValueOrigin } from "../envelope/transformer.js";
import type { KeyValue, ListOptions, Store, Watch, WatchEvent } from "./store.js";
import { deliverWatchEvent } from "./store-errors.js";

/**
 * The layer between the apiserver and the revisioned store (kube-apiserver's etcd3 store with its value
 * transformer): every write goes through `transformToStorage` and every read through
 * `transformFromStorage`, with the full storage key as the AAD, so bytes moved to another key do not
 * decrypt. Reads keep the transformer's `stale` flag; `guaranteedUpdate` rewrites a stale value even
 * when the object did not change, which is how re-encryption works ("read; if stale, write back").
 */

/** Picks the transformer for a storage key (by its resource, from the encryption configuration). */
export type TransformerForKey = (storageKey: string) => Transformer;

/** A value as the apiserver sees it: the object bytes (plaintext), never the stored ciphertext. */
export interface DecodedValue {
  readonly key: string;
  /** The object bytes (JSON or kube protobuf), as the transformer returned them. */
  readonly data: Buffer;
  /** The value should be rewritten: it was written by another provider, key or key_id than the current one. */
  readonly stale: boolean;
  readonly origin: ValueOrigin;
  readonly modRevision: number;
  readonly createRevision: number;
}

/** What a write returns: the new revision of the bytes the caller passed. */
export interface WrittenValue {
  readonly key: string;
  readonly data: Buffer;
  readonly modRevision: number;
  readonly createRevision: number;
}

export interface DecodedList {
  readonly items: DecodedValue[];
  readonly revision: number;
  readonly more: boolean;
}

export type DecodedWatchEvent =
  | { readonly type: "put"; readonly value: DecodedValue; readonly prev?: DecodedValue }
  | {
      readonly type: "delete";
      readonly key: string;
      readonly modRevision: number;
      readonly prev?: DecodedValue;
    }
  /** A value in the stream that does not decode; the error names the key and never holds plaintext. */
  | {
      readonly type: "undecodable";
      readonly key: string;
      readonly modRevision: number;
      readonly error: AtrestError;
    };

export interface DecodedWatchHandlers {
  onEvent(event: DecodedWatchEvent): void;
  onError(err: Error): void;
}

/**
 * Hook for metrics like kube-apiserver's `apiserver_storage_transformation_operations_total
 * {transformation_type, transformer_prefix, status}` and `…_transformation_duration_seconds`.
 */
export interface TransformationObserver {
  observe(op: TransformationRecord): void;
}

export interface TransformationRecord {
  readonly transformationType: "to_storage" | "from_storage";
  /** The prefix of the stored bytes, e.g. `k8s:enc:kms:v2:my-kms:`, or "identity" for unprefixed data. */
  readonly transformerPrefix: string;
  /** "OK" or a gRPC-style code name ("Unavailable", "DataLoss", …), as kube-apiserver labels it. */
  readonly status: string;
  readonly durationMs: number;
}

export interface TransformingStoreOptions {
  readonly observer?: TransformationObserver;
  /** Attempts of `guaranteedUpdate` / an unconditional delete when another writer wins (default 5). */
  readonly maxConflictRetries?: number;
}

/** What `guaranteedUpdate`'s function returns: new object bytes, or undefined to leave the value alone. */
export type UpdateFn = (current: DecodedValue) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

export class TransformingStore {
  private readonly observer: TransformationObserver | undefined;
  private readonly maxConflictRetries: number;

  constructor(
    /** The store under this layer; its values are the bytes at rest. */
    readonly raw: Store,
    private readonly transformerFor: TransformerForKey,
    options: TransformingStoreOptions = {},
  ) {
    this.observer = options.observer;
    this.maxConflictRetries = options.maxConflictRetries ?? 5;
  }

  currentRevision(): Promise<number> {
    return this.raw.currentRevision();
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

  async create(key: string, data: Uint8Array): Promise<WrittenValue> {
    const stored = await this.encode(key, data);
    const kv = await this.raw.create(key, stored);
    return written(kv, data);
  }

  /** Writes unconditionally at the expected revision, also when the bytes equal the stored object's. */
  async update(key: string, data: Uint8Array, expectedModRevision: number): Promise<WrittenValue> {
    const stored = await this.encode(key, data);
    const kv = await this.raw.update(key, stored, expectedModRevision);
    return written(kv, data);
  }

  /**
   * kube-apiserver's GuaranteedUpdate: read, let `fn` produce the new object, write with
   * compare-and-swap, and on a conflict read again and retry. When `fn` returns the same bytes the
   * write is skipped — unless the value is stale, which is rewritten with the current provider.
   * Returns the value as stored afterwards; "not-found" when the key is absent.
   */
  async guaranteedUpdate(key: string, fn: UpdateFn): Promise<DecodedValue | WrittenValue> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(key);
      if (current === undefined)
        throw new AtrestError("not-found", `key "${key}" not found`, { details: { key } });
      const next = await fn(current);
      if (next === undefined || (!current.stale && Buffer.from(next).equals(current.data))) return current;
      try {
        return await this.update(key, next, current.modRevision);
      } catch (err) {
        if (err instanceof AtrestError && err.code === "conflict" && attempt < this.maxConflictRetries)
          continue;
        throw err;
      }
    }
  }

  /**
   * Deletes the key and returns what it held. The value is read and decoded first (as kube-apiserver
   * does for preconditions), so an undecodable value is not deleted through this path; the delete is
   * conditional on the revision read, or on `expectedModRevision` when given.
   */
  async delete(key: string, expectedModRevision?: number): Promise<DecodedValue> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(key);
      if (current === undefined)
        throw new AtrestError("not-found", `key "${key}" not found`, { details: { key } });
      if (expectedModRevision !== undefined && current.modRevision !== expectedModRevision) {
        throw new AtrestError(
          "conflict",
          `key "${key}" was modified (revision ${current.modRevision}, expected ${expectedModRevision})`,
          {
            details: { key, modRevision: current.modRevision, expectedModRevision },
          },
        );
      }
      try {
        await this.raw.delete(key, current.modRevision);
        return current;
      } catch (err) {
        const retry = expectedModRevision === undefined && attempt < this.maxConflictRetries;
        if (err instanceof AtrestError && retry && (err.code === "conflict" || err.code === "not-found"))
          continue;
        throw err;
      }
    }
  }

  /** Deletes the stored bytes without reading them (for values that no longer decode). */
  deleteWithoutDecodingUnsafe(key: string): Promise<KeyValue> {
    return this.raw.delete(key);
  }

  /** Watches decoded events, in order; a value that fails to decode arrives as an "undecodable" event. */
  async watch(prefix: string, fromRevision: number, handlers: DecodedWatchHandlers): Promise<Watch> {
    let chain = Promise.resolve();
    let cancelled = false;
    const started: { watch?: Watch } = {};
    const end = (): void => {
      cancelled = true;
      void started.watch?.cancel();
    };
    const watch = await this.raw.watch(prefix, fromRevision, {
      onEvent: (event) => {
        // Decoding is asynchronous; the chain keeps the events in revision order.
        chain = chain.then(async () => {
          if (cancelled) return;
          const decoded = await this.decodeEvent(event);
          if (!cancelled && !deliverWatchEvent(handlers, decoded)) end();
        });
      },
      onError: (err) => {
        chain = chain.then(() => {
          if (cancelled) return;
          cancelled = true;
          try {
            handlers.onError(err);
          } catch {
            // The watch is over either way.
          }
        });
      },
    });
    started.watch = watch;
    return {
      cancel: async () => {
        cancelled = true;
        await watch.cancel();
      },
    };
  }

  compact(revision: number): Promise<void> {
    return this.raw.compact(revision);
  }

  close(): Promise<void> {
    return this.raw.close();
  }

  /** Reads one stored value through the key's transformer. Errors name the key, never the bytes. */
  async decode(kv: KeyValue): Promise<DecodedValue> {
    const started = performance.now();
    const prefix = transformerPrefixOf(kv.value);
    try {
      const read = await this.transformerFor(kv.key).transformFromStorage(kv.value, contextForKey(kv.key));
      this.record("from_storage", prefix, "OK", started);
      return {
        key: kv.key,
        data: read.plaintext,
        stale: read.stale,
        origin: read.origin,
        modRevision: kv.modRevision,
        createRevision: kv.createRevision,
      };
    } catch (err) {
      const mapped = transformError(err, kv.key);
      this.record("from_storage", prefix, statusOf(mapped.code), started);
      throw mapped;
    }
  }

  private async encode(key: string, data: Uint8Array): Promise<Buffer> {
    const started = performance.now();
    try {
      const stored = await this.transformerFor(key).transformToStorage(data, contextForKey(key));
      this.record("to_storage", transformerPrefixOf(stored), "OK", started);
      return stored;
    } catch (err) {
      const mapped = transformError(err, key);
      this.record("to_storage", "", statusOf(mapped.code), started);
      throw mapped;
    }
  }

  private async decodeEvent(event: WatchEvent): Promise<DecodedWatchEvent> {
    const key = event.type === "put" ? event.kv.key : event.key;
    const modRevision = event.type === "put" ? event.kv.modRevision : event.modRevision;
    try {
      const prev = event.prevKv === undefined ? undefined : await this.decode(event.prevKv);
      if (event.type === "put") {
        const value = await this.decode(event.kv);
        return prev === undefined ? { type: "put", value } : { type: "put", value, prev };
      }
      return prev === undefined
        ? { type: "delete", key, modRevision }
        : { type: "delete", key, modRevision, prev };
    } catch (err) {
      return {
        type: "undecodable",
        key,
        modRevision,
        error: err instanceof AtrestError ? err : transformError(err, key),
      };
    }
  }

  private record(type: "to_storage" | "from_storage", prefix: string, status: string, started: number): void {
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

function written(kv: KeyValue, data: Uint8Array): WrittenValue {
  return {
    key: kv.key,
    data: Buffer.from(data),
    modRevision: kv.modRevision,
    createRevision: kv.createRevision,
  };
}

/** kube-apiserver's wording; the cause's message is the transformer's and never holds plaintext. */
function transformError(err: unknown, key: string): AtrestError {
  const code: ErrorCode = err instanceof AtrestError ? err.code : "internal";
  const message = err instanceof Error ? err.message : String(err);
  return new AtrestError(code, `unable to transform key "${key}": ${message}`, {
    cause: err,
    details: { key },
  });
}

const ENC_PREFIX = Buffer.from("k8s:enc:");
const COLON = 0x3a;

/**
 * `k8s:enc:<provider>:<version>:<name>:` from stored bytes (config names only, nothing secret), or
 * "identity" for unprefixed values. Bytes that start like a prefix but do not complete one are "unknown".
 */
export function transformerPrefixOf(stored: Uint8Array): string {
  const buf = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (!buf.subarray(0, ENC_PREFIX.length).equals(ENC_PREFIX)) return "identity";
  let colons = 0;
  // Names are short; a prefix longer than this is not one.
  for (let i = 0; i < Math.min(buf.length, 300); i++) {
    if (buf[i] === COLON && ++colons === 5) return buf.subarray(0, i + 1).toString("latin1");
  }
  return "unknown";
}

/** gRPC code names, which kube-apiserver uses for the `status` label. */
const STATUS_BY_CODE: Readonly<Record<ErrorCode, string>> = {
  "invalid-argument": "InvalidArgument",
  "not-found": "NotFound",
  "already-exists": "AlreadyExists",
  conflict: "Aborted",
  "failed-precondition": "FailedPrecondition",
  unauthenticated: "Unauthenticated",
  "permission-denied": "PermissionDenied",
  "resource-exhausted": "ResourceExhausted",
  unavailable: "Unavailable",
  "deadline-exceeded": "DeadlineExceeded",
  "data-corrupt": "DataLoss",
  gone: "OutOfRange",
  unimplemented: "Unimplemented",
  internal: "Internal",
};

function statusOf(code: ErrorCode): string {
  return STATUS_BY_CODE[code];
}
