/**
 * The KMS v2 and v1beta1 service definitions the plugin serves, from the shared loader (src/proto/),
 * so the server and the apiserver's clients read the same .proto files with the same options.
 */
import type * as grpc from "@grpc/grpc-js";
import { kmsV1beta1ServiceDefinition, kmsV2ServiceDefinition } from "../proto/index.js";

export function kmsServiceDefinitions(): { v2: grpc.ServiceDefinition; v1beta1: grpc.ServiceDefinition } {
  return { v2: kmsV2ServiceDefinition(), v1beta1: kmsV1beta1ServiceDefinition() };
}

/** Wire shapes (keepCase) of the messages the handlers see. */
export interface V2EncryptRequestWire {
  plaintext: Buffer;
  uid: string;
}
export interface V2DecryptRequestWire {
  ciphertext: Buffer;
  uid: string;
  key_id: string;
  annotations: Record<string, Buffer>;
}
export interface V1EncryptRequestWire {
  version: string;
  plain: Buffer;
}
export interface V1DecryptRequestWire {
  version: string;
  cipher: Buffer;
}
export interface V1VersionRequestWire {
  version: string;
}
