import type { Clock } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { Random } from "../common/random.js";
import { pooledRandom } from "../crypto/random-pool.js";
import { aesGcmOpen, aesGcmSeal, GCM_NONCE_BYTES, GCM_TAG_BYTES, hkdfExpandSha256 } from "../crypto/index.js";
import type { KmsV2Service, StatusResponse } from "../kms-plugin-client/service.js";
import { decodeEncryptedObject, DEK_SOURCE_TYPE, DEK_SOURCE_TYPE_NAMES, encodeEncryptedObject } from "./encrypted-object.js";
import { KmsV2DekState, type CurrentSeed, type KmsV2Hooks, type KmsV2Stats } from "./kmsv2-dek-state.js";
import { startsWith, unknownPrefixError, type EnvelopeProvider } from "./provider.js";
import type { ReadResult, TransformContext, ValueOrigin } from "./transformer.js";

/** Seed mode: the random `info` per write that, with the seed, derives the write's AES-256 key. */
const INFO_BYTES = 32;
const ONE_BYTE = Buffer.of(0);

function varintLength(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

export interface KmsV2TransformerOptions {
  /** The provider's `name` (no ':'); part of the prefix `k8s:enc:kms:v2:<name>:`. */
  readonly providerName: string;
  readonly service: KmsV2Service;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly hooks?: KmsV2Hooks;
  readonly logger?: Logger;
}

/**
 * KMS v2 envelope: `k8s:enc:kms:v2:<name>:` ‖ protobuf EncryptedObject. Writes seed mode (type 1):
 * key = HKDF-Expand(seed, info), encryptedData = info(32) ‖ nonce(12) ‖ AES-256-GCM ct ‖ tag(16), AAD =
 * storage key. Reads type 0 (encryptedData = nonce ‖ ct ‖ tag under the DEK itself) and type 1. A read
 * is stale when its keyID or type differs from the current seed's. The seed state (when to rotate, how
 * long writes may go on without a good Status) lives in `dekState`.
 */
export class KmsV2Provider implements EnvelopeProvider {
  readonly kind = "kms" as const;
  readonly prefix: Buffer;
  readonly providerName: string;
  readonly dekState: KmsV2DekState;
  private readonly random: Random;
  private readonly origins = new Map<string, ValueOrigin>();
  private readonly headers = new WeakMap<CurrentSeed, Buffer>();

  constructor(options: KmsV2TransformerOptions) {
    if (options.providerName.length === 0 || options.providerName.includes(":")) {
      throw new AtrestError("invalid-argument", `kms v2 provider name must be non-empty and must not contain ':', got "${options.providerName}"`);
    }
    this.providerName = options.providerName;
    this.prefix = Buffer.from(`k8s:enc:kms:v2:${options.providerName}:`);
    this.random = options.random ?? pooledRandom;
    this.dekState = new KmsV2DekState({
      providerName: options.providerName,
      service: options.service,
      random: this.random,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }

  async transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult> {
    if (!startsWith(data, this.prefix)) throw unknownPrefixError(data);
    const o = decodeEncryptedObject(data.subarray(this.prefix.length));
    const current = this.dekState.readState();
    const key = await this.dekState.sourceFor(o);
    const ed = o.encryptedData;
    let plaintext: Buffer;
    if (o.encryptedDEKSourceType === DEK_SOURCE_TYPE.HKDF_SHA256_XNONCE_AES_GCM_SEED) {
      if (ed.length < INFO_BYTES + GCM_NONCE_BYTES + GCM_TAG_BYTES) {
        throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
      }
      const derived = hkdfExpandSha256(key, ed.subarray(0, INFO_BYTES));
      const nonceEnd = INFO_BYTES + GCM_NONCE_BYTES;
      plaintext = aesGcmOpen(derived, ed.subarray(INFO_BYTES, nonceEnd), ed.subarray(nonceEnd), ctx.aad);
    } else {
      if (ed.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) {
        throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
      }
      plaintext = aesGcmOpen(key, ed.subarray(0, GCM_NONCE_BYTES), ed.subarray(GCM_NONCE_BYTES), ctx.aad);
    }
    const stale = o.keyID !== current.keyID || o.encryptedDEKSourceType !== current.encryptedDEKSourceType;
    return { plaintext, stale, origin: this.originFor(o.keyID, o.encryptedDEKSourceType) };
  }

  transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> {
    try {
      const s = this.dekState.writeSeed();
      const header = this.headerFor(s);
      // One draw for info(32) ‖ nonce(12): both random per write.
      const infoAndNonce = this.random.bytes(INFO_BYTES + GCM_NONCE_BYTES);
      const info = infoAndNonce.subarray(0, INFO_BYTES);
      const nonce = infoAndNonce.subarray(INFO_BYTES);
      const sealed = aesGcmSeal(hkdfExpandSha256(s.seed, info), nonce, plaintext, ctx.aad);
      // EncryptedObject = field 1 (encryptedData = info ‖ nonce ‖ ct ‖ tag) ‖ the fields 2..5 of the current
      // seed, encoded once by protobufjs: the same bytes protobufjs (and Go) give for the whole message,
      // as fields are written in number order.
      const edLength = INFO_BYTES + GCM_NONCE_BYTES + sealed.length;
      const lengthBytes = varintLength(edLength);
      const out = Buffer.allocUnsafe(this.prefix.length + 1 + lengthBytes + edLength + header.length);
      let at = this.prefix.copy(out, 0);
      out[at++] = 0x0a; // field 1, wire type 2
      at = writeVarint(out, at, edLength);
      at += infoAndNonce.copy(out, at);
      at += sealed.copy(out, at);
      header.copy(out, at);
      return Promise.resolve(out);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Fields 2..5 of the current seed's EncryptedObject, validated and encoded once per seed. */
  private headerFor(s: CurrentSeed): Buffer {
    let header = this.headers.get(s);
    if (header === undefined) {
      const full = encodeEncryptedObject({
        encryptedData: ONE_BYTE,
        keyID: s.keyID,
        encryptedDEKSource: s.encryptedDEKSource,
        annotations: s.annotations,
        encryptedDEKSourceType: s.encryptedDEKSourceType,
      });
      header = full.subarray(3); // drop field 1: 0x0a 0x01 <byte>
      this.headers.set(s, header);
    }
    return header;
  }

  /** See KmsV2DekState.healthCheck: Status (reused 20 s / 3 s), rotation on a new key_id. */
  healthCheck(): Promise<void> {
    return this.dekState.healthCheck();
  }

  /** For an external probe that validated a Status itself (encryption-config's KmsV2Probe). */
  onHealthyStatus(status: StatusResponse): Promise<void> {
    return this.dekState.onHealthyStatus(status);
  }

  /** Primes with one check, then polls Status (60 s healthy / 10 s not) on the injected clock. */
  start(): Promise<boolean> {
    return this.dekState.start();
  }

  stop(): void {
    this.dekState.stop();
  }

  stats(): KmsV2Stats {
    return this.dekState.stats();
  }

  private originFor(keyId: string, type: 0 | 1): ValueOrigin {
    const cacheKey = `${type}:${keyId}`;
    let origin = this.origins.get(cacheKey);
    if (origin === undefined) {
      origin = Object.freeze({
        provider: "kms" as const,
        kmsApiVersion: "v2" as const,
        providerName: this.providerName,
        keyId,
        dekSourceType: DEK_SOURCE_TYPE_NAMES[type],
      });
      if (this.origins.size < 1000) this.origins.set(cacheKey, origin);
    }
    return origin;
  }
}

export function newKmsV2Transformer(options: KmsV2TransformerOptions): KmsV2Provider {
  return new KmsV2Provider(options);
}
