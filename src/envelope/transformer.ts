/**
 * The seam the whole feature rests on (kube-apiserver's storage/value.Transformer): writes use the
 * present, reads accept the past and say when what they read is stale.
 */

/** Where the bytes live: the full storage key, e.g. `/registry/secrets/<ns>/<name>`, used as AAD. */
export interface TransformContext {
  /** The additional authenticated data: the UTF-8 bytes of the full storage key. */
  readonly aad: Uint8Array;
}

/** How a stored value was encrypted, as far as its bytes (and the provider that read them) tell. */
export interface ValueOrigin {
  /** "identity" | "aescbc" | "aesgcm" | "secretbox" | "kms" */
  readonly provider: "identity" | "aescbc" | "aesgcm" | "secretbox" | "kms";
  /** For kms: "v1" | "v2". */
  readonly kmsApiVersion?: "v1" | "v2";
  /** The provider's name in the configuration (kms providers). */
  readonly providerName?: string;
  /** The key's name in the configuration (aescbc/aesgcm/secretbox). */
  readonly keyName?: string;
  /** The KMS v2 key_id stored with the value. */
  readonly keyId?: string;
  /** KMS v2: "AES_GCM_KEY" (type 0) or "HKDF_SHA256_XNONCE_AES_GCM_SEED" (type 1); KMS v1: "AES_GCM" | "AES_CBC". */
  readonly dekSourceType?: string;
}

export interface ReadResult {
  readonly plaintext: Buffer;
  /** True when the value should be rewritten: another provider, key or key_id than the one that writes. */
  readonly stale: boolean;
  readonly origin: ValueOrigin;
}

export interface Transformer {
  /** Decrypts a stored value. Throws AtrestError ("data-corrupt", "unavailable", …); never returns wrong plaintext. */
  transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult>;
  /** Encrypts a value for storage with the current provider and key. */
  transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer>;
}

export function contextForKey(storageKey: string): TransformContext {
  return { aad: Buffer.from(storageKey, "utf8") };
}
