import { createHash } from "node:crypto";

/**
 * The stored form of a used SignatureNonce: the first 16 bytes of SHA-256 over the access key id and
 * the nonce (length-prefixed, so no two pairs share an input). Fixed-size keys keep the nonce index
 * small; a false "already used" would need a 128-bit collision.
 */
export function nonceDigest(accessKeyId: string, nonce: string): Buffer {
  const ak = Buffer.from(accessKeyId, "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(ak.length);
  return createHash("sha256").update(len).update(ak).update(nonce, "utf8").digest().subarray(0, 16);
}
