import { randomBytes, randomUUID } from "node:crypto";
import type { Random } from "../common/random.js";

const POOL_BYTES = 16 * 1024;

/**
 * CSPRNG bytes handed out from a pooled `randomBytes` buffer: one system call per 16 KiB instead of one
 * per nonce (node's randomUUID pools the same way). Each pool is used once and never refilled, so a
 * returned Buffer never changes afterwards. Callers that keep the bytes long (seeds, DEKs) copy them.
 */
export function createPooledRandom(poolBytes = POOL_BYTES): Random {
  let pool = randomBytes(poolBytes);
  let offset = 0;
  return {
    bytes(length: number): Buffer {
      if (length > poolBytes / 4) return randomBytes(length);
      if (offset + length > pool.length) {
        pool = randomBytes(poolBytes);
        offset = 0;
      }
      const out = pool.subarray(offset, offset + length);
      offset += length;
      return out;
    },
    uuid: () => randomUUID(),
  };
}

/** The process-wide pooled Random the envelope providers use unless one is injected. */
export const pooledRandom: Random = createPooledRandom();
