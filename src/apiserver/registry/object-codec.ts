import { decodeStoredBytes } from "../../kube-object/stored-bytes.js";
import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import type { ResourceInfo } from "../resources.js";

/**
 * Kubernetes objects as the transforming store holds them: the object bytes are JSON (what atrest
 * writes; kube-apiserver reads JSON from etcd too) or kube-apiserver's protobuf form (what it writes).
 * resourceVersion is the store's modRevision and is never stored inside the value.
 */

/** A decoded value as far as the codec needs it. */
export interface StoredBytes {
  readonly key: string;
  readonly data: Buffer;
  readonly modRevision: number;
}

/** The object a value holds, with its resourceVersion (the value's modRevision unless given). */
export function objectOf(value: StoredBytes, resourceVersion = value.modRevision): KubeObject {
  const object = decodeStoredBytes(value.data, value.key);
  const meta = isPlainObject(object.metadata) ? object.metadata : (object.metadata = {});
  meta.resourceVersion = String(resourceVersion);
  return object;
}

/** The stored form: JSON without resourceVersion or selfLink (the store's revision is the version). */
export function encodeObject(object: KubeObject): Buffer {
  const meta = isPlainObject(object.metadata) ? { ...object.metadata } : {};
  delete meta.resourceVersion;
  delete meta.selfLink;
  return Buffer.from(JSON.stringify({ ...object, metadata: meta }), "utf8");
}

/** A DELETED object when nothing of its value is known (the store kept none): what its key says. */
export function objectFromKey(info: ResourceInfo, prefix: string, key: string, rv: number): KubeObject {
  const rest = key.slice(prefix.length).split("/");
  const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
  if (rest.length >= 2) {
    metadata.namespace = rest[0];
    metadata.name = rest[1];
  } else metadata.name = rest[0];
  return { apiVersion: info.apiVersion, kind: info.kind, metadata };
}
