import { createHash } from "node:crypto";
import { hostname as osHostname } from "node:os";
import { Counter, Gauge, type Registry } from "prom-client";
import type { ReloadEvent } from "../encryption-config/index.js";
import type { KmsV2Hooks } from "../envelope/index.js";
import { HotCounter } from "./hot-counter.js";

/**
 * kube-apiserver's envelope-encryption metrics, under kube's names and labels, so dashboards and alerts
 * written for a real cluster work unchanged. Key ids only ever appear as `sha256:<hex>`.
 */
export class EncryptionMetrics {
  /** Also `…_key_id_hash_last_timestamp_seconds`. */
  readonly keyIdHashTotal: HotCounter<
    "apiserver_id_hash" | "key_id_hash" | "provider_name" | "transformation_type"
  >;
  readonly dekSourceCacheSize: Gauge<"provider_name">;
  readonly kmsCalls: Counter<"provider_name" | "method_name" | "status">;
  readonly reloadsTotal: Counter<"apiserver_id_hash" | "status">;
  readonly reloadLastTimestamp: Gauge<"apiserver_id_hash" | "status">;
  /** One series: the hash of the configuration in effect (kube ≥ 1.34; what `atrest encryption` converges on). */
  readonly lastConfigInfo: Gauge<"apiserver_id_hash" | "hash">;
  readonly keyIdStatusLastTimestamp: Gauge<"apiserver_id_hash" | "key_id_hash" | "provider_name">;
  /** kube labels these with a hash of the apiserver's identity, so several apiservers can be told apart. */
  readonly apiserverIdHash: string;

  constructor(registry: Registry, apiserverId: string) {
    this.apiserverIdHash = `sha256:${createHash("sha256").update(apiserverId).digest("hex")}`;
    const registers = [registry];
    this.keyIdHashTotal = new HotCounter(registry, {
      name: "apiserver_envelope_encryption_key_id_hash_total",
      help: "Number of times a keyID is used split by transformation type, provider, and apiserver identity.",
      labelNames: ["apiserver_id_hash", "key_id_hash", "provider_name", "transformation_type"],
      timestamp: {
        name: "apiserver_envelope_encryption_key_id_hash_last_timestamp_seconds",
        help: "The last time in seconds when a keyID was used.",
      },
    });
    this.dekSourceCacheSize = new Gauge({
      name: "apiserver_envelope_encryption_dek_source_cache_size",
      help: "Number of records in data encryption key (DEK) source cache. On a restart, this value is an approximation of the number of decrypt RPC calls the server will make to the KMS plugin.",
      labelNames: ["provider_name"],
      registers,
    });
    this.kmsCalls = new Counter({
      name: "apiserver_envelope_encryption_kms_operations_total",
      help: "KMS plugin calls made by the envelope transformers, by provider, method and outcome.",
      labelNames: ["provider_name", "method_name", "status"],
      registers,
    });
    this.reloadsTotal = new Counter({
      name: "apiserver_encryption_config_controller_automatic_reloads_total",
      help: "Total number of reload successes and failures of encryption configuration split by apiserver identity.",
      labelNames: ["apiserver_id_hash", "status"],
      registers,
    });
    this.lastConfigInfo = new Gauge({
      name: "apiserver_encryption_config_controller_last_config_info",
      help: "Information about the last applied encryption configuration with hash as label, split by apiserver identity.",
      labelNames: ["apiserver_id_hash", "hash"],
      registers,
    });
    this.keyIdStatusLastTimestamp = new Gauge({
      name: "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds",
      help: "The last time in seconds when a keyID was returned by the Status RPC call.",
      labelNames: ["apiserver_id_hash", "key_id_hash", "provider_name"],
      registers,
    });
    this.reloadLastTimestamp = new Gauge({
      name: "apiserver_encryption_config_controller_automatic_reload_last_timestamp_seconds",
      help: "Timestamp of the last successful or failed automatic reload of encryption configuration split by apiserver identity.",
      labelNames: ["apiserver_id_hash", "status"],
      registers,
    });
  }

  /** Hooks for the KMS v2 providers (every provider of every reloaded configuration feeds the same metrics). */
  kmsV2Hooks(clockNowMs: () => number): KmsV2Hooks {
    const id = this.apiserverIdHash;
    return {
      keyIdUsed: (e) =>
        this.keyIdHashTotal.inc(
          `${e.keyIdHash}\0${e.providerName}\0${e.transformationType}`,
          () => ({
            apiserver_id_hash: id,
            key_id_hash: e.keyIdHash,
            provider_name: e.providerName,
            transformation_type: e.transformationType,
          }),
          clockNowMs(),
        ),
      cacheSize: (e) => this.dekSourceCacheSize.set({ provider_name: e.providerName }, e.size),
      statusKeyId: (e) =>
        this.keyIdStatusLastTimestamp.set(
          { apiserver_id_hash: id, key_id_hash: e.keyIdHash, provider_name: e.providerName },
          clockNowMs() / 1000,
        ),
      kmsCall: (e) =>
        this.kmsCalls.inc({
          provider_name: e.providerName,
          method_name: e.method,
          status: e.ok ? "OK" : "Error",
        }),
    };
  }

  onReload(event: ReloadEvent): void {
    const labels = { apiserver_id_hash: this.apiserverIdHash, status: event.status };
    this.reloadsTotal.inc(labels);
    this.reloadLastTimestamp.set(labels, event.atMs / 1000);
    if (event.status === "success") this.configLoaded(event.contentHash);
  }

  /**
   * The configuration now in effect, at start and after every successful reload: kube's custom
   * collector keeps exactly one series, so the previous hash is dropped. `contentHash` is
   * `sha256:<hex of the file's bytes>` (load.ts), the value kube ≥ 1.34 exports.
   */
  configLoaded(contentHash: string): void {
    this.lastConfigInfo.reset();
    this.lastConfigInfo.set({ apiserver_id_hash: this.apiserverIdHash, hash: contentHash }, 1);
  }
}

/**
 * kube-apiserver's identity (k8s.io/apiserver server.NewConfig): `apiserver-` + lowercase unpadded
 * base32 of the first 16 bytes of SHA-256 over the hostname and the component name, each with a
 * uint16 big-endian length prefix (cryptobyte's AddUint16LengthPrefixed). Its metrics label is
 * `sha256:<hex of SHA-256 of that id>` (apiserverIdHashOf). Do not change: dashboards compare them.
 */
export function apiserverIdentity(hostname: string = osHostname(), component = "kube-apiserver"): string {
  const part = (s: string): Buffer => {
    const bytes = Buffer.from(s, "utf8");
    const len = Buffer.alloc(2);
    len.writeUInt16BE(bytes.length);
    return Buffer.concat([len, bytes]);
  };
  const digest = createHash("sha256")
    .update(Buffer.concat([part(hostname), part(component)]))
    .digest();
  return `apiserver-${base32NoPad(digest.subarray(0, 16)).toLowerCase()}`;
}

/** RFC 4648 base32 (standard alphabet), no padding: Go's base32.StdEncoding.WithPadding(NoPadding). */
function base32NoPad(bytes: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}
