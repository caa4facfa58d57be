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
import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import type { Random } from "../common/random.js";
import type { KmsV1Service, KmsV2Service, StatusResponse } from "./kms-service.js";
import { newAesCbcTransformer } from "./aescbc.js";
import { newAesGcmTransformer } from "./aesgcm.js";
import { newIdentityTransformer } from "./identity.js";
import type { EnvelopeKey } from "./keyed-provider.js";
import { newKmsV1Transformer } from "./kms-v1.js";
import { newKmsV2Transformer } from "./kms-v2.js";
import type { KmsV2Hooks } from "./kmsv2-dek-state.js";
import { newPrefixChain } from "./prefix-chain.js";
import type { EnvelopeProvider } from "./provider.js";
import { newSecretboxTransformer } from "./secretbox.js";
import type { Transformer } from "./transformer.js";

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
export { KmsV2Provider, newKmsV2Transformer, type KmsV2TransformerOptions } from "./kms-v2.js";
export {
  KMS_V2_DEK_CACHE_TTL_MS,
  KMS_V2_HEALTH_NEGATIVE_TTL_MS,
  KMS_V2_HEALTH_POSITIVE_TTL_MS,
  KMS_V2_POLL_HEALTHY_INTERVAL_MS,
  KMS_V2_POLL_UNHEALTHY_INTERVAL_MS,
  KMS_V2_WRITE_DEK_MAX_TTL_MS,
  KmsV2DekState,
  type CurrentSeed,
  type KmsV2Hooks,
  type KmsV2Stats,
} from "./kmsv2-dek-state.js";
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
} from "./encrypted-object.js";
export { kmsV2CacheKey } from "./kmsv2-cache-key.js";
export { PrefixChain, newPrefixChain } from "./prefix-chain.js";

/**
 * The envelope providers in the shape src/encryption-config/build.ts's `ProviderFactories<P>` expects
 * (P = EnvelopeProvider), so the configuration builder can wire them without knowing their classes.
 */
export function envelopeProviderFactories(
  options: { random?: Random; logger?: Logger; kmsV2Hooks?: KmsV2Hooks } = {},
): {
  identity(): EnvelopeProvider;
  aesgcm(keys: readonly EnvelopeKey[]): EnvelopeProvider;
  aescbc(keys: readonly EnvelopeKey[]): EnvelopeProvider;
  secretbox(keys: readonly EnvelopeKey[]): EnvelopeProvider;
  kmsV1(o: { name: string; service: KmsV1Service; cacheSize: number; clock: Clock }): EnvelopeProvider;
  kmsV2(o: { name: string; service: KmsV2Service; clock: Clock }): {
    provider: EnvelopeProvider;
    onHealthyStatus: (status: StatusResponse) => Promise<void>;
    close: () => void;
  };
  chain(providers: readonly EnvelopeProvider[]): Transformer;
  fallback(): Transformer;
} {
  const random = options.random === undefined ? {} : { random: options.random };
  return {
    identity: () => newIdentityTransformer(),
    aesgcm: (keys) => newAesGcmTransformer(keys, random),
    aescbc: (keys) => newAesCbcTransformer(keys, random),
    secretbox: (keys) => newSecretboxTransformer(keys, random),
    kmsV1: (o) =>
      newKmsV1Transformer({ providerName: o.name, service: o.service, cacheSize: o.cacheSize, ...random }),
    kmsV2: (o) => {
      const provider = newKmsV2Transformer({
        providerName: o.name,
        service: o.service,
        clock: o.clock,
        ...random,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
        ...(options.kmsV2Hooks === undefined ? {} : { hooks: options.kmsV2Hooks }),
      });
      return {
        provider,
        onHealthyStatus: (status) => provider.onHealthyStatus(status),
        close: () => provider.stop(),
      };
    },
    chain: (providers) => newPrefixChain(providers),
    fallback: () => newIdentityTransformer(),
  };
}
