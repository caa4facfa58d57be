/**
 * The seam between the gRPC surface and a key-encryption backend (STYLE habit 1): encrypt with the
 * current primary key version, decrypt with whichever version a ciphertext names, and report which
 * version is current as a KMS v2 key_id. Implementations: alibaba-backend.ts, local-backend.ts.
 */

/** Per call: the apiserver's request uid (audit correlation) and an absolute deadline. */
export interface CallContext {
  readonly uid: string;
  /** Milliseconds since the epoch after which the caller has given up. */
  readonly deadlineMs: number;
}

export interface BackendCiphertext {
  /** Opaque, self-describing bytes (KMS v1 has no key_id or annotations to carry the version). */
  readonly ciphertext: Buffer;
  /** The KMS v2 key_id: key and key version; 1..1024 bytes; never reused for different key material. */
  readonly keyId: string;
  /** Fully-qualified lowercase names (annotations.ts); the plugin hands them back to Decrypt. */
  readonly annotations: Readonly<Record<string, Buffer>>;
}

export interface BackendDecryptRequest {
  readonly ciphertext: Buffer;
  /** Present for KMS v2; absent for v1 (the ciphertext then says everything). */
  readonly keyId?: string;
  readonly annotations?: Readonly<Record<string, Buffer>>;
}

export interface KmsBackend {
  readonly kind: "alibaba" | "local";
  /** Human-readable, non-secret description for logs (endpoint, key id or key file path). */
  readonly description: string;
  encrypt(plaintext: Buffer, ctx: CallContext): Promise<BackendCiphertext>;
  decrypt(request: BackendDecryptRequest, ctx: CallContext): Promise<Buffer>;
  /** Number of remote KMS requests made so far (the Status cost is measured with it). */
  kmsCalls(): number;
  close(): Promise<void>;
}
