/**
 * What the KMS v2 runtime tells the outside: hooks (for metrics) and stats (counters). Nothing secret
 * (seed, DEK, plaintext) ever reaches either; key ids arrive hashed (`sha256:…`).
 */

import { reportedCall, type KmsCallEvent } from "../reported-call.js";

/** Observes one provider's KMS v2 runtime for metrics. */
export interface KmsV2Hooks {
  kmsCall?(event: KmsCallEvent<"status" | "encrypt" | "decrypt">): void;
  cacheMiss?(event: { readonly providerName: string }): void;
  dekRotated?(event: { readonly providerName: string; readonly keyIdHash: string }): void;
  /** Status returned a well-formed key_id (kube's …_key_id_hash_status_last_timestamp_seconds). */
  statusKeyId?(event: { readonly providerName: string; readonly keyIdHash: string }): void;
  health?(event: { readonly providerName: string; readonly healthy: boolean }): void;
  /** The number of decrypted seeds/DEKs cached changed (kube's …_dek_source_cache_size). */
  cacheSize?(event: { readonly providerName: string; readonly size: number }): void;
  /**
   * A value was written or read under a key_id (kube's apiserver_envelope_encryption_key_id_hash_total).
   * Called on the hot path: keep it cheap.
   */
  keyIdUsed?(event: {
    readonly providerName: string;
    readonly keyIdHash: string;
    readonly transformationType: "to_storage" | "from_storage";
  }): void;
}

export interface KmsV2Stats {
  readonly statusCalls: number;
  readonly encryptCalls: number;
  readonly decryptCalls: number;
  readonly cacheMisses: number;
  /** Decrypted DEKs/seeds cached now. */
  readonly cacheSize: number;
  /** `sha256:<hex>` of the current key_id, "" before the first good check. */
  readonly keyIdHash: string;
  readonly healthy: boolean | undefined;
  /** When writes stop unless a Status check succeeds before (ms since epoch); 0 before the first good check. */
  readonly writeExpiresAtMs: number;
}

type Method = "status" | "encrypt" | "decrypt";

/** Every plugin call of one provider: counted, and reported to the kmsCall hook with its outcome. */
export class PluginCalls {
  readonly counts = { status: 0, encrypt: 0, decrypt: 0, cacheMisses: 0 };

  constructor(
    private readonly providerName: string,
    private readonly hooks: KmsV2Hooks,
  ) {}

  run<T>(method: Method, call: () => Promise<T>): Promise<T> {
    this.counts[method]++;
    return reportedCall(this.hooks.kmsCall?.bind(this.hooks), this.providerName, method, call);
  }

  cacheMiss(): void {
    this.counts.cacheMisses++;
    this.hooks.cacheMiss?.({ providerName: this.providerName });
  }
}
