import type { Clock } from "../common/clock.js";

/**
 * kube-apiserver's KDF cache for seed mode (aes_extended_nonce.go): the key derived from (seed, info) is
 * remembered per storage key (the AAD) for 10 minutes, with the info compared on every hit, so repeated
 * reads of one object skip the HKDF. Bounded by the number of storage keys touched in 10 minutes.
 */
export const KDF_CACHE_TTL_MS = 10 * 60_000;

interface Entry {
  readonly info: Buffer;
  readonly key: Buffer;
  readonly expiresAtMs: number;
}

export class DerivedKeyCache {
  private readonly entries = new Map<string, Entry>();
  private lastSweepMs = 0;

  constructor(private readonly clock: Clock) {}

  get(aad: Uint8Array, info: Uint8Array): Buffer | undefined {
    const id = Buffer.from(aad.buffer, aad.byteOffset, aad.byteLength).toString("latin1");
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    if (e.expiresAtMs < this.clock.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return e.info.equals(info) ? e.key : undefined;
  }

  set(aad: Uint8Array, info: Uint8Array, key: Buffer): void {
    const now = this.clock.now();
    const id = Buffer.from(aad.buffer, aad.byteOffset, aad.byteLength).toString("latin1");
    // Copies: `info` is usually a view into a much larger stored value.
    this.entries.set(id, { info: Buffer.from(info), key, expiresAtMs: now + KDF_CACHE_TTL_MS });
    if (now - this.lastSweepMs >= 60_000) {
      this.lastSweepMs = now;
      for (const [k, v] of this.entries) if (v.expiresAtMs < now) this.entries.delete(k);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
