/**
 * The KMS v2 seed state machine, as kube-apiserver keeps it (kmsv2PluginProbe.rotateDEKOnKeyIDChange):
 *
 * - a new random 32-byte seed, sent once to the plugin's Encrypt, at start and whenever Status reports a
 *   key_id other than the current one — never on a timer or a write count;
 * - Encrypt must answer with the same key_id as Status, or nothing switches (the old seed coasts);
 * - each good Status extends the right to *write* with the current seed by 3 minutes;
 * - reads fail until the first seed exists, and never expire after it.
 */
import type { Clock } from "../../common/clock.js";
import { AtrestError } from "../../common/errors.js";
import { keyIdHash } from "../../common/key-id-hash.js";
import type { Logger } from "../../common/logger.js";
import type { Random } from "../../common/random.js";
import type { KmsV2Service } from "../kms-service.js";
import { kmsV2CacheKey } from "./cache-key.js";
import { KMS_V2_SEED_BYTES, KMS_V2_WRITE_DEK_MAX_TTL_MS } from "./constants.js";
import {
  annotationsProblems,
  DEK_SOURCE_TYPE,
  encryptedDekSourceProblem,
  keyIdProblem,
  type DekSourceType,
} from "./encrypted-object.js";
import type { KmsV2Hooks, PluginCalls } from "./plugin-calls.js";
import type { SeedCache } from "./seed-cache.js";

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

/** The write path re-stores the current seed in the 24 h cache at most this often (kube does it on every write). */
const CACHE_REFRESH_MS = 60_000;

export interface SeedStateOptions {
  readonly providerName: string;
  readonly service: KmsV2Service;
  readonly clock: Clock;
  readonly random: Random;
  readonly calls: PluginCalls;
  readonly cache: SeedCache;
  readonly hooks: KmsV2Hooks;
  readonly logger?: Logger | undefined;
}

export class SeedState {
  private current: CurrentSeed | undefined;
  private expiresAtMs = 0;
  private cacheRefreshedAtMs = 0;

  constructor(private readonly o: SeedStateOptions) {}

  /** The seed to write with; "unavailable" before the first good check or 3 minutes after the last one. */
  writeSeed(): CurrentSeed {
    const s = this.current;
    if (s === undefined) throw this.notReady();
    const now = this.o.clock.now();
    if (now > this.expiresAtMs) {
      throw new AtrestError(
        "unavailable",
        `kms v2 provider ${this.o.providerName}: encryptedDEKSource with keyID hash "${s.keyIdHash}" expired at ${new Date(this.expiresAtMs).toISOString()} (current time is ${new Date(now).toISOString()}); writes resume after the next successful Status check`,
        { details: { reason: "dek-expired", provider: this.o.providerName } },
      );
    }
    // kube re-adds the current seed to the cache on writes, so it never ages out while in use.
    if (now - this.cacheRefreshedAtMs >= CACHE_REFRESH_MS) {
      this.cacheRefreshedAtMs = now;
      this.o.cache.set(s.cacheKey, s.seed);
    }
    return s;
  }

  /** The current key_id and type (for staleness); "unavailable" before the first good check. Never expires. */
  readState(): CurrentSeed {
    if (this.current === undefined) throw this.notReady();
    return this.current;
  }

  /** The current seed, or undefined before the first good check (no error). */
  peek(): CurrentSeed | undefined {
    return this.current;
  }

  /** When writes stop unless a good Status comes first (ms since epoch); 0 before the first seed. */
  get writeExpiresAtMs(): number {
    return this.current === undefined ? 0 : this.expiresAtMs;
  }

  /**
   * kube's rotateDEKOnKeyIDChange for a valid Status key_id: the same key_id extends the write window
   * (when `extend`: only a healthy Status does), a new one makes a seed and sends it to Encrypt. Throws
   * "unavailable" when the rotation fails, leaving the current seed as it was.
   */
  async rotateOnKeyIdChange(statusKeyId: string, extend: boolean): Promise<void> {
    const { providerName, clock, random } = this.o;
    // The window starts before the network call: kmsv2PluginWriteDEKSourceMaxTTL is meant to be conservative.
    const expiresAtMs = clock.now() + KMS_V2_WRITE_DEK_MAX_TTL_MS;
    const previous = this.current;
    if (previous !== undefined && previous.keyID === statusKeyId) {
      if (extend) this.expiresAtMs = expiresAtMs;
      return;
    }

    const uid = random.uuid();
    const seed = Buffer.from(random.bytes(KMS_V2_SEED_BYTES)); // a copy we own (zeroed if unused)
    let encryptKeyId = "";
    let problem: string;
    try {
      const resp = await this.o.calls.run("encrypt", () => this.o.service.encrypt(seed, { uid }));
      encryptKeyId = resp.keyId;
      const problems = [
        encryptedDekSourceProblem(resp.ciphertext),
        keyIdProblem(resp.keyId),
        ...annotationsProblems(resp.annotations),
      ].filter((p): p is string => p !== undefined);
      if (problems.length > 0) problem = `invalid Encrypt response: ${problems.join(", ")}`;
      else if (resp.keyId !== statusKeyId) problem = "Encrypt returned a key_id different from Status";
      else {
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
        this.current = current;
        this.expiresAtMs = expiresAtMs;
        this.cacheRefreshedAtMs = clock.now();
        this.o.cache.set(current.cacheKey, seed);
        this.o.hooks.dekRotated?.({ providerName, keyIdHash: current.keyIdHash });
        this.o.logger?.info(
          { provider: providerName, uid, keyIdHash: current.keyIdHash },
          "kms v2 seed rotated",
        );
        return;
      }
    } catch (err) {
      problem = `failed to encrypt DEK, error: ${err instanceof Error ? err.message : String(err)}`;
    }
    seed.fill(0);
    const hash = (id: string | undefined) => (id === undefined || id === "" ? "" : keyIdHash(id));
    throw new AtrestError(
      "unavailable",
      `failed to rotate DEK uid="${uid}", error: ${problem}, statusKeyIDHash="${hash(statusKeyId)}", encryptKeyIDHash="${hash(encryptKeyId)}", stateKeyIDHash="${hash(previous?.keyID)}", expirationTimestamp=${previous === undefined ? "never" : new Date(this.expiresAtMs).toISOString()}`,
      { details: { reason: "dek-rotation-failed", provider: providerName } },
    );
  }

  private notReady(): AtrestError {
    return new AtrestError(
      "unavailable",
      `kms v2 provider ${this.o.providerName} is not ready: no successful Status check yet (is the KMS plugin running?)`,
      { details: { reason: "not-ready", provider: this.o.providerName } },
    );
  }
}
