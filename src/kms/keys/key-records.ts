import { LRUCache } from "lru-cache";
import type { Clock } from "../../common/clock.js";
import { AtrestError } from "../../common/errors.js";
import type { Random } from "../../common/random.js";
import { kmsError } from "../kms-error.js";
import type { ProtectionBackend, ProtectionLevel } from "../protection/protection.js";
import type { KmsDb } from "../store/database.js";
import { ttlCache } from "../ttl-cache.js";
import type { KeyPatch } from "./key-policy.js";
import type { KeyRow, KeyTag, KeyVersionRow } from "./key-types.js";

/** Key rows served from memory (each for `keyCacheTtlMs`). */
const MAX_CACHED_KEYS = 10_000;
/** Versions are immutable until purged, so they are cached without expiry, least recently used out. */
const MAX_CACHED_VERSIONS = 50_000;
const CAS_ATTEMPTS = 5;

export interface KeyRecordsOptions {
  kdb: KmsDb;
  protections: Partial<Record<ProtectionLevel, ProtectionBackend>>;
  clock: Clock;
  random: Random;
  /** How long a key's row may be served from memory; another instance's change is seen after this. */
  keyCacheTtlMs: number;
}

/**
 * The key store as the key modules use it: key and version rows (read through bounded caches), the
 * protection backends, and the one compare-and-set write of a key row. Every mutation re-reads the row
 * and writes it only if its `generation` is unchanged (retried), so two KMS instances on one database
 * never apply a change twice (e.g. a scheduled rotation) and never lose one. The cache learns a row
 * only after its write committed: a failed write leaves memory as the store is.
 */
export class KeyRecords {
  readonly kdb: KmsDb;
  readonly clock: Clock;
  readonly random: Random;
  readonly #protections: Partial<Record<ProtectionLevel, ProtectionBackend>>;
  readonly #keys: LRUCache<string, KeyRow> | undefined;
  readonly #versions = new LRUCache<string, KeyVersionRow>({ max: MAX_CACHED_VERSIONS });

  constructor(options: KeyRecordsOptions) {
    this.kdb = options.kdb;
    this.clock = options.clock;
    this.random = options.random;
    this.#protections = options.protections;
    this.#keys = ttlCache<KeyRow>({
      max: MAX_CACHED_KEYS,
      ttlMs: options.keyCacheTtlMs,
      clock: options.clock,
    });
  }

  get db() {
    return this.kdb.db;
  }

  protection(level: ProtectionLevel): ProtectionBackend {
    const p = this.#protections[level];
    if (p === undefined) {
      throw kmsError(
        "InvalidParameter",
        `ProtectionLevel ${level} is not available on this server (start it with --pkcs11-module for HSM)`,
      );
    }
    return p;
  }

  /** The backend of a stored level, if this server has it (purge destroys what it can reach). */
  protectionIfAvailable(level: string): ProtectionBackend | undefined {
    return this.#protections[level as ProtectionLevel];
  }

  async getKey(keyId: string, options: { fresh?: boolean } = {}): Promise<KeyRow> {
    if (options.fresh !== true) {
      const hit = this.#keys?.get(keyId);
      if (hit !== undefined) return hit;
    }
    const row = await this.db.selectFrom("keys").selectAll().where("key_id", "=", keyId).executeTakeFirst();
    if (row === undefined) {
      this.#keys?.delete(keyId);
      throw kmsError("Forbidden.KeyNotFound", `The specified Key is not found: ${keyId}`);
    }
    this.#keys?.set(keyId, row);
    return row;
  }

  async getVersion(keyId: string, keyVersionId: string): Promise<KeyVersionRow> {
    const hit = this.#versions.get(keyVersionId);
    if (hit !== undefined && hit.key_id === keyId) return hit;
    const row = await this.db
      .selectFrom("key_versions")
      .selectAll()
      .where("key_version_id", "=", keyVersionId)
      .executeTakeFirst();
    if (row === undefined || row.key_id !== keyId) {
      throw kmsError(
        "Forbidden.KeyVersionNotFound",
        `The specified Key version is not found: ${keyVersionId}`,
      );
    }
    this.#versions.set(keyVersionId, row);
    return row;
  }

  async tagsOf(keyId: string): Promise<KeyTag[]> {
    return this.db
      .selectFrom("tags")
      .select(["tag_key", "tag_value"])
      .where("key_id", "=", keyId)
      .orderBy("tag_key")
      .execute();
  }

  /** Records a row this instance just wrote (after its commit). */
  remember(row: KeyRow): void {
    this.#keys?.set(row.key_id, row);
  }

  /** Drops a key (and the given versions) from memory, after a purge or a change made around the cache. */
  forget(keyId: string, versionIds: readonly string[] = []): void {
    this.#keys?.delete(keyId);
    for (const v of versionIds) this.#versions.delete(v);
  }

  /**
   * Reads the key (and its tags) fresh, lets `plan` check the change and return the new column values,
   * and writes them only if nobody changed the key meanwhile (generation compare-and-set; retried).
   * A tag change bumps the generation too (key-tags.ts), so a plan that read the tags is never
   * written over a tag that arrived after it read them.
   */
  async mutateKey<P extends { readonly patch: KeyPatch }>(
    keyId: string,
    plan: (row: KeyRow, tags: readonly KeyTag[]) => P,
  ): Promise<{ row: KeyRow; plan: P }> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const row = await this.getKey(keyId, { fresh: true });
      const tags = await this.tagsOf(keyId);
      const planned = plan(row, tags);
      const { patch } = planned;
      const next: KeyRow = { ...row, ...patch, generation: row.generation + 1 };
      const res = await this.db
        .updateTable("keys")
        .set({ ...patch, generation: next.generation })
        .where("key_id", "=", keyId)
        .where("generation", "=", row.generation)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) {
        this.remember(next);
        return { row: next, plan: planned };
      }
    }
    throw concurrentChange(keyId);
  }
}

export function concurrentChange(keyId: string): AtrestError {
  return new AtrestError("conflict", `key ${keyId} is being changed concurrently; retry`, {
    details: { kmsCode: "ServiceUnavailableTemporary" },
  });
}
