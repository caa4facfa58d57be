import { AtrestError } from "../common/errors.js";
import type { Random } from "../common/random.js";
import { pooledRandom } from "../crypto/random-pool.js";
import { AES_BLOCK_BYTES, aesCbcDecrypt, aesCbcEncrypt, assertAesKey } from "../crypto/index.js";
import { KeyedProvider, type EnvelopeKey } from "./keyed-provider.js";

/**
 * `aescbc`: `k8s:enc:aescbc:v1:<keyName>:` ‖ IV(16, random) ‖ AES-CBC with PKCS#7. No AAD (the format
 * has none: an aescbc value copied to another storage key still decrypts — kube-apiserver's behaviour).
 */
export function newAesCbcTransformer(
  keys: readonly EnvelopeKey[],
  options: { random?: Random } = {},
): KeyedProvider {
  const random = options.random ?? pooledRandom;
  return new KeyedProvider("aescbc", keys, (key) => {
    assertAesKey(key);
    const k = Buffer.from(key);
    return {
      seal(plaintext, _aad, prefix) {
        const iv = random.bytes(AES_BLOCK_BYTES);
        return Buffer.concat([prefix, iv, aesCbcEncrypt(k, iv, plaintext)]);
      },
      open(sealed) {
        if (sealed.length < AES_BLOCK_BYTES) {
          throw new AtrestError("data-corrupt", "the stored data is not a multiple of the block size");
        }
        return aesCbcDecrypt(k, sealed.subarray(0, AES_BLOCK_BYTES), sealed.subarray(AES_BLOCK_BYTES));
      },
    };
  });
}
