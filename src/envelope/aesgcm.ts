import { AtrestError } from "../common/errors.js";
import type { Random } from "../common/random.js";
import { pooledRandom } from "../crypto/random-pool.js";
import { aesGcmOpen, aesGcmSealParts, assertAesKey, GCM_NONCE_BYTES } from "../crypto/index.js";
import { KeyedProvider, type EnvelopeKey } from "./keyed-provider.js";

/**
 * `aesgcm`: `k8s:enc:aesgcm:v1:<keyName>:` ‖ nonce(12, random) ‖ ciphertext ‖ tag(16), AAD = storage key.
 * Keys are 16, 24 or 32 bytes.
 */
export function newAesGcmTransformer(
  keys: readonly EnvelopeKey[],
  options: { random?: Random } = {},
): KeyedProvider {
  const random = options.random ?? pooledRandom;
  return new KeyedProvider("aesgcm", keys, (key) => {
    assertAesKey(key);
    const k = Buffer.from(key);
    return {
      seal(plaintext, aad, prefix) {
        const nonce = random.bytes(GCM_NONCE_BYTES);
        const { ciphertext, tag } = aesGcmSealParts(k, nonce, plaintext, aad);
        return Buffer.concat(
          [prefix, nonce, ciphertext, tag],
          prefix.length + nonce.length + ciphertext.length + tag.length,
        );
      },
      open(sealed, aad) {
        if (sealed.length < GCM_NONCE_BYTES) {
          throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
        }
        return aesGcmOpen(k, sealed.subarray(0, GCM_NONCE_BYTES), sealed.subarray(GCM_NONCE_BYTES), aad);
      },
    };
  });
}
