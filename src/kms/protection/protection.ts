/**
 * Where a KMS key version's material lives and is used. SOFTWARE: generated here, stored wrapped by
 * the root key. HSM: generated inside a PKCS#11 token as a non-extractable, sensitive AES-256 key and
 * used only inside it. The KMS stores the opaque `StoredKeyRef` bytes with the key version.
 */
export type ProtectionLevel = "SOFTWARE" | "HSM";

/** Opaque bytes the key store keeps for a key version (wrapped material, or a token object reference). */
export type StoredKeyRef = Buffer;

export interface KeyVersionIdentity {
  readonly keyId: string;
  readonly keyVersionId: string;
}

export interface GcmSealed {
  readonly ciphertext: Buffer;
  /** 16-byte GCM tag. */
  readonly tag: Buffer;
}

export interface ProtectionBackend {
  readonly level: ProtectionLevel;
  /** Creates fresh AES-256 material for this key version; returns what the store keeps. */
  generate(id: KeyVersionIdentity): Promise<StoredKeyRef>;
  /** AES-256-GCM with the version's key; `iv` is 12 bytes chosen by the caller. */
  encrypt(
    id: KeyVersionIdentity,
    ref: StoredKeyRef,
    iv: Buffer,
    plaintext: Buffer,
    aad: Buffer,
  ): Promise<GcmSealed>;
  /** Throws AtrestError "data-corrupt" when authentication fails. */
  decrypt(
    id: KeyVersionIdentity,
    ref: StoredKeyRef,
    iv: Buffer,
    sealed: GcmSealed,
    aad: Buffer,
  ): Promise<Buffer>;
  /** Destroys the material (after a key's deletion window). Idempotent. */
  destroy(id: KeyVersionIdentity, ref: StoredKeyRef): Promise<void>;
  close(): Promise<void>;
}
