/**
 * The write and read fast paths' view of a stored EncryptedObject: field 1 (encryptedData) followed by
 * fields 2..5 (keyID, encryptedDEKSource, annotations, type), which are the same bytes for every value
 * written under one seed. Hand-written because the fast paths splice bytes around protobufjs's output:
 * the result must stay byte-identical to what protobufjs (and Go) encode for the whole message.
 */
import { asBuffer } from "../provider.js";
import { encodeEncryptedObject, type EncryptedObject } from "./encrypted-object.js";

/** Seed mode: the random `info` per write that, with the seed, derives the write's AES-256 key. */
export const INFO_BYTES = 32;
const ONE_BYTE = Buffer.of(0);

/** Fields 2..5 as protobufjs encodes them, validated. */
export function encodeHeader(h: Omit<EncryptedObject, "encryptedData">): Buffer {
  const full = encodeEncryptedObject({ ...h, encryptedData: ONE_BYTE });
  return full.subarray(3); // drop field 1: 0x0a 0x01 0x00
}

/**
 * Splits a body that starts with field 1 (encryptedData) into it and the bytes after it; undefined when
 * the body does not start that way (the full decoder then judges it).
 */
export function splitEncryptedData(body: Uint8Array): { encryptedData: Buffer; rest: Buffer } | undefined {
  if (body.length < 2 || body[0] !== 0x0a) return undefined;
  let length = 0;
  let at = 1;
  for (let shift = 1; at < body.length && at < 6; shift *= 128) {
    const b = body[at++]!;
    length += (b & 0x7f) * shift;
    if (b < 0x80) {
      const end = at + length;
      if (length === 0 || end > body.length) return undefined;
      const whole = asBuffer(body);
      return { encryptedData: whole.subarray(at, end), rest: whole.subarray(end) };
    }
  }
  return undefined;
}

export function varintLength(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

export function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}
