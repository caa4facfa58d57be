/**
 * Value transformers, byte-compatible with kube-apiserver (DESIGN.md §4): identity, aescbc, aesgcm,
 * secretbox, KMS v1 and KMS v2 envelope, composed by the prefix chain (the first provider writes, all
 * read, reads by a later provider are stale).
 *
 *   const chain = newPrefixChain([
 *     newKmsV2Transformer({ providerName: "kms", service }),
 *     newAesGcmTransformer([{ name: "key1", secret }]),
 *     newIdentityTransformer(),
 *   ]);
 *   const stored = await chain.transformToStorage(plaintext, contextForKey("/registry/secrets/ns/name"));
 */
export {
  contextForKey,
  type ReadResult,
  type TransformContext,
  type Transformer,
  type ValueOrigin,
} from "./transformer.js";
export { ENCRYPTED_VALUE_MARKER, describePrefix, type EnvelopeProvider } from "./provider.js";
export { IdentityProvider, newIdentityTransformer } from "./identity.js";
export { KeyedProvider, type EnvelopeKey } from "./keyed-provider.js";
export { newAesGcmTransformer } from "./aesgcm.js";
export { newAesCbcTransformer } from "./aescbc.js";
export { newSecretboxTransformer } from "./secretbox.js";
export {
  KMS_V1_DEFAULT_CACHE_SIZE,
  KmsV1Provider,
  newKmsV1Transformer,
  type KmsV1Hooks,
  type KmsV1TransformerOptions,
} from "./kms-v1.js";
export type {
  Closeable,
  DecryptRequest,
  EncryptResponse,
  KmsV1Service,
  KmsV2Service,
  StatusResponse,
} from "./kms-service.js";
export {
  HealthResultCache,
  KMS_HEALTH_NEGATIVE_TTL_MS,
  KMS_HEALTH_POSITIVE_TTL_MS,
} from "./health-result-cache.js";
export { KmsV2Provider, newKmsV2Transformer, type KmsV2TransformerOptions } from "./kmsv2/transformer.js";
export { KmsV2Runtime, type KmsV2RuntimeOptions } from "./kmsv2/runtime.js";
export type { CurrentSeed } from "./kmsv2/seed-state.js";
export type { KmsV2Hooks, KmsV2Stats } from "./kmsv2/plugin-calls.js";
export {
  KMS_V2_DEK_CACHE_TTL_MS,
  KMS_V2_KDF_CACHE_TTL_MS,
  KMS_V2_POLL_HEALTHY_INTERVAL_MS,
  KMS_V2_POLL_UNHEALTHY_INTERVAL_MS,
  KMS_V2_SEED_BYTES,
  KMS_V2_STATUS_VERSIONS,
  KMS_V2_WRITE_DEK_MAX_TTL_MS,
} from "./kmsv2/constants.js";
export {
  ANNOTATIONS_MAX_BYTES,
  DEK_SOURCE_TYPE,
  DEK_SOURCE_TYPE_NAMES,
  ENCRYPTED_DEK_SOURCE_MAX_BYTES,
  KEY_ID_MAX_BYTES,
  decodeEncryptedObject,
  encodeEncryptedObject,
  encryptedObjectProblems,
  type DekSourceType,
  type EncryptedObject,
} from "./kmsv2/encrypted-object.js";
export { kmsV2CacheKey } from "./kmsv2/cache-key.js";
export { PrefixChain, newPrefixChain } from "./prefix-chain.js";
