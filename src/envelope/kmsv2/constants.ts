/**
 * The KMS v2 runtime's numbers, each kube-apiserver's constant of the same meaning
 * (server/options/encryptionconfig/config.go, storage/value/encrypt/envelope/kmsv2). Never change one
 * without reason: operators plan key rotations and storage migrations around them.
 */

/** kmsv2PluginWriteDEKSourceMaxTTL: each good Status check lets writes use the current seed this long. */
export const KMS_V2_WRITE_DEK_MAX_TTL_MS = 3 * 60_000;
/** kmsv2PluginHealthzPositiveInterval: Status is polled this often while the plugin is healthy… */
export const KMS_V2_POLL_HEALTHY_INTERVAL_MS = 60_000;
/** kmsv2PluginHealthzNegativeInterval: …and this often while it is not. */
export const KMS_V2_POLL_UNHEALTHY_INTERVAL_MS = 10_000;
/** kmsv2 cacheTTL: decrypted DEKs/seeds are kept this long. */
export const KMS_V2_DEK_CACHE_TTL_MS = 24 * 60 * 60_000;
/** aes_extended_nonce.go cacheTTL: a seed-mode read key is kept per storage key this long. */
export const KMS_V2_KDF_CACHE_TTL_MS = 10 * 60_000;
/** Status versions kube-apiserver accepts: "v2", and the pre-GA "v2beta1". */
export const KMS_V2_STATUS_VERSIONS: readonly string[] = Object.freeze(["v2", "v2beta1"]);
/** The random seed kube-apiserver makes and sends to the plugin's Encrypt (seed mode). */
export const KMS_V2_SEED_BYTES = 32;

/**
 * Bounds kube leaves open (its caches only expire). Decrypted seeds: one per apiserver start or key_id
 * change within 24 h, so this is generous; evicting one costs one plugin Decrypt on the next read.
 */
export const KMS_V2_DEK_CACHE_MAX_ENTRIES = 10_000;
/** Seed-mode read keys per seed (one per storage key read in 10 minutes); a miss costs one HKDF-Expand. */
export const KMS_V2_KDF_CACHE_MAX_ENTRIES = 16_384;
