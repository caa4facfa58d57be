import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import { AtrestError } from "../../common/errors.js";
import type { RootKey } from "../root-key.js";
import type { GcmSealed, KeyVersionIdentity, ProtectionBackend, StoredKeyRef } from "./protection.js";

const MATERIAL_BYTES = 32;
// Domain-separates key material from other values the root key seals; never change it.
const AAD_PREFIX = "atrest-kms/software-key-material/v1";

function materialAad(id: KeyVersionIdentity): Buffer {
  return Buffer.from(`${AAD_PREFIX}\0${id.keyId}\0${id.keyVersionId}`, "utf8");
}

/** A SOFTWARE key version's stored ref for this material (what `generate` stores). Backup restore re-seals with it. */
export function sealSoftwareKeyMaterial(
  rootKey: RootKey,
  id: KeyVersionIdentity,
  material: Buffer,
): StoredKeyRef {
  if (material.length !== MATERIAL_BYTES)
    throw new AtrestError("invalid-argument", `key material must be ${MATERIAL_BYTES} bytes`);
  return rootKey.seal(material, materialAad(id));
}

/** The material inside a SOFTWARE key version's stored ref. Secret: wipe it after use. */
export function openSoftwareKeyMaterial(rootKey: RootKey, id: KeyVersionIdentity, ref: StoredKeyRef): Buffer {
  const key = rootKey.open(ref, materialAad(id));
  if (key.length !== MATERIAL_BYTES)
    throw new AtrestError("data-corrupt", "stored key material has the wrong length");
  return key;
}

/**
 * SOFTWARE protection: 32 random bytes per key version, stored sealed by the root key with the key and
 * version ids as AAD. Unsealed material is cached in memory (bounded) because every Encrypt needs it.
 */
export function createSoftwareProtection(options: {
  rootKey: RootKey;
  random?: (n: number) => Buffer;
  cacheEntries?: number;
}): ProtectionBackend {
  const rand = options.random ?? randomBytes;
  // Unsealed material leaves memory zeroed: on eviction, destroy and close alike.
  const cache = new LRUCache<string, Buffer>({
    max: options.cacheEntries ?? 10_000,
    dispose: (material) => material.fill(0),
  });

  function material(id: KeyVersionIdentity, ref: StoredKeyRef): Buffer {
    const cacheKey = `${id.keyId}/${id.keyVersionId}`;
    const hit = cache.get(cacheKey);
    if (hit !== undefined) return hit;
    const key = openSoftwareKeyMaterial(options.rootKey, id, ref);
    cache.set(cacheKey, key);
    return key;
  }

  return {
    level: "SOFTWARE",
    generate(id) {
      const key = rand(MATERIAL_BYTES);
      const ref = sealSoftwareKeyMaterial(options.rootKey, id, key);
      key.fill(0);
      return Promise.resolve(ref);
    },
    encrypt(id, ref, iv, plaintext, aad) {
      const cipher = createCipheriv("aes-256-gcm", material(id, ref), iv);
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Promise.resolve({ ciphertext, tag: cipher.getAuthTag() } satisfies GcmSealed);
    },
    decrypt(id, ref, iv, sealed, aad) {
      const key = material(id, ref);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, iv);
        decipher.setAAD(aad);
        decipher.setAuthTag(sealed.tag);
        return Promise.resolve(Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]));
      } catch (err) {
        return Promise.reject(
          new AtrestError("data-corrupt", "ciphertext failed authentication", { cause: err }),
        );
      }
    },
    destroy(id) {
      cache.delete(`${id.keyId}/${id.keyVersionId}`);
      return Promise.resolve();
    },
    close() {
      cache.clear();
      return Promise.resolve();
    },
  };
}
