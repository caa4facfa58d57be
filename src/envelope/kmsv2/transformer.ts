import { LRUCache } from "lru-cache";
import { systemClock, type Clock } from "../../common/clock.js";
import { AtrestError } from "../../common/errors.js";
import { keyIdHash } from "../../common/key-id-hash.js";
import type { Random } from "../../common/random.js";
import { pooledRandom } from "../../crypto/random-pool.js";
import {
  aesGcmOpen,
  aesGcmSealParts,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  hkdfExpandSha256,
} from "../../crypto/index.js";
import { startsWith, unknownPrefixError, type EnvelopeProvider } from "../provider.js";
import type { ReadResult, TransformContext, ValueOrigin } from "../transformer.js";
import { kmsV2CacheKey } from "./cache-key.js";
import { DerivedKeyCache } from "./derived-key-cache.js";
import {
  encodeHeader,
  INFO_BYTES,
  splitEncryptedData,
  varintLength,
  writeVarint,
} from "./encrypted-data-field.js";
import {
  decodeEncryptedObject,
  DEK_SOURCE_TYPE,
  DEK_SOURCE_TYPE_NAMES,
  type EncryptedObject,
} from "./encrypted-object.js";
import type { KmsV2Hooks, KmsV2Stats } from "./plugin-calls.js";
import { KmsV2Runtime, type KmsV2RuntimeOptions } from "./runtime.js";
import type { CurrentSeed } from "./seed-state.js";

/** Headers of other seeds remembered (older seeds, other apiservers'): a handful in practice. */
const MAX_KNOWN_HEADERS = 256;
/** (type, key_id) pairs whose read origin is remembered. */
const MAX_ORIGINS = 1000;

interface KnownHeader {
  readonly header: Omit<EncryptedObject, "encryptedData">;
  readonly cacheKey: string;
}

export interface KmsV2TransformerOptions extends KmsV2RuntimeOptions {
  /** kube's per-storage-key cache of seed-mode read keys (10 min). Default true; false derives on every read. */
  readonly kdfCache?: boolean;
}

/**
 * KMS v2 envelope: `k8s:enc:kms:v2:<name>:` ‖ protobuf EncryptedObject. Writes seed mode (type 1):
 * key = HKDF-Expand(seed, info), encryptedData = info(32) ‖ nonce(12) ‖ AES-256-GCM ct ‖ tag(16), AAD =
 * storage key. Reads type 0 (encryptedData = nonce ‖ ct ‖ tag under the DEK itself) and type 1. A read
 * is stale when its keyID or type differs from the current seed's. The runtime (seed state, Status
 * health check and poller, decrypted-seed cache) lives in `runtime`.
 */
export class KmsV2Provider implements EnvelopeProvider {
  readonly kind = "kms" as const;
  readonly prefix: Buffer;
  readonly providerName: string;
  readonly runtime: KmsV2Runtime;
  private readonly random: Random;
  private readonly origins = new LRUCache<string, { origin: ValueOrigin; keyIdHash: string }>({
    max: MAX_ORIGINS,
  });
  private readonly hooks: KmsV2Hooks;
  private readonly headers = new WeakMap<CurrentSeed, Buffer>();
  private readonly knownHeaders = new LRUCache<string, KnownHeader>({ max: MAX_KNOWN_HEADERS });
  private readonly kdfCaches = new WeakMap<Buffer, DerivedKeyCache>();
  private readonly clock: Clock;
  private readonly kdfCacheEnabled: boolean;

  constructor(options: KmsV2TransformerOptions) {
    if (options.providerName.length === 0 || options.providerName.includes(":")) {
      throw new AtrestError(
        "invalid-argument",
        `kms v2 provider name must be non-empty and must not contain ':', got "${options.providerName}"`,
      );
    }
    this.providerName = options.providerName;
    this.prefix = Buffer.from(`k8s:enc:kms:v2:${options.providerName}:`);
    this.random = options.random ?? pooledRandom;
    this.clock = options.clock ?? systemClock;
    this.kdfCacheEnabled = options.kdfCache ?? true;
    this.hooks = options.hooks ?? {};
    this.runtime = new KmsV2Runtime({
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
    const body = data.subarray(this.prefix.length);
    const split = splitEncryptedData(body);
    const ready = this.runtime.peekState();
    // Fast path: written with the current seed, the body is field 1 followed by exactly the header bytes
    // validated when the seed was made, so protobuf decoding and validation would find nothing new.
    if (split !== undefined && ready !== undefined && split.rest.equals(this.headerFor(ready))) {
      const plaintext = this.openSeedMode(ready.seed, split.encryptedData, ctx);
      return { plaintext, stale: false, origin: this.read(ready.keyID, ready.encryptedDEKSourceType) };
    }
    // The same for headers of other seeds already decoded and validated once (older seeds, or values
    // another instance wrote): skip the protobuf decode and the cache-key building.
    const restKey = split === undefined ? undefined : split.rest.toString("latin1");
    const known = restKey === undefined ? undefined : this.knownHeaders.get(restKey);
    let o: EncryptedObject;
    let cacheKey: string | undefined;
    if (split !== undefined && known !== undefined) {
      o = { ...known.header, encryptedData: split.encryptedData };
      cacheKey = known.cacheKey;
      if (o.encryptedData.length === 0)
        throw new AtrestError("data-corrupt", "invalid KMS v2 EncryptedObject: encrypted data is empty");
    } else {
      // kube's order: a value that does not parse is data-corrupt whatever the plugin's state.
      o = decodeEncryptedObject(body);
      if (split !== undefined && restKey !== undefined) this.rememberHeader(o, split.rest, restKey);
    }
    const current = this.runtime.readState();
    const key = await this.runtime.sourceFor(o, cacheKey);
    let plaintext: Buffer;
    if (o.encryptedDEKSourceType === DEK_SOURCE_TYPE.HKDF_SHA256_XNONCE_AES_GCM_SEED) {
      plaintext = this.openSeedMode(key, o.encryptedData, ctx);
    } else {
      const sealed = o.encryptedData;
      if (sealed.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) {
        throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
      }
      plaintext = aesGcmOpen(
        key,
        sealed.subarray(0, GCM_NONCE_BYTES),
        sealed.subarray(GCM_NONCE_BYTES),
        ctx.aad,
      );
    }
    const stale = o.keyID !== current.keyID || o.encryptedDEKSourceType !== current.encryptedDEKSourceType;
    return { plaintext, stale, origin: this.read(o.keyID, o.encryptedDEKSourceType) };
  }

  /**
   * Remembers a validated header when the stored bytes after field 1 are exactly its canonical encoding
   * (values written by kube-apiserver with several annotations may order them otherwise: no memo then).
   */
  private rememberHeader(o: EncryptedObject, rest: Buffer, restKey: string): void {
    const header = encodeHeader(o);
    if (!header.equals(rest)) return;
    this.knownHeaders.set(restKey, {
      // Copies: the decoded fields are views into the caller's buffer, which may be reused.
      header: {
        keyID: o.keyID,
        encryptedDEKSource: Buffer.from(o.encryptedDEKSource),
        annotations: Object.fromEntries(Object.entries(o.annotations).map(([k, v]) => [k, Buffer.from(v)])),
        encryptedDEKSourceType: o.encryptedDEKSourceType,
      },
      cacheKey: kmsV2CacheKey(o.encryptedDEKSourceType, o.encryptedDEKSource, o.keyID, o.annotations),
    });
  }

  /** encryptedData = info(32) ‖ nonce(12) ‖ ct ‖ tag(16) under HKDF-Expand(seed, info). */
  private openSeedMode(seed: Buffer, ed: Uint8Array, ctx: TransformContext): Buffer {
    if (ed.length < INFO_BYTES + GCM_NONCE_BYTES + GCM_TAG_BYTES) {
      throw new AtrestError("data-corrupt", "the stored data was shorter than the required size");
    }
    const info = ed.subarray(0, INFO_BYTES);
    const kdf = this.kdfCacheFor(seed);
    let derived = this.kdfCacheEnabled ? kdf.get(ctx.aad, info) : undefined;
    if (derived === undefined) {
      derived = hkdfExpandSha256(seed, info);
      if (this.kdfCacheEnabled) kdf.set(ctx.aad, info, derived);
    }
    const nonceEnd = INFO_BYTES + GCM_NONCE_BYTES;
    return aesGcmOpen(derived, ed.subarray(INFO_BYTES, nonceEnd), ed.subarray(nonceEnd), ctx.aad);
  }

  private kdfCacheFor(seed: Buffer): DerivedKeyCache {
    let cache = this.kdfCaches.get(seed);
    if (cache === undefined) {
      cache = new DerivedKeyCache(this.clock);
      this.kdfCaches.set(seed, cache);
    }
    return cache;
  }

  transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> {
    try {
      const s = this.runtime.writeSeed();
      const header = this.headerFor(s);
      // One draw for info(32) ‖ nonce(12): both random per write.
      const infoAndNonce = this.random.bytes(INFO_BYTES + GCM_NONCE_BYTES);
      const info = infoAndNonce.subarray(0, INFO_BYTES);
      const nonce = infoAndNonce.subarray(INFO_BYTES);
      const derived = hkdfExpandSha256(s.seed, info);
      const { ciphertext, tag } = aesGcmSealParts(derived, nonce, plaintext, ctx.aad);
      // As kube does on write: a read of this object soon after skips the HKDF.
      if (this.kdfCacheEnabled) this.kdfCacheFor(s.seed).set(ctx.aad, info, derived);
      // EncryptedObject = field 1 (encryptedData = info ‖ nonce ‖ ct ‖ tag) ‖ the fields 2..5 of the current
      // seed, encoded once by protobufjs: the same bytes protobufjs (and Go) give for the whole message,
      // as fields are written in number order.
      const edLength = INFO_BYTES + GCM_NONCE_BYTES + ciphertext.length + tag.length;
      const out = Buffer.allocUnsafe(
        this.prefix.length + 1 + varintLength(edLength) + edLength + header.length,
      );
      let at = this.prefix.copy(out, 0);
      out[at++] = 0x0a; // field 1, wire type 2
      at = writeVarint(out, at, edLength);
      at += infoAndNonce.copy(out, at);
      at += ciphertext.copy(out, at);
      at += tag.copy(out, at);
      header.copy(out, at);
      this.hooks.keyIdUsed?.({
        providerName: this.providerName,
        keyIdHash: s.keyIdHash,
        transformationType: "to_storage",
      });
      return Promise.resolve(out);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Fields 2..5 of the current seed's EncryptedObject, validated and encoded once per seed. */
  private headerFor(s: CurrentSeed): Buffer {
    let header = this.headers.get(s);
    if (header === undefined) {
      header = encodeHeader(s);
      this.headers.set(s, header);
    }
    return header;
  }

  /** See KmsV2Runtime.healthCheck: Status (reused 20 s / 3 s), rotation on a new key_id. */
  healthCheck(): Promise<void> {
    return this.runtime.healthCheck();
  }

  /** Primes with one check, then polls Status (60 s healthy / 10 s not) on the injected clock. */
  start(): Promise<boolean> {
    return this.runtime.start();
  }

  stop(): void {
    this.runtime.stop();
  }

  stats(): KmsV2Stats {
    return this.runtime.stats();
  }

  /** The origin of a value read under (keyId, type), reported to the keyIdUsed hook. */
  private read(keyId: string, type: 0 | 1): ValueOrigin {
    const cacheKey = `${type}:${keyId}`;
    let entry = this.origins.get(cacheKey);
    if (entry === undefined) {
      entry = {
        origin: Object.freeze({
          provider: "kms" as const,
          kmsApiVersion: "v2" as const,
          providerName: this.providerName,
          keyId,
          dekSourceType: DEK_SOURCE_TYPE_NAMES[type],
        }),
        keyIdHash: keyIdHash(keyId),
      };
      this.origins.set(cacheKey, entry);
    }
    this.hooks.keyIdUsed?.({
      providerName: this.providerName,
      keyIdHash: entry.keyIdHash,
      transformationType: "from_storage",
    });
    return entry.origin;
  }
}

export function newKmsV2Transformer(options: KmsV2TransformerOptions): KmsV2Provider {
  return new KmsV2Provider(options);
}
