import nacl from "tweetnacl";
import { AtrestError } from "../common/errors.js";

/** NaCl secretbox (XSalsa20-Poly1305) sizes; never change. */
export const SECRETBOX_KEY_BYTES = 32;
export const SECRETBOX_NONCE_BYTES = 24;
export const SECRETBOX_TAG_BYTES = 16;

function assertKey(key: Uint8Array): void {
  if (key.length !== SECRETBOX_KEY_BYTES) {
    throw new AtrestError(
      "invalid-argument",
      `secretbox key must be ${SECRETBOX_KEY_BYTES} bytes, got ${key.length}`,
    );
  }
}

/** Returns tag(16) ‖ ciphertext, exactly as Go's `secretbox.Seal` (and tweetnacl) lay it out. */
export function secretboxSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  assertKey(key);
  if (nonce.length !== SECRETBOX_NONCE_BYTES) {
    throw new AtrestError(
      "invalid-argument",
      `secretbox nonce must be ${SECRETBOX_NONCE_BYTES} bytes, got ${nonce.length}`,
    );
  }
  return Buffer.from(nacl.secretbox(plaintext, nonce, key));
}

/** Opens tag(16) ‖ ciphertext; "data-corrupt" when too short or when authentication fails. */
export function secretboxOpen(key: Uint8Array, nonce: Uint8Array, box: Uint8Array): Buffer {
  assertKey(key);
  if (nonce.length !== SECRETBOX_NONCE_BYTES || box.length < SECRETBOX_TAG_BYTES) {
    throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
  }
  const opened = nacl.secretbox.open(box, nonce, key);
  if (opened === null) {
    throw new AtrestError("data-corrupt", "secretbox authentication failed (wrong key or corrupted data)");
  }
  return Buffer.from(opened.buffer, opened.byteOffset, opened.byteLength);
}
