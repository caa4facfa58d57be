import { AtrestError } from "../common/errors.js";
import { contextForKey, type Transformer } from "../envelope/transformer.js";
import type { KeyValue, Store } from "../storage/store.js";
import { hasProtobufMagic, decodeProtobufObject } from "./protobuf-codec.js";
import { isPlainObject, type KubeObject } from "./types.js";

/**
 * Objects over the revisioned store: each value passes through the Transformer chosen for its key (the
 * storage key is the AAD) and is decoded from JSON or from kube-apiserver's protobuf form. Writes are
 * JSON (kube-apiserver reads JSON from etcd too). resourceVersion is the store's modRevision and is
 * never stored inside the value.
 */

export interface StoredObject {
  readonly object: KubeObject;
  readonly modRevision: number;
  readonly createRevision: number;
  /** The transformer says the value should be rewritten (older provider or key). */
  readonly stale: boolean;
}

const ENCRYPTED_PREFIX = Buffer.from("k8s:enc:");

/** The identity transformer: bytes unchanged; an encrypted value without a configured provider is an error. */
export const identityTransformer: Transformer = {
  async transformFromStorage(data) {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (buf.subarray(0, ENCRYPTED_PREFIX.length).equals(ENCRYPTED_PREFIX)) {
      throw new AtrestError("data-corrupt", "identity transformer tried to read encrypted data");
    }
    return { plaintext: buf, stale: false, origin: { provider: "identity" } };
  },
  async transformToStorage(plaintext) {
    return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  },
};

export type TransformerFor = (storageKey: string) => Transformer;

export class ObjectStore {
  constructor(
    readonly store: Store,
    private readonly transformerFor: TransformerFor,
  ) {}

  async decode(kv: KeyValue): Promise<StoredObject> {
    let read;
    try {
      read = await this.transformerFor(kv.key).transformFromStorage(kv.value, contextForKey(kv.key));
    } catch (err) {
      if (err instanceof AtrestError) {
        throw new AtrestError(err.code === "unavailable" ? "unavailable" : "internal", `unable to transform key "${kv.key}": ${err.message}`, { cause: err });
      }
      throw err;
    }
    const object = decodeStoredBytes(read.plaintext, kv.key);
    const meta = isPlainObject(object.metadata) ? object.metadata : (object.metadata = {});
    meta.resourceVersion = String(kv.modRevision);
    return { object, modRevision: kv.modRevision, createRevision: kv.createRevision, stale: read.stale };
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const kv = await this.store.get(key);
    return kv === undefined ? undefined : this.decode(kv);
  }

  async encode(key: string, object: KubeObject): Promise<Buffer> {
    const plaintext = Buffer.from(JSON.stringify(forStorage(object)), "utf8");
    return this.transformerFor(key).transformToStorage(plaintext, contextForKey(key));
  }
}

/** The stored form: no resourceVersion or selfLink (the store's revision is the version). */
function forStorage(object: KubeObject): KubeObject {
  const meta = isPlainObject(object.metadata) ? { ...object.metadata } : {};
  delete meta.resourceVersion;
  delete meta.selfLink;
  return { ...object, metadata: meta };
}

export function decodeStoredBytes(bytes: Buffer, key: string): KubeObject {
  if (hasProtobufMagic(bytes)) {
    try {
      return decodeProtobufObject(bytes);
    } catch (err) {
      throw new AtrestError("data-corrupt", `stored object at "${key}" is not valid protobuf`, { cause: err });
    }
  }
  try {
    const parsed: unknown = JSON.parse(bytes.toString("utf8"));
    if (!isPlainObject(parsed)) throw new Error("not an object");
    return parsed;
  } catch (err) {
    throw new AtrestError("data-corrupt", `stored object at "${key}" is neither JSON nor protobuf`, { cause: err });
  }
}
