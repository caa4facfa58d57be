import { AtrestError } from "../common/errors.js";
import { decodeProtobufObject, hasProtobufMagic } from "./protobuf-codec.js";
import { isPlainObject, type KubeObject } from "./types.js";

/**
 * The object a stored value holds (after the value transformers): JSON, as atrest writes it, or
 * kube-apiserver's protobuf form, as a real cluster's etcd holds it. The apiserver's registry, scan
 * and recovery all read stored objects through this one decoder.
 */
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
