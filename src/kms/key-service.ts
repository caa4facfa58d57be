import type { Selectable } from "kysely";
import { systemClock, type Clock } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import { systemRandom, type Random } from "../common/random.js";
import { BLOB_IV_BYTES, decodeBlob, encodeBlob, encodeBlobHeader } from "./ciphertext-blob.js";
import { canonicalEncryptionContext, type EncryptionContext } from "./encryption-context.js";
import { kmsError } from "./kms-error.js";
import type { ProtectionBackend, ProtectionLevel } from "./protection/protection.js";
import type { KmsDb } from "./store/database.js";
import type { KeysTable, KeyVersionsTable } from "./store/schema.js";

export type KeyRow = Selectable<KeysTable>;
export type KeyVersionRow = Selectable<KeyVersionsTable>;
export type KeyState = "Enabled" | "Disabled" | "PendingDeletion";

/** Plaintext limit of Encrypt (bytes of the Plaintext parameter), as Alibaba KMS. */
export const MAX_PLAINTEXT_BYTES = 6144;
export const DAY_MS = 86_400_000;

export interface KeyServiceOptions {
  kdb: KmsDb;
  protections: Partial<Record<ProtectionLevel, ProtectionBackend>>;
  clock?: Clock;
  random?: Random;
  /** How long a key's row may be served from memory; another instance's change is seen after this. */
  keyCacheTtlMs?: number;
}

export interface CreateKeyInput {
  description: string;
  protectionLevel: ProtectionLevel;
  keySpec: string;
  keyUsage: string;
  origin: string;
  rotationIntervalS: number | undefined;
  automaticRotation: boolean;
  creator: string;
}

export interface KeyListFilters {
  KeyState?: readonly string[];
  KeySpec?: readonly string[];
  ProtectionLevel?: readonly string[];
}

export interface EncryptResult {
  ciphertextBlob: string;
  keyId: string;
  keyVersionId: string;
}

/**
 * Keys, versions, state rules, aliases and tags on the key store. Every mutation re-reads the row and
 * writes it with a compare-and-set on `generation`, so two KMS instances on one database never apply
 * a change twice (e.g. a scheduled rotation) and never lose one.
 */
export class KeyService {
  readonly #kdb: KmsDb;
  readonly #protections: Partial<Record<ProtectionLevel, ProtectionBackend>>;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #ttlMs: number;
  readonly #keyCache = new Map<string, { row: KeyRow; at: number }>();
  /** Versions are immutable until purged, so they are cached without expiry. */
  readonly #versionCache = new Map<string, KeyVersionRow>();

  constructor(options: KeyServiceOptions) {
    this.#kdb = options.kdb;
    this.#protections = options.protections;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#ttlMs = options.keyCacheTtlMs ?? 1000;
  }

  get #db() {
    return this.#kdb.db;
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

  // ---- reads ----

  /** Resolves a KeyId parameter: a key id, `alias/<name>`, or an ARN `acs:kms:<r>:<a>:key/<id>` / `:alias/<name>`. */
  async resolveKeyId(value: string): Promise<string> {
    let v = value;
    const arn = /^acs:kms:[^:]*:[^:]*:(key\/.+|alias\/.+)$/.exec(v);
    if (arn !== null) v = arn[1]!.startsWith("key/") ? arn[1]!.slice(4) : arn[1]!;
    if (v.startsWith("alias/")) {
      const row = await this.#db
        .selectFrom("aliases")
        .select("key_id")
        .where("alias_name", "=", v)
        .executeTakeFirst();
      if (row === undefined)
        throw kmsError("Forbidden.AliasNotFound", `The specified Alias is not found: ${v}`);
      return row.key_id;
    }
    return v;
  }

  async getKey(keyId: string, options: { fresh?: boolean } = {}): Promise<KeyRow> {
    const now = this.#clock.now();
    const hit = this.#keyCache.get(keyId);
    if (options.fresh !== true && hit !== undefined && now - hit.at < this.#ttlMs && now >= hit.at)
      return hit.row;
    const row = await this.#db.selectFrom("keys").selectAll().where("key_id", "=", keyId).executeTakeFirst();
    if (row === undefined) {
      this.#keyCache.delete(keyId);
      throw kmsError("Forbidden.KeyNotFound", `The specified Key is not found: ${keyId}`);
    }
    this.#keyCache.set(keyId, { row, at: now });
    return row;
  }

  async getVersion(keyId: string, keyVersionId: string): Promise<KeyVersionRow> {
    const hit = this.#versionCache.get(keyVersionId);
    if (hit !== undefined && hit.key_id === keyId) return hit;
    const row = await this.#db
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
    if (this.#versionCache.size > 50_000) this.#versionCache.clear();
    this.#versionCache.set(keyVersionId, row);
    return row;
  }

  /** Lists keys, optionally only those whose KeyState / KeySpec / ProtectionLevel are among the given values. */
  async listKeys(
    page: { pageNumber: number; pageSize: number },
    filters: KeyListFilters = {},
  ): Promise<{ rows: KeyRow[]; total: number }> {
    let count = this.#db.selectFrom("keys").select((eb) => eb.fn.countAll<number>().as("n"));
    let q = this.#db.selectFrom("keys").selectAll();
    const columns = {
      KeyState: "key_state",
      KeySpec: "key_spec",
      ProtectionLevel: "protection_level",
    } as const;
    for (const [name, column] of Object.entries(columns) as Array<
      [keyof KeyListFilters, (typeof columns)[keyof typeof columns]]
    >) {
      const values = filters[name];
      if (values === undefined) continue;
      count = count.where(column, "in", values);
      q = q.where(column, "in", values);
    }
    const total = await count.executeTakeFirstOrThrow();
    const rows = await q
      .orderBy("created_at")
      .orderBy("key_id")
      .limit(page.pageSize)
      .offset((page.pageNumber - 1) * page.pageSize)
      .execute();
    return { rows, total: Number(total.n) };
  }

  async listVersions(
    keyId: string,
    page: { pageNumber: number; pageSize: number },
  ): Promise<{ rows: KeyVersionRow[]; total: number }> {
    await this.getKey(keyId);
    const total = await this.#db
      .selectFrom("key_versions")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("key_id", "=", keyId)
      .executeTakeFirstOrThrow();
    const rows = await this.#db
      .selectFrom("key_versions")
      .selectAll()
      .where("key_id", "=", keyId)
      .orderBy("created_at")
      .orderBy("key_version_id")
      .limit(page.pageSize)
      .offset((page.pageNumber - 1) * page.pageSize)
      .execute();
    return { rows, total: Number(total.n) };
  }

  // ---- key lifecycle ----

  async createKey(input: CreateKeyInput): Promise<KeyRow> {
    const protection = this.protection(input.protectionLevel);
    const now = this.#clock.now();
    const keyId = this.#random.uuid();
    const versionId = this.#random.uuid();
    const ref = await protection.generate({ keyId, keyVersionId: versionId });
    const row: KeyRow = {
      key_id: keyId,
      description: input.description,
      key_spec: input.keySpec,
      key_usage: input.keyUsage,
      origin: input.origin,
      protection_level: input.protectionLevel,
      key_state: "Enabled",
      creator: input.creator,
      created_at: now,
      primary_version_id: versionId,
      last_rotation_at: now,
      automatic_rotation: input.automaticRotation ? "Enabled" : "Disabled",
      rotation_interval_s: input.rotationIntervalS ?? null,
      next_rotation_at:
        input.automaticRotation && input.rotationIntervalS !== undefined
          ? now + input.rotationIntervalS * 1000
          : null,
      delete_at: null,
      deletion_protection: 0,
      deletion_protection_description: "",
      generation: 1,
    };
    try {
      await this.#db.transaction().execute(async (tx) => {
        await tx.insertInto("keys").values(row).execute();
        await tx
          .insertInto("key_versions")
          .values({
            key_version_id: versionId,
            key_id: keyId,
            created_at: now,
            protection_level: input.protectionLevel,
            stored_ref: ref,
          })
          .execute();
      });
    } catch (err) {
      await protection.destroy({ keyId, keyVersionId: versionId }, ref).catch(() => undefined);
      throw err;
    }
    // Key material must not be lost once a ciphertext can depend on it: durable before it is used.
    await this.#kdb.sync();
    return row;
  }

  /**
   * Reads the key fresh, lets `change` validate the state and return the new column values, and
   * writes them only if nobody changed the key meanwhile (generation compare-and-set; retried).
   */
  async mutateKey(keyId: string, change: (row: KeyRow) => Partial<KeyRow>): Promise<KeyRow> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.getKey(keyId, { fresh: true });
      const patch = change(row);
      const next = { ...row, ...patch, generation: row.generation + 1 };
      const res = await this.#db
        .updateTable("keys")
        .set({ ...patch, generation: next.generation })
        .where("key_id", "=", keyId)
        .where("generation", "=", row.generation)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) {
        this.#keyCache.set(keyId, { row: next, at: this.#clock.now() });
        return next;
      }
    }
    throw new AtrestError("conflict", `key ${keyId} is being changed concurrently; retry`, {
      details: { kmsCode: "ServiceUnavailableTemporary" },
    });
  }

  updateDescription(keyId: string, description: string): Promise<KeyRow> {
    return this.mutateKey(keyId, () => ({ description }));
  }

  enableKey(keyId: string): Promise<KeyRow> {
    return this.mutateKey(keyId, (row) => {
      if (row.key_state === "PendingDeletion") throw pendingDeletion(keyId);
      return { key_state: "Enabled" };
    });
  }

  disableKey(keyId: string): Promise<KeyRow> {
    return this.mutateKey(keyId, (row) => {
      if (row.key_state === "PendingDeletion") throw pendingDeletion(keyId);
      return { key_state: "Disabled" };
    });
  }

  scheduleKeyDeletion(keyId: string, pendingWindowInDays: number): Promise<KeyRow> {
    const now = this.#clock.now();
    return this.mutateKey(keyId, (row) => {
      if (row.deletion_protection === 1) {
        throw kmsError(
          "Forbidden.ResourceProtected",
          `The key ${keyId} has deletion protection enabled; disable it with SetDeletionProtection first`,
        );
      }
      if (row.key_state === "PendingDeletion") throw pendingDeletion(keyId);
      return { key_state: "PendingDeletion", delete_at: now + pendingWindowInDays * DAY_MS };
    });
  }

  cancelKeyDeletion(keyId: string): Promise<KeyRow> {
    return this.mutateKey(keyId, (row) => {
      if (row.key_state !== "PendingDeletion")
        throw kmsError("Rejected.NotPendingDeletion", `The key ${keyId} is not pending deletion`);
      return { key_state: "Enabled", delete_at: null };
    });
  }

  setDeletionProtection(keyId: string, enabled: boolean, description: string): Promise<KeyRow> {
    return this.mutateKey(keyId, () => ({
      deletion_protection: enabled ? 1 : 0,
      deletion_protection_description: enabled ? description : "",
    }));
  }

  updateRotationPolicy(keyId: string, enabled: boolean, intervalS: number | undefined): Promise<KeyRow> {
    return this.mutateKey(keyId, (row) => {
      const interval = intervalS ?? row.rotation_interval_s ?? undefined;
      if (enabled && interval === undefined) {
        throw kmsError(
          "MissingParameter",
          'The input parameter "RotationInterval" that is mandatory when EnableAutomaticRotation is true is not supplied.',
        );
      }
      const base = row.last_rotation_at ?? row.created_at;
      return {
        automatic_rotation: enabled ? "Enabled" : "Disabled",
        rotation_interval_s: interval ?? null,
        next_rotation_at: enabled && interval !== undefined ? base + interval * 1000 : null,
      };
    });
  }

  /**
   * Makes a new primary version. `onlyIfDue` (the scheduler) rotates only while the key is still due,
   * so concurrent schedulers rotate a key once.
   */
  async createKeyVersion(
    keyId: string,
    options: { onlyIfDue?: number } = {},
  ): Promise<{ key: KeyRow; version: KeyVersionRow } | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.getKey(keyId, { fresh: true });
      if (options.onlyIfDue !== undefined) {
        if (
          row.key_state !== "Enabled" ||
          row.automatic_rotation !== "Enabled" ||
          row.next_rotation_at === null ||
          row.next_rotation_at > options.onlyIfDue
        ) {
          return undefined;
        }
      } else {
        assertUsable(row);
      }
      const protection = this.protection(row.protection_level as ProtectionLevel);
      const now = this.#clock.now();
      const versionId = this.#random.uuid();
      const ref = await protection.generate({ keyId, keyVersionId: versionId });
      const version: KeyVersionRow = {
        key_version_id: versionId,
        key_id: keyId,
        created_at: now,
        protection_level: row.protection_level,
        stored_ref: ref,
      };
      const patch = {
        primary_version_id: versionId,
        last_rotation_at: now,
        next_rotation_at:
          row.automatic_rotation === "Enabled" && row.rotation_interval_s !== null
            ? now + row.rotation_interval_s * 1000
            : row.next_rotation_at,
        generation: row.generation + 1,
      };
      const won = await this.#db.transaction().execute(async (tx) => {
        const res = await tx
          .updateTable("keys")
          .set(patch)
          .where("key_id", "=", keyId)
          .where("generation", "=", row.generation)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) return false;
        await tx.insertInto("key_versions").values(version).execute();
        return true;
      });
      if (won) {
        // Durable before the new primary version can encrypt anything (also for scheduled rotations).
        await this.#kdb.sync();
        const key = { ...row, ...patch };
        this.#keyCache.set(keyId, { row: key, at: now });
        return { key, version };
      }
      await protection.destroy({ keyId, keyVersionId: versionId }, ref).catch(() => undefined);
    }
    throw new AtrestError("conflict", `key ${keyId} is being changed concurrently; retry`, {
      details: { kmsCode: "ServiceUnavailableTemporary" },
    });
  }

  // ---- cryptography ----

  async encrypt(keyId: string, plaintext: Buffer, ctx: EncryptionContext): Promise<EncryptResult> {
    if (plaintext.length > MAX_PLAINTEXT_BYTES) {
      throw kmsError("InvalidParameter", `Plaintext: must be at most ${MAX_PLAINTEXT_BYTES} bytes`);
    }
    const key = await this.getKey(keyId);
    assertUsable(key);
    const version = await this.getVersion(keyId, key.primary_version_id);
    const iv = this.#random.bytes(BLOB_IV_BYTES);
    const header = encodeBlobHeader(keyId, version.key_version_id, iv);
    const aad = Buffer.concat([header, canonicalEncryptionContext(ctx)]);
    const protection = this.protection(version.protection_level as ProtectionLevel);
    const sealed = await protection.encrypt(
      { keyId, keyVersionId: version.key_version_id },
      version.stored_ref,
      iv,
      plaintext,
      aad,
    );
    return {
      ciphertextBlob: encodeBlob(header, sealed.ciphertext, sealed.tag),
      keyId,
      keyVersionId: version.key_version_id,
    };
  }

  /** Parses the blob (no key needed): the key id inside is the resource that the policy check uses. */
  peekBlobKeyId(blob: string): { keyId: string; keyVersionId: string } {
    const parsed = decodeBlob(blob);
    return { keyId: parsed.keyId, keyVersionId: parsed.keyVersionId };
  }

  async decrypt(
    blob: string,
    ctx: EncryptionContext,
  ): Promise<{ plaintext: Buffer; keyId: string; keyVersionId: string }> {
    const parsed = decodeBlob(blob);
    const key = await this.getKey(parsed.keyId);
    assertUsable(key);
    const version = await this.getVersion(parsed.keyId, parsed.keyVersionId);
    const aad = Buffer.concat([parsed.header, canonicalEncryptionContext(ctx)]);
    const protection = this.protection(version.protection_level as ProtectionLevel);
    try {
      const plaintext = await protection.decrypt(
        { keyId: parsed.keyId, keyVersionId: parsed.keyVersionId },
        version.stored_ref,
        parsed.iv,
        { ciphertext: parsed.ciphertext, tag: parsed.tag },
        aad,
      );
      return { plaintext, keyId: parsed.keyId, keyVersionId: parsed.keyVersionId };
    } catch (err) {
      if (err instanceof AtrestError && err.code === "data-corrupt") {
        throw kmsError(
          "InvalidCiphertext",
          "CiphertextBlob: failed authentication (tampered, or a different EncryptionContext)",
          { cause: err },
        );
      }
      throw err;
    }
  }

  // ---- aliases ----

  async createAlias(aliasName: string, keyId: string): Promise<void> {
    await this.getKey(keyId);
    const res = await this.#db
      .insertInto("aliases")
      .values({ alias_name: aliasName, key_id: keyId, created_at: this.#clock.now() })
      .onConflict((oc) => oc.column("alias_name").doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) !== 1)
      throw kmsError("Rejected.ResourceExist", `The alias ${aliasName} already exists`);
  }

  async updateAlias(aliasName: string, keyId: string): Promise<void> {
    await this.getKey(keyId);
    const res = await this.#db
      .updateTable("aliases")
      .set({ key_id: keyId })
      .where("alias_name", "=", aliasName)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1)
      throw kmsError("Forbidden.AliasNotFound", `The specified Alias is not found: ${aliasName}`);
  }

  async deleteAlias(aliasName: string): Promise<void> {
    const res = await this.#db.deleteFrom("aliases").where("alias_name", "=", aliasName).executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1)
      throw kmsError("Forbidden.AliasNotFound", `The specified Alias is not found: ${aliasName}`);
  }

  async listAliases(
    page: { pageNumber: number; pageSize: number },
    keyId?: string,
  ): Promise<{ rows: Array<{ alias_name: string; key_id: string }>; total: number }> {
    if (keyId !== undefined) await this.getKey(keyId);
    let count = this.#db.selectFrom("aliases").select((eb) => eb.fn.countAll<number>().as("n"));
    let q = this.#db.selectFrom("aliases").select(["alias_name", "key_id"]);
    if (keyId !== undefined) {
      count = count.where("key_id", "=", keyId);
      q = q.where("key_id", "=", keyId);
    }
    const total = await count.executeTakeFirstOrThrow();
    const rows = await q
      .orderBy("alias_name")
      .limit(page.pageSize)
      .offset((page.pageNumber - 1) * page.pageSize)
      .execute();
    return { rows, total: Number(total.n) };
  }

  // ---- tags ----

  async tagResource(keyId: string, tags: Array<{ TagKey: string; TagValue: string }>): Promise<void> {
    await this.getKey(keyId);
    await this.#db.transaction().execute(async (tx) => {
      for (const t of tags) {
        await tx
          .insertInto("tags")
          .values({ key_id: keyId, tag_key: t.TagKey, tag_value: t.TagValue })
          .onConflict((oc) => oc.columns(["key_id", "tag_key"]).doUpdateSet({ tag_value: t.TagValue }))
          .execute();
      }
      const n = await tx
        .selectFrom("tags")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("key_id", "=", keyId)
        .executeTakeFirstOrThrow();
      if (Number(n.n) > 20) throw kmsError("InvalidParameter", "Tags: a key holds at most 20 tags");
    });
  }

  async untagResource(keyId: string, tagKeys: string[]): Promise<void> {
    await this.getKey(keyId);
    await this.#db.deleteFrom("tags").where("key_id", "=", keyId).where("tag_key", "in", tagKeys).execute();
  }

  async listTags(keyId: string): Promise<Array<{ tag_key: string; tag_value: string }>> {
    await this.getKey(keyId);
    return this.#db
      .selectFrom("tags")
      .select(["tag_key", "tag_value"])
      .where("key_id", "=", keyId)
      .orderBy("tag_key")
      .execute();
  }

  // ---- scheduled work (called by the scheduler) ----

  /** Rotates every key whose automatic rotation is due at `now`. Returns the rotated key ids. */
  async rotateDueKeys(now: number): Promise<string[]> {
    const due = await this.#db
      .selectFrom("keys")
      .select("key_id")
      .where("automatic_rotation", "=", "Enabled")
      .where("key_state", "=", "Enabled")
      .where("next_rotation_at", "<=", now)
      .execute();
    const rotated: string[] = [];
    for (const { key_id } of due) {
      const r = await this.createKeyVersion(key_id, { onlyIfDue: now });
      if (r !== undefined) rotated.push(key_id);
    }
    return rotated;
  }

  /** Purges keys whose deletion window has passed: rows removed, then material destroyed. */
  async purgeDueKeys(now: number): Promise<string[]> {
    const due = await this.#db
      .selectFrom("keys")
      .select(["key_id", "generation"])
      .where("key_state", "=", "PendingDeletion")
      .where("delete_at", "<=", now)
      .execute();
    const purged: string[] = [];
    for (const { key_id, generation } of due) {
      const versions = await this.#db
        .selectFrom("key_versions")
        .selectAll()
        .where("key_id", "=", key_id)
        .execute();
      const won = await this.#db.transaction().execute(async (tx) => {
        const res = await tx
          .deleteFrom("keys")
          .where("key_id", "=", key_id)
          .where("generation", "=", generation)
          .where("key_state", "=", "PendingDeletion")
          .executeTakeFirst();
        if (Number(res.numDeletedRows) !== 1) return false;
        await tx.deleteFrom("key_versions").where("key_id", "=", key_id).execute();
        await tx.deleteFrom("aliases").where("key_id", "=", key_id).execute();
        await tx.deleteFrom("tags").where("key_id", "=", key_id).execute();
        return true;
      });
      if (!won) continue;
      this.#keyCache.delete(key_id);
      for (const v of versions) {
        this.#versionCache.delete(v.key_version_id);
        const p = this.#protections[v.protection_level as ProtectionLevel];
        await p?.destroy({ keyId: key_id, keyVersionId: v.key_version_id }, v.stored_ref);
      }
      purged.push(key_id);
    }
    return purged;
  }
}

function pendingDeletion(keyId: string): AtrestError {
  return kmsError(
    "Rejected.PendingDeletion",
    `The key ${keyId} is pending deletion; cancel the deletion first`,
  );
}

/** Only Enabled keys do cryptography or get new versions. */
export function assertUsable(row: KeyRow): void {
  if (row.key_state === "Disabled")
    throw kmsError("Rejected.Disabled", `The key ${row.key_id} is disabled; enable it with EnableKey`);
  if (row.key_state === "PendingDeletion") throw pendingDeletion(row.key_id);
}
