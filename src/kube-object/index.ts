/** Kubernetes objects as stored and served: their JSON shape and kube-apiserver's protobuf form. */
export { decodeStoredBytes } from "./stored-bytes.js";
export {
  PROTOBUF_MEDIA_TYPE,
  decodeProtobufObject,
  encodeProtobufObject,
  hasProtobufMagic,
} from "./protobuf-codec.js";
export { isPlainObject, metaOf, rfc3339, type KubeObject, type ObjectMeta } from "./types.js";
