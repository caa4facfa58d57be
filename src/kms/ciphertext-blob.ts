import { kmsError } from "./kms-error.js";

/**
 * CiphertextBlob, format v1 (base64 on the wire; clients treat it as opaque):
 *
 *   0xA7 0x4B  magic
 *   0x01       format version
 *   u8 len + key id (ASCII)
 *   u8 len + key version id (ASCII)
 *   12 bytes   GCM IV
 *   ...        ciphertext
 *   16 bytes   GCM tag
 *
 * Everything before the ciphertext is the header; AAD = header ‖ canonical EncryptionContext. A format
 * once written never changes: a new layout gets a new version byte and v1 stays readable.
 */
export const BLOB_MAGIC = Buffer.of(0xa7, 0x4b);
export const BLOB_FORMAT_V1 = 0x01;
export const BLOB_IV_BYTES = 12;
export const BLOB_TAG_BYTES = 16;

export interface ParsedBlob {
  readonly keyId: string;
  readonly keyVersionId: string;
  readonly header: Buffer;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

export function encodeBlobHeader(keyId: string, keyVersionId: string, iv: Buffer): Buffer {
  const k = Buffer.from(keyId, "ascii");
  const v = Buffer.from(keyVersionId, "ascii");
  if (k.length > 255 || v.length > 255 || iv.length !== BLOB_IV_BYTES)
    throw new Error("blob header field out of range");
  return Buffer.concat([BLOB_MAGIC, Buffer.of(BLOB_FORMAT_V1, k.length), k, Buffer.of(v.length), v, iv]);
}

export function encodeBlob(header: Buffer, ciphertext: Buffer, tag: Buffer): string {
  return Buffer.concat([header, ciphertext, tag]).toString("base64");
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parses a CiphertextBlob; anything malformed or truncated → InvalidCiphertext (nothing secret in it). */
export function decodeBlob(text: string): ParsedBlob {
  const invalid = (why: string) => kmsError("InvalidCiphertext", `CiphertextBlob: ${why}`);
  const clean = text.replace(/-/g, "+").replace(/_/g, "/");
  if (!BASE64.test(clean)) throw invalid("not base64");
  const b = Buffer.from(clean, "base64");
  if (b.length < 4 || b[0] !== BLOB_MAGIC[0] || b[1] !== BLOB_MAGIC[1])
    throw invalid("not an atrest ciphertext blob");
  if (b[2] !== BLOB_FORMAT_V1) throw invalid(`unknown format version ${b[2] ?? "?"}`);
  let off = 3;
  const kLen = b[off++] ?? 0;
  if (off + kLen + 1 > b.length) throw invalid("truncated");
  const keyId = b.subarray(off, off + kLen).toString("ascii");
  off += kLen;
  const vLen = b[off++] ?? 0;
  if (off + vLen + BLOB_IV_BYTES + BLOB_TAG_BYTES > b.length) throw invalid("truncated");
  const keyVersionId = b.subarray(off, off + vLen).toString("ascii");
  off += vLen;
  const iv = b.subarray(off, off + BLOB_IV_BYTES);
  off += BLOB_IV_BYTES;
  if (kLen === 0 || vLen === 0) throw invalid("missing key id");
  return {
    keyId,
    keyVersionId,
    header: b.subarray(0, off),
    iv,
    ciphertext: b.subarray(off, b.length - BLOB_TAG_BYTES),
    tag: b.subarray(b.length - BLOB_TAG_BYTES),
  };
}
