import { createHmac } from "node:crypto";
import { AtrestError } from "../common/errors.js";

const SHA256_BYTES = 32;
const COUNTER_1 = Buffer.of(1);

/**
 * HKDF-Expand (RFC 5869 §2.3) with SHA-256 and NO Extract step: T(i) = HMAC(prk, T(i-1) ‖ info ‖ i).
 * KMS v2 seed mode derives its per-write key as hkdfExpandSha256(seed, info, 32) = HMAC(seed, info ‖ 0x01).
 * Do not replace with node's hkdfSync: it runs Extract first and yields a different key.
 */
export function hkdfExpandSha256(prk: Uint8Array, info: Uint8Array, length = SHA256_BYTES): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > 255 * SHA256_BYTES) {
    throw new AtrestError(
      "invalid-argument",
      `HKDF-Expand length must be 1..${255 * SHA256_BYTES}, got ${length}`,
    );
  }
  if (length === SHA256_BYTES) {
    // The common case, one HMAC.
    return createHmac("sha256", prk).update(info).update(COUNTER_1).digest();
  }
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; blocks.length * SHA256_BYTES < length; i++) {
    previous = createHmac("sha256", prk).update(previous).update(info).update(Buffer.of(i)).digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}
