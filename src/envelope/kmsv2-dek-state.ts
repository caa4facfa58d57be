/**
 * The KMS v2 data-key (seed) state, kept exactly as kube-apiserver keeps it
 * (pkg/server/options/encryptionconfig/config.go kmsv2PluginProbe, and kmsv2/envelope.go):
 *
 * - a new random 32-byte seed, sent once to the plugin's Encrypt, at start and whenever Status reports a
 *   key_id other than the current one — never on a timer or a write count;
 * - Encrypt must answer with the same key_id as Status, or nothing switches and the provider is unhealthy;
 * - each Status that came back with a valid key_id extends the right to *write* with the current seed
 *   by 3 minutes (a failed rotation does not: the old seed coasts until then);
 * - reads fail until the first good check, and never expire after it;
 * - Status is polled every 60 s while healthy and every 10 s while not; a health result is reused for
 *   20 s after success and 3 s after failure;
 * - decrypted DEKs/seeds are cached for 24 h, keyed by (type, encryptedDEKSource, keyID, sorted annotations).
 *
 * Time and randomness are injected. Nothing secret (seed, DEK) ever reaches a log, an error or a hook.
 */
import { systemClock, type Clock, type Timer } from "../common/clock.js";
import { AtrestError, wrapError } from "../common/errors.js";
import { keyIdHash } from "../common/key-id-hash.js";
import type { Logger } from "../common/logger.js";
import { systemRandom, type Random } from "../common/random.js";
import type { KmsV2Service, StatusResponse } from "../kms-plugin-client/service.js";
import {
  annotationsProblems,
  DEK_SOURCE_TYPE,
  encryptedDekSourceProblem,
  keyIdProblem,
  type DekSourceType,
  type EncryptedObject,
} from "./encrypted-object.js";
import { kmsV2CacheKey } from "./kmsv2-cache-key.js";

// Never change without reason: kube-apiserver's constants of the same meaning.
/** kmsv2PluginWriteDEKSourceMaxTTL */
export const KMS_V2_WRITE_DEK_MAX_TTL_MS = 3 * 60_000;
/** kmsv2PluginHealthzPositiveInterval / NegativeInterval */
export const KMS_V2_POLL_HEALTHY_INTERVAL_MS = 60_000;
export const KMS_V2_POLL_UNHEALTHY_INTERVAL_MS = 10_000;
/** kmsPluginHealthzPositiveTTL / NegativeTTL */
export const KMS_V2_HEALTH_POSITIVE_TTL_MS = 20_000;
export const KMS_V2_HEALTH_NEGATIVE_TTL_MS = 3_000;
/** kmsv2 cacheTTL */
export const KMS_V2_DEK_CACHE_TTL_MS = 24 * 60 * 60_000;
export const KMS_V2_SEED_BYTES = 32;

/** Observes the state for metrics. Never receives secrets; key ids arrive hashed (`sha256:…`). */
export interface KmsV2Hooks {
  kmsCall?(event: {
    readonly providerName: string;
    readonly method: "status" | "encrypt" | "decrypt";
    readonly ok: boolean;
  }): void;
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

/** The seed writes use now, with the EncryptedObject header fields that go with it. */
export interface CurrentSeed {
  /** Key material: never log it. */
  readonly seed: Buffer;
  readonly keyID: string;
  readonly keyIdHash: string;
  readonly encryptedDEKSource: Buffer;
  readonly annotations: Readonly<Record<string, Buffer>>;
  readonly encryptedDEKSourceType: DekSourceType;
  readonly cacheKey: string;
  readonly uid: string;
}

interface MutableState {
  current: CurrentSeed;
  expiresAtMs: number;
}

interface CacheEntry {
  readonly key: Buffer;
  expiresAtMs: number;
}

export interface KmsV2DekStateOptions {
  readonly providerName: string;
  readonly service: KmsV2Service;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly hooks?: KmsV2Hooks;
  readonly logger?: Logger;
}

export class KmsV2DekState {
  readonly providerName: string;
  private readonly service: KmsV2Service;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly hooks: KmsV2Hooks;
  private readonly logger: Logger | undefined;

  private state: MutableState | undefined;
  private apiVersion: string | undefined;
  private statusQueue: Promise<unknown> = Promise.resolve();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly decrypting = new Map<string, Promise<Buffer>>();
  private lastSweepMs = 0;
  private lastHealth: { atMs: number; ttlMs: number; error: AtrestError | undefined } | undefined;
  private healthInFlight: Promise<void> | undefined;
  private pollTimer: Timer | undefined;
  private polling = false;
  private pollRun: Promise<void> = Promise.resolve();
  private readonly counters = { statusCalls: 0, encryptCalls: 0, decryptCalls: 0, cacheMisses: 0 };

  constructor(options: KmsV2DekStateOptions) {
    this.providerName = options.providerName;
    this.service = options.service;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.hooks = options.hooks ?? {};
    this.logger = options.logger;
  }

  /** The seed to write with; "unavailable" before the first good check or 3 minutes after the last one. */
  writeSeed(): CurrentSeed {
    const s = this.state;
    if (s === undefined) throw this.notReady();
    const now = this.clock.now();
    if (now > s.expiresAtMs) {
      throw new AtrestError(
        "unavailable",
        `kms v2 provider ${this.providerName}: encryptedDEKSource with keyID hash "${s.current.keyIdHash}" expired at ${new Date(s.expiresAtMs).toISOString()} (current time is ${new Date(now).toISOString()}); writes resume after the next successful Status check`,
        { details: { reason: "dek-expired", provider: this.providerName } },
      );
    }
    // kube re-adds the current seed to the cache on each write, so it never ages out while in use.
    const entry = this.cache.get(s.current.cacheKey);
    if (entry === undefined) this.cacheSet(s.current.cacheKey, s.current.seed);
    else if (entry.expiresAtMs - now < KMS_V2_DEK_CACHE_TTL_MS - 60_000)
      entry.expiresAtMs = now + KMS_V2_DEK_CACHE_TTL_MS;
    return s.current;
  }

  /** The current key_id and type (for staleness); "unavailable" before the first good check. Never expires. */
  readState(): CurrentSeed {
    const s = this.state;
    if (s === undefined) throw this.notReady();
    return s.current;
  }

  /** The current seed, or undefined before the first good check (no error). */
  peekState(): CurrentSeed | undefined {
    return this.state?.current;
  }

  /** The DEK (type 0) or seed (type 1) of a stored object: from the 24 h cache, else one plugin Decrypt. */
  sourceFor(o: EncryptedObject, knownCacheKey?: string): Promise<Buffer> {
    const cacheKey =
      knownCacheKey ?? kmsV2CacheKey(o.encryptedDEKSourceType, o.encryptedDEKSource, o.keyID, o.annotations);
    const entry = this.cache.get(cacheKey);
    if (entry !== undefined) {
      if (entry.expiresAtMs >= this.clock.now()) return Promise.resolve(entry.key);
      this.cache.delete(cacheKey);
    }
    let pending = this.decrypting.get(cacheKey);
    if (pending === undefined) {
      pending = this.decryptSource(o, cacheKey).finally(() => this.decrypting.delete(cacheKey));
      this.decrypting.set(cacheKey, pending);
    }
    return pending;
  }

  private async decryptSource(o: EncryptedObject, cacheKey: string): Promise<Buffer> {
    this.counters.cacheMisses++;
    this.hooks.cacheMiss?.({ providerName: this.providerName });
    this.counters.decryptCalls++;
    let key: Buffer;
    try {
      key = await this.service.decrypt({
        ciphertext: o.encryptedDEKSource,
        keyId: o.keyID,
        annotations: o.annotations,
        uid: this.random.uuid(),
      });
      this.hooks.kmsCall?.({ providerName: this.providerName, method: "decrypt", ok: true });
    } catch (err) {
      this.hooks.kmsCall?.({ providerName: this.providerName, method: "decrypt", ok: false });
      throw wrapError(err, `kms v2 provider ${this.providerName}: failed to decrypt DEK`, "unavailable");
    }
    const lengthOk =
      o.encryptedDEKSourceType === DEK_SOURCE_TYPE.HKDF_SHA256_XNONCE_AES_GCM_SEED
        ? key.length === KMS_V2_SEED_BYTES
        : key.length === 16 || key.length === 24 || key.length === 32;
    if (!lengthOk) {
      throw new AtrestError(
        "data-corrupt",
        `kms v2 provider ${this.providerName}: the plugin decrypted a ${key.length}-byte ${o.encryptedDEKSourceType === 1 ? "seed" : "DEK"}, which is not a valid length`,
      );
    }
    this.cacheSet(cacheKey, key);
    return key;
  }

  private cacheSet(cacheKey: string, key: Buffer): void {
    const now = this.clock.now();
    this.cache.set(cacheKey, { key, expiresAtMs: now + KMS_V2_DEK_CACHE_TTL_MS });
    if (now - this.lastSweepMs >= 60_000) {
      this.lastSweepMs = now;
      for (const [k, e] of this.cache) if (e.expiresAtMs < now) this.cache.delete(k);
    }
    this.hooks.cacheSize?.({ providerName: this.providerName, size: this.cache.size });
  }

  /**
   * A Status response the caller already found healthy (healthz "ok", version, key_id valid): extends
   * the write window or rotates to a new seed on a new key_id. Throws ("unavailable") when the rotation
   * fails; the encryption-config probe passes this as `onHealthyStatus`.
   */
  onHealthyStatus(status: StatusResponse): Promise<void> {
    return this.serialized(() => this.rotateOnKeyIdChange(status.keyId));
  }

  /**
   * kube's isKMSv2ProviderHealthyAndMaybeRotateDEK: checks healthz, version (sticky after the first
   * answer) and key_id; a new valid key_id rotates the seed even when healthz is not "ok" (as kube does).
   * Unlike kube, only a healthy Status extends the write window: a plugin that cannot reach its KMS keeps
   * reporting its last key_id, and writes must still stop 3 minutes after the last good check (a KMS that
   * is gone may be a key that was disabled or revoked). Throws "unavailable" naming every problem.
   */
  checkStatus(status: StatusResponse): Promise<void> {
    return this.serialized(async () => {
      const problems: string[] = [];
      if (status.healthz !== "ok") problems.push(`got unexpected healthz status: ${status.healthz}`);
      if (status.version !== "v2" && status.version !== "v2beta1") {
        problems.push(`expected KMSv2 API version v2, got ${status.version}`);
      } else {
        this.apiVersion ??= status.version;
        if (this.apiVersion !== status.version)
          problems.push(`expected KMSv2 API version ${this.apiVersion}, got ${status.version}`);
      }
      const keyIdError = keyIdProblem(status.keyId);
      if (keyIdError !== undefined) {
        problems.push(
          `got invalid KMSv2 KeyID hash "${status.keyId === "" ? "" : keyIdHash(status.keyId)}": ${keyIdError}`,
        );
      } else {
        this.hooks.statusKeyId?.({ providerName: this.providerName, keyIdHash: keyIdHash(status.keyId) });
        try {
          await this.rotateOnKeyIdChange(status.keyId, problems.length === 0);
        } catch (err) {
          problems.push(err instanceof Error ? err.message : String(err));
        }
      }
      if (problems.length > 0) {
        const detail = problems.length === 1 ? problems[0]! : `[${problems.join(", ")}]`;
        throw new AtrestError(
          "unavailable",
          `kmsv2 Provider ${this.providerName} is not healthy, error: ${detail}`,
          {
            details: { provider: this.providerName },
          },
        );
      }
    });
  }

  /**
   * The provider's health check: Status, then checkStatus. A result is reused for 20 s after success and
   * 3 s after failure; concurrent callers share one check. Rejects with a clear AtrestError when unhealthy.
   */
  healthCheck(): Promise<void> {
    const last = this.lastHealth;
    if (last !== undefined && this.clock.now() - last.atMs < last.ttlMs) {
      return last.error === undefined ? Promise.resolve() : Promise.reject(last.error);
    }
    this.healthInFlight ??= this.runHealthCheck().finally(() => {
      this.healthInFlight = undefined;
    });
    return this.healthInFlight;
  }

  private async runHealthCheck(): Promise<void> {
    let error: AtrestError | undefined;
    try {
      let status: StatusResponse;
      this.counters.statusCalls++;
      try {
        status = await this.service.status({ uid: this.random.uuid() });
        this.hooks.kmsCall?.({ providerName: this.providerName, method: "status", ok: true });
      } catch (err) {
        this.hooks.kmsCall?.({ providerName: this.providerName, method: "status", ok: false });
        throw wrapError(
          err,
          `failed to perform status section of the healthz check for KMS Provider ${this.providerName}`,
          "unavailable",
        );
      }
      await this.checkStatus(status);
    } catch (err) {
      error =
        err instanceof AtrestError
          ? err
          : wrapError(err, `kms v2 provider ${this.providerName}`, "unavailable");
    }
    this.lastHealth = {
      atMs: this.clock.now(),
      ttlMs: error === undefined ? KMS_V2_HEALTH_POSITIVE_TTL_MS : KMS_V2_HEALTH_NEGATIVE_TTL_MS,
      error,
    };
    this.hooks.health?.({ providerName: this.providerName, healthy: error === undefined });
    if (error !== undefined) {
      this.logger?.warn(
        { provider: this.providerName, err: error.message },
        "kms plugin failed health check probe",
      );
      throw error;
    }
  }

  /**
   * Primes the state with one check (awaited; a failure is not fatal, as in kube) and then polls Status
   * every 60 s while healthy and every 10 s while not, on the injected clock. Resolves to whether the
   * first check succeeded.
   */
  async start(): Promise<boolean> {
    if (this.polling) return this.lastHealth?.error === undefined && this.state !== undefined;
    this.polling = true;
    const run = this.pollOnce();
    this.pollRun = run.then(() => undefined);
    return run;
  }

  /** Stops polling. Reads and writes keep working on the current state. */
  stop(): void {
    this.polling = false;
    if (this.pollTimer !== undefined) this.clock.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Resolves when the poll started by the last timer tick has finished (for tests driving a ManualClock). */
  settled(): Promise<void> {
    return this.pollRun;
  }

  private async pollOnce(): Promise<boolean> {
    const ok = await this.healthCheck().then(
      () => true,
      () => false,
    );
    if (this.polling) {
      this.pollTimer = this.clock.setTimeout(
        () => {
          this.pollTimer = undefined;
          this.pollRun = this.pollOnce().then(() => undefined);
        },
        ok ? KMS_V2_POLL_HEALTHY_INTERVAL_MS : KMS_V2_POLL_UNHEALTHY_INTERVAL_MS,
      );
      this.pollTimer.unref?.();
    }
    return ok;
  }

  stats(): KmsV2Stats {
    return {
      ...this.counters,
      cacheSize: this.cache.size,
      keyIdHash: this.state?.current.keyIdHash ?? "",
      healthy: this.lastHealth === undefined ? undefined : this.lastHealth.error === undefined,
      writeExpiresAtMs: this.state?.expiresAtMs ?? 0,
    };
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.statusQueue.then(fn, fn);
    this.statusQueue = run.catch(() => undefined);
    return run;
  }

  /** kube's rotateDEKOnKeyIDChange; `extend` says whether an unchanged key_id extends the write window. */
  private async rotateOnKeyIdChange(statusKeyId: string, extend = true): Promise<void> {
    const statusProblem = keyIdProblem(statusKeyId);
    if (statusProblem !== undefined)
      throw new AtrestError("unavailable", `got invalid KMSv2 KeyID: ${statusProblem}`);
    // The window starts before the network call: kmsv2PluginWriteDEKSourceMaxTTL is meant to be conservative.
    const expiresAtMs = this.clock.now() + KMS_V2_WRITE_DEK_MAX_TTL_MS;
    const previous = this.state;
    if (previous !== undefined && previous.current.keyID === statusKeyId) {
      if (extend) previous.expiresAtMs = expiresAtMs;
      return;
    }

    const uid = this.random.uuid();
    const seed = Buffer.from(this.random.bytes(KMS_V2_SEED_BYTES)); // a copy we own (zeroed if unused)
    let encryptKeyId = "";
    let problem = "no answer";
    this.counters.encryptCalls++;
    let resp: Awaited<ReturnType<KmsV2Service["encrypt"]>> | undefined;
    try {
      resp = await this.service.encrypt(seed, { uid });
      this.hooks.kmsCall?.({ providerName: this.providerName, method: "encrypt", ok: true });
    } catch (err) {
      this.hooks.kmsCall?.({ providerName: this.providerName, method: "encrypt", ok: false });
      problem = `failed to encrypt DEK, error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (resp !== undefined) {
      encryptKeyId = resp.keyId;
      const problems = [
        encryptedDekSourceProblem(resp.ciphertext),
        keyIdProblem(resp.keyId),
        ...annotationsProblems(resp.annotations),
      ].filter((p): p is string => p !== undefined);
      if (problems.length > 0) {
        problem = `invalid Encrypt response: ${problems.join(", ")}`;
      } else if (resp.keyId !== statusKeyId) {
        problem = "Encrypt returned a key_id different from Status";
      } else {
        const type = DEK_SOURCE_TYPE.HKDF_SHA256_XNONCE_AES_GCM_SEED;
        const annotations: Record<string, Buffer> = {};
        for (const [k, v] of Object.entries(resp.annotations)) annotations[k] = Buffer.from(v);
        const encryptedDEKSource = Buffer.from(resp.ciphertext);
        const current: CurrentSeed = Object.freeze({
          seed,
          keyID: resp.keyId,
          keyIdHash: keyIdHash(resp.keyId),
          encryptedDEKSource,
          annotations: Object.freeze(annotations),
          encryptedDEKSourceType: type,
          cacheKey: kmsV2CacheKey(type, encryptedDEKSource, resp.keyId, annotations),
          uid,
        });
        this.state = { current, expiresAtMs };
        this.cacheSet(current.cacheKey, seed);
        this.hooks.dekRotated?.({ providerName: this.providerName, keyIdHash: current.keyIdHash });
        this.logger?.info(
          { provider: this.providerName, uid, keyIdHash: current.keyIdHash },
          "kms v2 seed rotated",
        );
        return;
      }
    }
    seed.fill(0);
    const hash = (id: string | undefined) => (id === undefined || id === "" ? "" : keyIdHash(id));
    throw new AtrestError(
      "unavailable",
      `failed to rotate DEK uid="${uid}", error: ${problem}, statusKeyIDHash="${hash(statusKeyId)}", encryptKeyIDHash="${hash(encryptKeyId)}", stateKeyIDHash="${hash(previous?.current.keyID)}", expirationTimestamp=${previous === undefined ? "never" : new Date(previous.expiresAtMs).toISOString()}`,
      { details: { reason: "dek-rotation-failed", provider: this.providerName } },
    );
  }

  private notReady(): AtrestError {
    return new AtrestError(
      "unavailable",
      `kms v2 provider ${this.providerName} is not ready: no successful Status check yet (is the KMS plugin running?)`,
      { details: { reason: "not-ready", provider: this.providerName } },
    );
  }
}
