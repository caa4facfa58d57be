/**
 * The gRPC clients of the Kubernetes KMS plugin API (DESIGN.md §3). They implement the ports the envelope
 * layer defines (src/envelope/kms-service.ts: KmsV2Service, KmsV1Service).
 */
export { createKmsV2Client, type KmsV2Client, type KmsV2ClientOptions } from "./kms-v2-client.js";
export {
  createKmsV1Client,
  KMS_V1_API_VERSION,
  type KmsV1Client,
  type KmsV1ClientOptions,
} from "./kms-v1-client.js";
export type { KmsClientOptions, KmsCallEvent } from "./plugin-connection.js";
export { fromGrpcError, grpcCodeName } from "./grpc-errors.js";
export {
  KMS_V2_LIMITS,
  KMS_V2_STATUS_VERSIONS,
  ciphertextProblems,
  keyIdProblems,
  annotationNameProblems,
  annotationsProblems,
  encryptResponseProblems,
  statusHealthProblems,
  invalidPluginResponse,
} from "./validation.js";
