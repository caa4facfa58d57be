/** Pure cryptographic primitives on node:crypto (and tweetnacl for NaCl secretbox). No I/O, no state. */
export { aesGcmSeal, aesGcmSealParts, aesGcmOpen, GCM_NONCE_BYTES, GCM_TAG_BYTES } from "./aes-gcm.js";
export { aesCbcEncrypt, aesCbcDecrypt, AES_BLOCK_BYTES } from "./aes-cbc.js";
export { assertAesKey } from "./aes-key.js";
export {
  secretboxSeal,
  secretboxOpen,
  SECRETBOX_KEY_BYTES,
  SECRETBOX_NONCE_BYTES,
  SECRETBOX_TAG_BYTES,
} from "./secretbox.js";
export { hkdfExpandSha256 } from "./hkdf.js";
export { constantTimeEqual } from "./constant-time.js";
export { createPooledRandom, pooledRandom } from "./random-pool.js";
