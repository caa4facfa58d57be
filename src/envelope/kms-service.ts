/**
 * The ports the KMS envelope providers need (DESIGN.md §3): the Kubernetes KMS plugin APIs as TypeScript
 * interfaces. They belong to their consumer, the envelope layer; src/kms-plugin-client implements them
 * over gRPC, and unit tests substitute in-process fakes.
 */

export interface StatusResponse {
  readonly version: string;
  readonly healthz: string;
  readonly keyId: string;
}

export interface EncryptResponse {
  readonly ciphertext: Buffer;
  readonly keyId: string;
  readonly annotations: Readonly<Record<string, Buffer>>;
}

export interface DecryptRequest {
  readonly ciphertext: Uint8Array;
  readonly keyId: string;
  readonly annotations: Readonly<Record<string, Uint8Array>>;
  /** A fresh UUID per call when omitted. */
  readonly uid?: string;
}

/** KMS v2 (`/v2.KeyManagementService/…`). */
export interface KmsV2Service {
  status(options?: { uid?: string }): Promise<StatusResponse>;
  encrypt(plaintext: Uint8Array, options?: { uid?: string }): Promise<EncryptResponse>;
  decrypt(request: DecryptRequest): Promise<Buffer>;
}

/** KMS v1beta1 (`/v1beta1.KeyManagementService/…`); the client performs the Version handshake itself. */
export interface KmsV1Service {
  encrypt(plaintext: Uint8Array): Promise<Buffer>;
  decrypt(ciphertext: Uint8Array): Promise<Buffer>;
}

export interface Closeable {
  close(): void;
}

/** kube-apiserver's default KMS call timeout (EncryptionConfiguration `timeout`: 3s). */
export const DEFAULT_KMS_TIMEOUT_MS = 3_000;
