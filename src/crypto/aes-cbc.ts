import { createCipheriv, createDecipheriv } from "node:crypto";
import { AtrestError } from "../common/errors.js";
import { assertAesKey } from "./aes-key.js";

export const AES_BLOCK_BYTES = 16;

function cbcAlgorithm(key: Uint8Array): "aes-128-cbc" | "aes-192-cbc" | "aes-256-cbc" {
  assertAesKey(key);
  return key.length === 16 ? "aes-128-cbc" : key.length === 24 ? "aes-192-cbc" : "aes-256-cbc";
}

/** AES-CBC with PKCS#7 padding: always 1..16 pad bytes, a full block when length % 16 == 0. */
export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Buffer {
  if (iv.length !== AES_BLOCK_BYTES)
    throw new AtrestError("invalid-argument", `AES-CBC IV must be 16 bytes, got ${iv.length}`);
  const pad = AES_BLOCK_BYTES - (plaintext.length % AES_BLOCK_BYTES);
  const padded = Buffer.alloc(plaintext.length + pad, pad);
  padded.set(plaintext, 0);
  const cipher = createCipheriv(cbcAlgorithm(key), key, iv);
  cipher.setAutoPadding(false);
  const out = Buffer.concat([cipher.update(padded), cipher.final()]);
  padded.fill(0);
  return out;
}

/**
 * Decrypts AES-CBC and strips PKCS#7 padding with kube-apiserver's rule (pad byte p in 1..len, the
 * last p bytes all equal p). Throws "data-corrupt" for a bad length or bad padding. CBC has no
 * authentication: garbled data can decrypt to garbage with valid-looking padding (≈1/256).
 */
export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  if (iv.length !== AES_BLOCK_BYTES)
    throw new AtrestError("data-corrupt", `AES-CBC IV must be 16 bytes, got ${iv.length}`);
  if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK_BYTES !== 0) {
    throw new AtrestError("data-corrupt", "the stored data is not a multiple of the block size");
  }
  const decipher = createDecipheriv(cbcAlgorithm(key), key, iv);
  decipher.setAutoPadding(false);
  const result = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  const pad = result[result.length - 1]!;
  let bad = pad === 0 || pad > result.length ? 1 : 0;
  if (bad === 0) {
    for (let i = result.length - pad; i < result.length; i++) bad |= result[i]! ^ pad;
  }
  if (bad !== 0) {
    result.fill(0);
    throw new AtrestError(
      "data-corrupt",
      "invalid PKCS#7 padding in AES-CBC data (wrong key or corrupted data)",
    );
  }
  return result.subarray(0, result.length - pad);
}
