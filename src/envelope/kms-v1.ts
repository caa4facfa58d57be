import { LRUCache } from "lru-cache";
import { systemClock, type Clock } from "../common/clock.js";
import { AtrestError, wrapError } from "../common/errors.js";
import type { Random } from "../common/random.js";
import { pooledRandom } from "../crypto/random-pool.js";
import { AES_BLOCK_BYTES, aesCbcDecrypt, aesGcmOpen, aesGcmSeal, GCM_NONCE_BYTES } from "../crypto/index.js";
import { HealthResultCache } from "./health-result-cache.js";
import type { KmsV1Service } from "./kms-service.js";
import { reportedCall, type KmsCallEvent } from "./reported-call.js";
import { startsWith, unknownPrefixError, type EnvelopeProvider } from "./provider.js";
import type { ReadResult, TransformContext, ValueOrigin } from "./transformer.js";

/** kube-apiserver's default `cachesize` for a KMS v1 provider. */
export const KMS_V1_DEFAULT_CACHE_SIZE = 1000;
const DEK_BYTES = 32;
const MAX_ENCRYPTED_DEK_BYTES = 0xffff;

export interface KmsV1TransformerOptions {
  /** The provider's `name` in the configuration; part of the prefix `k8s:enc:kms:v1:<name>:`. */
  readonly providerName: string;
  readonly service: KmsV1Service;
  /** Decrypted DEKs kept (LRU), keyed by the encrypted DEK. Default 1000; negative disables the cache. */
  readonly cacheSize?: number;
  readonly random?: Random;
  /** For the health check's result reuse (20 s / 3 s). */
  readonly clock?: Clock;
  /** Observes plugin calls (for metrics). */
  readonly hooks?: KmsV1Hooks;
}

export interface KmsV1Hooks {
  kmsCall?(event: KmsCallEvent<"encrypt" | "decrypt">): void;
  cacheMiss?(event: { readonly providerName: string }): void;
}

/**
 * KMS v1 envelope (deprecated, still read): a new 32-byte DEK and one plugin Encrypt per write;
 * `k8s:enc:kms:v1:<name>:` ‖ uint16 BE len(encDEK) ‖ encDEK ‖ nonce(12) ‖ AES-GCM ct ‖ tag(16), AAD =
 * storage key. Values written by kube-apiserver ≤ 1.24 hold IV(16) ‖ AES-CBC instead: read, marked stale.
 */
export class KmsV1Provider implements EnvelopeProvider {
  readonly kind = "kms" as const;
  readonly prefix: Buffer;
  readonly providerName: string;
  private readonly service: KmsV1Service;
  private readonly random: Random;
  private readonly hooks: KmsV1Hooks;
  private readonly cache: LRUCache<string, Buffer> | undefined;
  private readonly gcmOrigin: ValueOrigin;
  private readonly cbcOrigin: ValueOrigin;
  private readonly health: HealthResultCache;

  constructor(options: KmsV1TransformerOptions) {
    if (options.providerName.length === 0)
      throw new AtrestError("invalid-argument", "kms v1 provider name must not be empty");
    const cacheSize = options.cacheSize ?? KMS_V1_DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(cacheSize) || cacheSize === 0) {
      throw new AtrestError(
        "invalid-argument",
        `kms v1 cachesize must be a non-zero integer (negative disables the cache), got ${cacheSize}`,
      );
    }
    this.providerName = options.providerName;
    this.prefix = Buffer.from(`k8s:enc:kms:v1:${options.providerName}:`);
    this.service = options.service;
    this.random = options.random ?? pooledRandom;
    this.hooks = options.hooks ?? {};
    this.cache = cacheSize > 0 ? new LRUCache<string, Buffer>({ max: cacheSize }) : undefined;
    const base = {
      provider: "kms" as const,
      kmsApiVersion: "v1" as const,
      providerName: options.providerName,
    };
    this.gcmOrigin = Object.freeze({ ...base, dekSourceType: "AES_GCM" });
    this.cbcOrigin = Object.freeze({ ...base, dekSourceType: "AES_CBC" });
    this.health = new HealthResultCache(options.clock ?? systemClock, () => this.probe());
  }

  /**
   * The provider's health check (`/healthz/kms-provider-N`), kube's kmsPluginProbe: the plugin encrypts
   * "ping" and decrypts the result; the result is reused for 20 s after success and 3 s after failure.
   */
  healthCheck(): Promise<void> {
    return this.health.check();
  }

  private async probe(): Promise<void> {
    let ciphertext: Buffer;
    try {
      ciphertext = await this.service.encrypt(Buffer.from("ping"));
    } catch (err) {
      throw unhealthy(
        `failed to perform encrypt section of the healthz check for KMS Provider ${this.providerName}`,
        err,
      );
    }
    try {
      await this.service.decrypt(ciphertext);
    } catch (err) {
      throw unhealthy(
        `failed to perform decrypt section of the healthz check for KMS Provider ${this.providerName}`,
        err,
      );
    }
  }

  /** Decrypted DEKs currently cached. */
  get cacheSize(): number {
    return this.cache?.size ?? 0;
  }

  async transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult> {
    if (!startsWith(data, this.prefix)) throw unknownPrefixError(data);
    const body = data.subarray(this.prefix.length);
    if (body.length < 2) {
      throw new AtrestError(
        "data-corrupt",
        "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data",
      );
    }
    const encLength = (body[0]! << 8) | body[1]!;
    if (encLength === 0 || body.length < 2 + encLength) {
      throw new AtrestError(
        "data-corrupt",
        "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data",
      );
    }
    const encDek = body.subarray(2, 2 + encLength);
    const payload = body.subarray(2 + encLength);
    const dek = await this.dekFor(encDek);
    // kube's unionTransformers{gcm, cbc}: GCM first; the CBC fallback reads ≤ 1.24 data and is stale.
    let gcmError: unknown;
    if (payload.length >= GCM_NONCE_BYTES) {
      try {
        const plaintext = aesGcmOpen(
          dek,
          payload.subarray(0, GCM_NONCE_BYTES),
          payload.subarray(GCM_NONCE_BYTES),
          ctx.aad,
        );
        return { plaintext, stale: false, origin: this.gcmOrigin };
      } catch (err) {
        gcmError = err;
      }
    }
    if (payload.length >= 2 * AES_BLOCK_BYTES && payload.length % AES_BLOCK_BYTES === 0) {
      try {
        const plaintext = aesCbcDecrypt(
          dek,
          payload.subarray(0, AES_BLOCK_BYTES),
          payload.subarray(AES_BLOCK_BYTES),
        );
        return { plaintext, stale: true, origin: this.cbcOrigin };
      } catch {
        // fall through: report the GCM failure, the format current writers use
      }
    }
    throw new AtrestError(
      "data-corrupt",
      `kms v1 provider ${this.providerName}: the value fails authentication (wrong storage key as AAD, or corrupted data)`,
      gcmError === undefined ? {} : { cause: gcmError },
    );
  }

  async transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> {
    const dek = Buffer.from(this.random.bytes(DEK_BYTES)); // a copy: it outlives the random pool slice in the cache
    const encDek = await this.call("encrypt", () => this.service.encrypt(dek), "failed to encrypt DEK");
    if (encDek.length === 0 || encDek.length > MAX_ENCRYPTED_DEK_BYTES) {
      throw new AtrestError(
        "unavailable",
        `kms v1 provider ${this.providerName}: the plugin returned an encrypted DEK of ${encDek.length} bytes (must be 1..${MAX_ENCRYPTED_DEK_BYTES})`,
      );
    }
    this.cache?.set(encDek.toString("latin1"), dek);
    const nonce = this.random.bytes(GCM_NONCE_BYTES);
    const length = Buffer.of(encDek.length >> 8, encDek.length & 0xff);
    return Buffer.concat([this.prefix, length, encDek, nonce, aesGcmSeal(dek, nonce, plaintext, ctx.aad)]);
  }

  /** One plugin call, reported to the kmsCall hook; a failure is wrapped with what was being done. */
  private async call(
    method: "encrypt" | "decrypt",
    fn: () => Promise<Buffer>,
    doing: string,
  ): Promise<Buffer> {
    try {
      return await reportedCall(this.hooks.kmsCall?.bind(this.hooks), this.providerName, method, fn);
    } catch (err) {
      throw wrapError(err, `kms v1 provider ${this.providerName}: ${doing}`, "unavailable");
    }
  }

  private async dekFor(encDek: Uint8Array): Promise<Buffer> {
    const cacheKey =
      this.cache === undefined
        ? ""
        : Buffer.from(encDek.buffer, encDek.byteOffset, encDek.byteLength).toString("latin1");
    const cached = this.cache?.get(cacheKey);
    if (cached !== undefined) return cached;
    this.hooks.cacheMiss?.({ providerName: this.providerName });
    const dek = await this.call("decrypt", () => this.service.decrypt(encDek), "failed to decrypt DEK");
    if (dek.length !== 16 && dek.length !== 24 && dek.length !== 32) {
      throw new AtrestError(
        "data-corrupt",
        `kms v1 provider ${this.providerName}: the decrypted DEK is ${dek.length} bytes, not an AES key`,
      );
    }
    this.cache?.set(cacheKey, dek);
    return dek;
  }
}

/** A failed health probe: "deadline-exceeded" when the plugin was too slow, else "unavailable". */
function unhealthy(context: string, cause: unknown): AtrestError {
  const code =
    cause instanceof AtrestError && cause.code === "deadline-exceeded" ? "deadline-exceeded" : "unavailable";
  const message = cause instanceof Error ? cause.message : String(cause);
  return new AtrestError(code, `${context}, error: ${message}`, { cause });
}

export function newKmsV1Transformer(options: KmsV1TransformerOptions): KmsV1Provider {
  return new KmsV1Provider(options);
}
