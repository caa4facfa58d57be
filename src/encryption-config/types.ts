/**
 * The validated, defaulted, frozen EncryptionConfiguration (DESIGN.md §5). Produced only by
 * `parseEncryptionConfiguration`; every field has passed kube-apiserver's rules.
 */

export type KmsApiVersion = "v1" | "v2";

export interface KeyConfig {
  readonly name: string;
  /** Base64 of the key bytes exactly as in the file. Key material: never log it. */
  readonly secret: string;
}

export interface AesGcmProviderConfig {
  readonly type: "aesgcm";
  readonly keys: readonly KeyConfig[];
}
export interface AesCbcProviderConfig {
  readonly type: "aescbc";
  readonly keys: readonly KeyConfig[];
}
export interface SecretboxProviderConfig {
  readonly type: "secretbox";
  readonly keys: readonly KeyConfig[];
}
export interface IdentityProviderConfig {
  readonly type: "identity";
}
export interface KmsProviderConfig {
  readonly type: "kms";
  readonly apiVersion: KmsApiVersion;
  readonly name: string;
  /** `unix:///path` or `unix:///@abstract`. */
  readonly endpoint: string;
  /** KMS v1 only: decrypted DEKs kept (default 1000); negative disables the cache. Absent for v2. */
  readonly cacheSize?: number;
  /** Per-call timeout (default 3 s). */
  readonly timeoutMs: number;
}

export type ProviderConfig =
  | AesGcmProviderConfig
  | AesCbcProviderConfig
  | SecretboxProviderConfig
  | IdentityProviderConfig
  | KmsProviderConfig;

export interface ResourceRule {
  /** As written: `secrets`, `deployments.apps`, `*.apps`, `*.`, `*.*`. */
  readonly resources: readonly string[];
  /** The first writes; all read. */
  readonly providers: readonly ProviderConfig[];
}

export interface EncryptionConfiguration {
  readonly apiVersion: "apiserver.config.k8s.io/v1" | "v1";
  readonly kind: "EncryptionConfiguration" | "EncryptionConfig";
  readonly resources: readonly ResourceRule[];
}

/** kube-apiserver's defaults for `timeout` (3 s) and a v1 provider's `cachesize` (1000): one definition each. */
export { DEFAULT_KMS_TIMEOUT_MS } from "../envelope/kms-service.js";
export { KMS_V1_DEFAULT_CACHE_SIZE as DEFAULT_KMS_V1_CACHE_SIZE } from "../envelope/kms-v1.js";

/** Deep-freezes a plain configuration value. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
