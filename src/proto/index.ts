/** Loading the KMS .proto files (proto/) at runtime; the one protobuf library is protobufjs. */
export { PROTO_FILES, protoDir, protoPath, type ProtoFile } from "./proto-files.js";
export {
  PROTO_LOADER_OPTIONS,
  loadPackageDefinition,
  kmsV2ServiceDefinition,
  kmsV1beta1ServiceDefinition,
  methodDefinition,
} from "./kms-services.js";
export {
  encryptedObjectType,
  encodeEncryptedObjectWire,
  decodeEncryptedObjectWire,
  withoutProto3Defaults,
} from "./encrypted-object.js";
export type * from "../generated/kms-wire.js";
export {
  V2KeyManagementServicePaths,
  V1beta1KeyManagementServicePaths,
  V2EncryptedDEKSourceType,
} from "../generated/kms-wire.js";
