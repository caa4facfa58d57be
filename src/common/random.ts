import { randomFillSync, randomUUID as nodeRandomUUID } from "node:crypto";

/** Randomness is injected so tests can fix nonces and ids (DESIGN.md §8). */
export interface Random {
  bytes(length: number): Buffer;
  uuid(): string;
}

const POOL_BYTES = 8192;
const POOLED_MAX = 64;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * CSPRNG bytes. Small requests (IVs, nonces) are cut from a pool filled 8 KiB at a time, as Node does
 * for randomUUID: one call into OpenSSL per few hundred IVs instead of one each. Every byte is handed
 * out once, copied into a buffer of its own.
 */
function secureBytes(length: number): Buffer {
  if (length > POOLED_MAX) return randomFillSync(Buffer.allocUnsafe(length));
  if (offset + length > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + length));
  pool.fill(0, offset, offset + length);
  offset += length;
  return out;
}

export const systemRandom: Random = {
  bytes: secureBytes,
  uuid: () => nodeRandomUUID(),
};
