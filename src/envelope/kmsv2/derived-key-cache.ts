import { LRUCache } from "lru-cache";
import type { Clock } from "../../common/clock.js";
import { KMS_V2_KDF_CACHE_MAX_ENTRIES, KMS_V2_KDF_CACHE_TTL_MS } from "./constants.js";

interface Entry {
  readonly info: Buffer;
  /** Key material: never log it. */
  readonly key: Buffer;
}

/**
 * kube-apiserver's KDF cache for seed mode (aes_extended_nonce.go), one per seed: the key derived from
 * (seed, info) is remembered per storage key (the AAD) for 10 minutes, with the info compared on every
 * hit, so repeated reads of one object skip the HKDF.
 */
export class DerivedKeyCache {
  private readonly entries: LRUCache<string, Entry>;

  constructor(clock: Clock) {
    this.entries = new LRUCache<string, Entry>({
      max: KMS_V2_KDF_CACHE_MAX_ENTRIES,
      ttl: KMS_V2_KDF_CACHE_TTL_MS,
      perf: clock,
      ttlResolution: 0,
    });
  }

  get(aad: Uint8Array, info: Uint8Array): Buffer | undefined {
    const e = this.entries.get(storageKeyOf(aad));
    return e !== undefined && e.info.equals(info) ? e.key : undefined;
  }

  set(aad: Uint8Array, info: Uint8Array, key: Buffer): void {
    // A copy of info: it is usually a view into a much larger stored value.
    this.entries.set(storageKeyOf(aad), { info: Buffer.from(info), key });
  }

  get size(): number {
    return this.entries.size;
  }
}

function storageKeyOf(aad: Uint8Array): string {
  return Buffer.from(aad.buffer, aad.byteOffset, aad.byteLength).toString("latin1");
}
