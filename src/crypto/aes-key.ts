import { AtrestError } from "../common/errors.js";

/** AES accepts 16-, 24- or 32-byte keys (AES-128/192/256), as Go's aes.NewCipher does. */
export function assertAesKey(key: Uint8Array, what = "AES key"): void {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new AtrestError("invalid-argument", `${what} must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}
