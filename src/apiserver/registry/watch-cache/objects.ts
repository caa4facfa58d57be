import { isPlainObject, type KubeObject } from "../../../kube-object/types.js";
import { objectOf, type StoredBytes } from "../object-codec.js";

/** The objects the watch cache holds: parsed once, frozen, shared by every reader. */

/** A decoded value's object with its resourceVersion, frozen all the way down. */
export function frozenObjectOf(value: StoredBytes): KubeObject {
  return deepFreeze(objectOf(value));
}

/** A deleted object as a DELETED event carries it: its last state at the delete's revision. */
export function deletedObject(last: KubeObject, revision: number): KubeObject {
  const meta = isPlainObject(last.metadata) ? last.metadata : {};
  return { ...last, metadata: { ...meta, resourceVersion: String(revision) } };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  if (ArrayBuffer.isView(value)) return value; // typed arrays cannot be frozen; nothing writes them
  for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  return Object.freeze(value);
}
