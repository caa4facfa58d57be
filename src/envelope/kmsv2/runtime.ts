/**
 * One KMS v2 provider's runtime, kept exactly as kube-apiserver keeps it (encryptionconfig/config.go
 * kmsv2PluginProbe, and kmsv2/envelope.go): the seed state machine (seed-state.ts), the Status health
 * check with kube's checks and 20 s / 3 s result reuse (health-result-cache.ts), the 60 s / 10 s Status
 * poller (status-poller.ts), and the 24 h cache of decrypted seeds (seed-cache.ts). The encryption
 * configuration's `/healthz/kms-provider-N` check is this runtime's `healthCheck`; there is no other.
 *
 * Time and randomness are injected. Nothing secret (seed, DEK) ever reaches a log, an error or a hook.
 */
import { systemClock, type Clock } from "../../common/clock.js";
import { AtrestError, isAtrestError, wrapError } from "../../common/errors.js";
import { keyIdHash } from "../../common/key-id-hash.js";
import type { Logger } from "../../common/logger.js";
import { systemRandom, type Random } from "../../common/random.js";
import { HealthResultCache } from "../health-result-cache.js";
import type { KmsV2Service, StatusResponse } from "../kms-service.js";
import { kmsV2CacheKey } from "./cache-key.js";
import { KMS_V2_SEED_BYTES, KMS_V2_STATUS_VERSIONS } from "./constants.js";
import { DEK_SOURCE_TYPE, keyIdProblem, type EncryptedObject } from "./encrypted-object.js";
import { PluginCalls, type KmsV2Hooks, type KmsV2Stats } from "./plugin-calls.js";
import { SeedCache } from "./seed-cache.js";
import { SeedState, type CurrentSeed } from "./seed-state.js";
import { StatusPoller } from "./status-poller.js";

export interface KmsV2RuntimeOptions {
  /** The provider's `name` (no ':'); part of the prefix `k8s:enc:kms:v2:<name>:`. */
  readonly providerName: string;
  readonly service: KmsV2Service;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly hooks?: KmsV2Hooks;
  readonly logger?: Logger;
}

export class KmsV2Runtime {
  readonly providerName: string;
  private readonly service: KmsV2Service;
  private readonly random: Random;
  private readonly hooks: KmsV2Hooks;
  private readonly logger: Logger | undefined;
  private readonly calls: PluginCalls;
  private readonly cache: SeedCache;
  private readonly seeds: SeedState;
  private readonly health: HealthResultCache;
  private readonly poller: StatusPoller;
  /** The first Status version seen; it must not change (kube). */
  private apiVersion: string | undefined;
  private statusQueue: Promise<unknown> = Promise.resolve();

  constructor(options: KmsV2RuntimeOptions) {
    this.providerName = options.providerName;
    this.service = options.service;
    const clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.hooks = options.hooks ?? {};
    this.logger = options.logger;
    this.calls = new PluginCalls(this.providerName, this.hooks);
    this.cache = new SeedCache(clock, (size) =>
      this.hooks.cacheSize?.({ providerName: this.providerName, size }),
    );
    this.seeds = new SeedState({
      providerName: this.providerName,
      service: this.service,
      clock,
      random: this.random,
      calls: this.calls,
      cache: this.cache,
      hooks: this.hooks,
      logger: this.logger,
    });
    this.health = new HealthResultCache(clock, () => this.probe());
    this.poller = new StatusPoller(clock, () =>
      this.healthCheck().then(
        () => true,
        () => false,
      ),
    );
  }

  /** The seed to write with; "unavailable" before the first good check or 3 minutes after the last one. */
  writeSeed(): CurrentSeed {
    return this.seeds.writeSeed();
  }

  /** The current key_id and type (for staleness); "unavailable" before the first good check. Never expires. */
  readState(): CurrentSeed {
    return this.seeds.readState();
  }

  /** The current seed, or undefined before the first good check (no error). */
  peekState(): CurrentSeed | undefined {
    return this.seeds.peek();
  }

  /** The DEK (type 0) or seed (type 1) of a stored object: from the 24 h cache, else one plugin Decrypt. */
  sourceFor(o: EncryptedObject, knownCacheKey?: string): Promise<Buffer> {
    const cacheKey =
      knownCacheKey ?? kmsV2CacheKey(o.encryptedDEKSourceType, o.encryptedDEKSource, o.keyID, o.annotations);
    return this.cache.getOrLoad(cacheKey, () => this.decryptSource(o));
  }

  private async decryptSource(o: EncryptedObject): Promise<Buffer> {
    this.calls.cacheMiss();
    let key: Buffer;
    try {
      key = await this.calls.run("decrypt", () =>
        this.service.decrypt({
          ciphertext: o.encryptedDEKSource,
          keyId: o.keyID,
          annotations: o.annotations,
          uid: this.random.uuid(),
        }),
      );
    } catch (err) {
      throw wrapError(err, `kms v2 provider ${this.providerName}: failed to decrypt DEK`, "unavailable");
    }
    const seedMode = o.encryptedDEKSourceType === DEK_SOURCE_TYPE.HKDF_SHA256_XNONCE_AES_GCM_SEED;
    const lengthOk = seedMode
      ? key.length === KMS_V2_SEED_BYTES
      : key.length === 16 || key.length === 24 || key.length === 32;
    if (!lengthOk) {
      throw new AtrestError(
        "data-corrupt",
        `kms v2 provider ${this.providerName}: the plugin decrypted a ${key.length}-byte ${seedMode ? "seed" : "DEK"}, which is not a valid length`,
      );
    }
    return key;
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
      if (!KMS_V2_STATUS_VERSIONS.includes(status.version)) {
        problems.push(`expected KMSv2 API version v2, got ${status.version}`);
      } else {
        this.apiVersion ??= status.version;
        if (this.apiVersion !== status.version)
          problems.push(
            `KMSv2 API version should not change after the initial status response version ${this.apiVersion}, got ${status.version}`,
          );
      }
      const keyIdError = keyIdProblem(status.keyId);
      if (keyIdError !== undefined) {
        problems.push(
          `got invalid KMSv2 KeyID hash "${status.keyId === "" ? "" : keyIdHash(status.keyId)}": ${keyIdError}`,
        );
      } else {
        this.hooks.statusKeyId?.({ providerName: this.providerName, keyIdHash: keyIdHash(status.keyId) });
        try {
          await this.seeds.rotateOnKeyIdChange(status.keyId, problems.length === 0);
        } catch (err) {
          problems.push(err instanceof Error ? err.message : String(err));
        }
      }
      if (problems.length > 0) {
        const detail = problems.length === 1 ? problems[0]! : `[${problems.join(", ")}]`;
        throw new AtrestError(
          "unavailable",
          `kmsv2 Provider ${this.providerName} is not healthy, error: ${detail}`,
          { details: { provider: this.providerName } },
        );
      }
    });
  }

  /**
   * The provider's health check (`/healthz/kms-provider-N`): Status, then checkStatus. A result is reused
   * for 20 s after success and 3 s after failure; concurrent callers share one check. Rejects with an
   * AtrestError saying what is wrong.
   */
  healthCheck(): Promise<void> {
    return this.health.check();
  }

  private async probe(): Promise<void> {
    let error: AtrestError | undefined;
    try {
      let status: StatusResponse;
      try {
        status = await this.calls.run("status", () => this.service.status({ uid: this.random.uuid() }));
      } catch (err) {
        // kube's wording ("…, error: <cause>"); the cause's code is kept (a timeout stays deadline-exceeded).
        throw new AtrestError(
          isAtrestError(err) ? err.code : "unavailable",
          `failed to perform status section of the healthz check for KMS Provider ${this.providerName}, error: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err, details: isAtrestError(err) ? { ...err.details } : {} },
        );
      }
      await this.checkStatus(status);
    } catch (err) {
      error =
        err instanceof AtrestError
          ? err
          : wrapError(err, `kms v2 provider ${this.providerName}`, "unavailable");
    }
    this.hooks.health?.({ providerName: this.providerName, healthy: error === undefined });
    if (error !== undefined) {
      this.logger?.warn(
        { provider: this.providerName, err: error.message },
        "kms plugin failed health check probe",
      );
      throw error;
    }
  }

  /** Primes the seed with one check (awaited; a failure is not fatal, as in kube), then polls Status. */
  start(): Promise<boolean> {
    return this.poller.start();
  }

  /** Stops polling. Reads and writes keep working on the current seed. */
  stop(): void {
    this.poller.stop();
  }

  /** Resolves when the poll started by the last timer tick has finished (for tests driving a ManualClock). */
  settled(): Promise<void> {
    return this.poller.settled();
  }

  stats(): KmsV2Stats {
    const { status, encrypt, decrypt, cacheMisses } = this.calls.counts;
    return {
      statusCalls: status,
      encryptCalls: encrypt,
      decryptCalls: decrypt,
      cacheMisses,
      cacheSize: this.cache.size,
      keyIdHash: this.seeds.peek()?.keyIdHash ?? "",
      healthy: this.health.healthy,
      writeExpiresAtMs: this.seeds.writeExpiresAtMs,
    };
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.statusQueue.then(fn, fn);
    this.statusQueue = run.catch(() => undefined);
    return run;
  }
}
