/**
 * What seals the identity store's secrets at rest (access key secrets, STS session tokens): AES-GCM
 * with AAD binding each value to what it belongs to. The KMS's root key is one (src/kms/root-key.ts);
 * the control plane, which opens the KMS's database, is handed the same (README "Identity").
 */
export interface SecretSealer {
  seal(plaintext: Buffer, aad: Buffer): Buffer;
  open(sealed: Buffer, aad: Buffer): Buffer;
}

// Domain-separates access key secrets from other values the sealer seals; never change it (stored
// secrets were sealed with it, first by the KMS alone).
const SECRET_AAD_PREFIX = "atrest-kms/access-key-secret/v1\0";

/** An access key secret as the store keeps it (sealed, bound to the access key id). */
export function sealAccessKeySecret(sealer: SecretSealer, accessKeyId: string, secret: string): Buffer {
  return sealer.seal(Buffer.from(secret, "utf8"), Buffer.from(SECRET_AAD_PREFIX + accessKeyId));
}

export function openAccessKeySecret(sealer: SecretSealer, accessKeyId: string, sealed: Buffer): string {
  return sealer.open(sealed, Buffer.from(SECRET_AAD_PREFIX + accessKeyId)).toString("utf8");
}
