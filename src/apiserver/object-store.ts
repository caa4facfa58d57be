import { AtrestError } from "../common/errors.js";
import { newIdentityTransformer } from "../envelope/identity.js";
import type { KeyValue, Store } from "../storage/store.js";
import {
  TransformingStore,
  type TransformationObserver,
  type TransformerForKey,
} from "../storage/transforming-store.js";
import { DecodedCache } from "./decoded-cache.js";
import { hasProtobufMagic, decodeProtobufObject } from "./protobuf-codec.js";
import { isPlainObject, type KubeObject } from "./types.js";

/**
 * Kubernetes objects over the transforming store: every value passes through the Transformer chosen
 * for its key (the storage key is the AAD) and is decoded from JSON or from kube-apiserver's protobuf
 * form. Writes are JSON (kube-apiserver reads JSON from etcd too). resourceVersion is the store's
 * modRevision and is never stored inside the value.
 */

export interface StoredObject {
  readonly object: KubeObject;
  readonly modRevision: number;
  readonly createRevision: number;
  /** The transformer says the value should be rewritten (older provider or key). */
  readonly stale: boolean;
}

export type TransformerFor = TransformerForKey;

const identity = newIdentityTransformer();

/** Every key through the identity transformer (no encryption configured). */
export const identityTransformerFor: TransformerFor = () => identity;

export class ObjectStore {
  readonly transforming: TransformingStore;
  /** Decrypted bytes of values read or written here; `clear()` it when the transformers change. */
  readonly decoded: DecodedCache;

  constructor(
    /** The revisioned store (bytes at rest); reads that need no decoding go to it directly. */
    readonly store: Store,
    transformerFor: TransformerFor = identityTransformerFor,
    options: { observer?: TransformationObserver; decodedCacheBytes?: number } = {},
  ) {
    this.decoded = new DecodedCache(options.decodedCacheBytes);
    this.transforming = new TransformingStore(
      store,
      transformerFor,
      options.observer !== undefined ? { observer: options.observer } : {},
    );
  }

  async decode(kv: KeyValue): Promise<StoredObject> {
    const value = this.decoded.get(kv.key, kv.modRevision) ?? (await this.decodeFresh(kv));
    const object = decodeStoredBytes(value.data, kv.key);
    const meta = isPlainObject(object.metadata) ? object.metadata : (object.metadata = {});
    meta.resourceVersion = String(kv.modRevision);
    return { object, modRevision: kv.modRevision, createRevision: kv.createRevision, stale: value.stale };
  }

  private async decodeFresh(kv: KeyValue): Promise<{ data: Buffer; stale: boolean }> {
    const generation = this.decoded.generation;
    let value;
    try {
      value = await this.transforming.decode(kv);
    } catch (err) {
      // kube-apiserver answers a value it cannot transform with 500 (503 when the KMS is unreachable).
      const code =
        err instanceof AtrestError && (err.code === "unavailable" || err.code === "deadline-exceeded")
          ? "unavailable"
          : "internal";
      throw new AtrestError(code, err instanceof Error ? err.message : String(err), { cause: err });
    }
    const entry = { modRevision: kv.modRevision, data: value.data, stale: value.stale };
    this.decoded.set(kv.key, entry, generation);
    return entry;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const kv = await this.store.get(key);
    return kv === undefined ? undefined : this.decode(kv);
  }

  /** Creates the key; AtrestError "already-exists" when it exists. Returns the new revision. */
  create(key: string, object: KubeObject): Promise<number> {
    return this.write(key, object, (data) => this.transforming.create(key, data));
  }

  /** Compare-and-swap on the revision read; always writes (a stale value is rewritten even if unchanged). */
  update(key: string, object: KubeObject, expectedModRevision: number): Promise<number> {
    return this.write(key, object, (data) => this.transforming.update(key, data, expectedModRevision));
  }

  private async write(
    key: string,
    object: KubeObject,
    put: (data: Buffer) => Promise<{ modRevision: number }>,
  ): Promise<number> {
    const generation = this.decoded.generation;
    const data = serialize(object);
    const { modRevision } = await put(data);
    // Written by the first provider with the current key: not stale (unless a clear came in between).
    this.decoded.set(key, { modRevision, data, stale: false }, generation);
    return modRevision;
  }
}

/** The stored form: JSON without resourceVersion or selfLink (the store's revision is the version). */
function serialize(object: KubeObject): Buffer {
  const meta = isPlainObject(object.metadata) ? { ...object.metadata } : {};
  delete meta.resourceVersion;
  delete meta.selfLink;
  return Buffer.from(JSON.stringify({ ...object, metadata: meta }), "utf8");
}

export function decodeStoredBytes(bytes: Buffer, key: string): KubeObject {
  if (hasProtobufMagic(bytes)) {
    try {
      return decodeProtobufObject(bytes);
    } catch (err) {
      throw new AtrestError("data-corrupt", `stored object at "${key}" is not valid protobuf`, {
        cause: err,
      });
    }
  }
  try {
    const parsed: unknown = JSON.parse(bytes.toString("utf8"));
    if (!isPlainObject(parsed)) throw new Error("not an object");
    return parsed;
  } catch (err) {
    throw new AtrestError("data-corrupt", `stored object at "${key}" is neither JSON nor protobuf`, {
      cause: err,
    });
  }
}
