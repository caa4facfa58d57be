import { AtrestError } from "../../common/errors.js";
import { BLOB_IV_BYTES, decodeBlob, encodeBlob, encodeBlobHeader } from "../ciphertext-blob.js";
import { canonicalEncryptionContext, type EncryptionContext } from "../encryption-context.js";
import { kmsError } from "../kms-error.js";
import type { ProtectionLevel } from "../protection/protection.js";
import { assertCryptoAllowed } from "./key-policy.js";
import type { KeyRecords } from "./key-records.js";
import { MAX_PLAINTEXT_BYTES, type DecryptResult, type EncryptResult } from "./key-types.js";

/** Seals `plaintext` with the key's primary version; the blob header and the context are the AAD. */
export async function encrypt(
  rec: KeyRecords,
  keyId: string,
  plaintext: Buffer,
  ctx: EncryptionContext,
): Promise<EncryptResult> {
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw kmsError("InvalidParameter", `Plaintext: must be at most ${MAX_PLAINTEXT_BYTES} bytes`);
  }
  const key = await rec.getKey(keyId);
  assertCryptoAllowed(key);
  const version = await rec.getVersion(keyId, key.primary_version_id);
  const iv = rec.random.bytes(BLOB_IV_BYTES);
  const header = encodeBlobHeader(keyId, version.key_version_id, iv);
  const aad = Buffer.concat([header, canonicalEncryptionContext(ctx)]);
  const protection = rec.protection(version.protection_level as ProtectionLevel);
  const sealed = await protection.encrypt(
    { keyId, keyVersionId: version.key_version_id },
    version.stored_ref,
    iv,
    plaintext,
    aad,
  );
  return {
    ciphertextBlob: encodeBlob(header, sealed.ciphertext, sealed.tag),
    keyId,
    keyVersionId: version.key_version_id,
  };
}

/** Parses the blob (no key needed): the key id inside is the resource that the policy check uses. */
export function peekBlobKeyId(blob: string): { keyId: string; keyVersionId: string } {
  const parsed = decodeBlob(blob);
  return { keyId: parsed.keyId, keyVersionId: parsed.keyVersionId };
}

/** Opens a blob with the version named inside it; a different context or a changed byte fails authentication. */
export async function decrypt(rec: KeyRecords, blob: string, ctx: EncryptionContext): Promise<DecryptResult> {
  const parsed = decodeBlob(blob);
  const key = await rec.getKey(parsed.keyId);
  assertCryptoAllowed(key);
  const version = await rec.getVersion(parsed.keyId, parsed.keyVersionId);
  const aad = Buffer.concat([parsed.header, canonicalEncryptionContext(ctx)]);
  const protection = rec.protection(version.protection_level as ProtectionLevel);
  try {
    const plaintext = await protection.decrypt(
      { keyId: parsed.keyId, keyVersionId: parsed.keyVersionId },
      version.stored_ref,
      parsed.iv,
      { ciphertext: parsed.ciphertext, tag: parsed.tag },
      aad,
    );
    return { plaintext, keyId: parsed.keyId, keyVersionId: parsed.keyVersionId };
  } catch (err) {
    if (err instanceof AtrestError && err.code === "data-corrupt") {
      throw kmsError(
        "InvalidCiphertext",
        "CiphertextBlob: failed authentication (tampered, or a different EncryptionContext)",
        { cause: err },
      );
    }
    throw err;
  }
}
