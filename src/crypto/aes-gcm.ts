import { createCipheriv, createDecipheriv } from "node:crypto";
import { AtrestError } from "../common/errors.js";
import { assertAesKey } from "./aes-key.js";

/** Never change: the nonce and tag sizes of every AES-GCM format kube-apiserver writes. */
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

function gcmAlgorithm(key: Uint8Array): "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm" {
  assertAesKey(key);
  return key.length === 16 ? "aes-128-gcm" : key.length === 24 ? "aes-192-gcm" : "aes-256-gcm";
}

/** AES-GCM with a 12-byte nonce; returns ciphertext ‖ tag(16), as Go's `aead.Seal` does. */
export function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  const { ciphertext, tag } = aesGcmSealParts(key, nonce, plaintext, aad);
  return Buffer.concat([ciphertext, tag], ciphertext.length + tag.length);
}

/** aesGcmSeal without the final copy: ciphertext and tag(16) apart, for callers assembling a larger value. */
export function aesGcmSealParts(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): { ciphertext: Buffer; tag: Buffer } {
  if (nonce.length !== GCM_NONCE_BYTES) {
    throw new AtrestError(
      "invalid-argument",
      `AES-GCM nonce must be ${GCM_NONCE_BYTES} bytes, got ${nonce.length}`,
    );
  }
  const cipher = createCipheriv(gcmAlgorithm(key), key, nonce, { authTagLength: GCM_TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final(); // empty for GCM (a stream mode); kept for correctness
  return { ciphertext: tail.length === 0 ? head : Buffer.concat([head, tail]), tag: cipher.getAuthTag() };
}

/**
 * Opens ciphertext ‖ tag(16). Throws "data-corrupt" when the input is too short or fails
 * authentication (wrong key, wrong AAD, garbled bytes); never returns unauthenticated plaintext.
 */
export function aesGcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer {
  if (nonce.length !== GCM_NONCE_BYTES) {
    throw new AtrestError(
      "data-corrupt",
      `AES-GCM nonce must be ${GCM_NONCE_BYTES} bytes, got ${nonce.length}`,
    );
  }
  if (sealed.length < GCM_TAG_BYTES) {
    throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
  }
  const split = sealed.length - GCM_TAG_BYTES;
  const decipher = createDecipheriv(gcmAlgorithm(key), key, nonce, { authTagLength: GCM_TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(split));
  if (aad !== undefined) decipher.setAAD(aad);
  const head = decipher.update(sealed.subarray(0, split));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch (err) {
    head.fill(0);
    throw new AtrestError(
      "data-corrupt",
      "AES-GCM authentication failed (wrong key, wrong storage key as AAD, or corrupted data)",
      {
        cause: err,
      },
    );
  }
}
