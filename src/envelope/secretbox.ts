import { AtrestError } from "../common/errors.js";
import type { Random } from "../common/random.js";
import { pooledRandom } from "../crypto/random-pool.js";
import {
  SECRETBOX_KEY_BYTES,
  SECRETBOX_NONCE_BYTES,
  SECRETBOX_TAG_BYTES,
  secretboxOpen,
  secretboxSeal,
} from "../crypto/index.js";
import { KeyedProvider, type EnvelopeKey } from "./keyed-provider.js";

/**
 * `secretbox`: `k8s:enc:secretbox:v1:<keyName>:` ‖ nonce(24, random) ‖ tag(16) ‖ XSalsa20 ciphertext
 * (NaCl secretbox). 32-byte keys. No AAD.
 */
export function newSecretboxTransformer(
  keys: readonly EnvelopeKey[],
  options: { random?: Random } = {},
): KeyedProvider {
  const random = options.random ?? pooledRandom;
  return new KeyedProvider("secretbox", keys, (key) => {
    if (key.length !== SECRETBOX_KEY_BYTES) {
      throw new AtrestError(
        "invalid-argument",
        `secretbox key must be ${SECRETBOX_KEY_BYTES} bytes, got ${key.length}`,
      );
    }
    const k = Uint8Array.from(key);
    return {
      seal(plaintext, _aad, prefix) {
        const nonce = random.bytes(SECRETBOX_NONCE_BYTES);
        return Buffer.concat([prefix, nonce, secretboxSeal(k, nonce, plaintext)]);
      },
      open(sealed) {
        if (sealed.length < SECRETBOX_NONCE_BYTES + SECRETBOX_TAG_BYTES) {
          throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
        }
        return secretboxOpen(
          k,
          sealed.subarray(0, SECRETBOX_NONCE_BYTES),
          sealed.subarray(SECRETBOX_NONCE_BYTES),
        );
      },
    };
  });
}
