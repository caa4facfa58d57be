/**
 * `atrest kms backup`: reads a KMS key store directly (the data dir's SQLite file, or `--database`
 * PostgreSQL, as `atrest kms events` does) inside one read transaction, so it sees one consistent
 * state even while a KMS serves it (SQLite's WAL and PostgreSQL's REPEATABLE READ give the reader a
 * snapshot; writers are not blocked). Software key material and access key secrets are unwrapped from
 * the root key and re-sealed under the backup key; HSM key versions are named, never exported.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { sql, type Transaction } from "kysely";
import { systemClock, type Clock } from "../common/clock.js";
import { AtrestError, wrapError } from "../common/errors.js";
import { systemRandom, type Random } from "../common/random.js";
import { openAccessKeySecret } from "../kms/access-store.js";
import { checkDatabaseKind, databaseKindOf, kmsPaths, readKmsConfig } from "../kms/kms-files.js";
import { openSoftwareKeyMaterial } from "../kms/protection/software.js";
import { loadRootKeyFile } from "../kms/root-key.js";
import { openKmsDatabase, type KmsDb } from "../kms/store/database.js";
import type { KmsDatabase } from "../kms/store/schema.js";
import { BackupFileWriter, newSalt, type BackupSummary, type HsmKeyReference } from "./backup-file.js";
import { deriveBackupKey, kdfFor, type BackupSecret } from "./backup-key.js";
import { DATA_DIR_FILES, type BackupRecord } from "./backup-records.js";

export interface KmsBackupOptions {
  readonly dataDir: string;
  /** postgres:// URL; default the data dir's SQLite file. */
  readonly database?: string;
  readonly out: string;
  readonly secret: BackupSecret;
  /** scrypt at 2^12 instead of 2^17: tests and benchmarks only. */
  readonly insecureLowKdfCost?: boolean;
  readonly clock?: Clock;
  readonly random?: Random;
}

export interface KmsBackupResult {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly backupId: string;
  readonly createdAt: string;
  readonly summary: BackupSummary;
  readonly hsm: readonly HsmKeyReference[];
  readonly auditHead: { readonly seq: number; readonly hash: string };
}

const PAGE = 5000;

/** Tolerant reader of an HSM StoredKeyRef (pkcs11.ts's format): what the header names. */
function hsmReference(keyId: string, keyVersionId: string, ref: Buffer): HsmKeyReference {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(ref.toString("utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new AtrestError("data-corrupt", `HSM key reference of ${keyId}/${keyVersionId} is not JSON`, {
      cause: err,
    });
  }
  const str = (k: string) => (typeof v[k] === "string" ? v[k] : "");
  if (str("tokenLabel") === "" || str("ckaId") === "")
    throw new AtrestError(
      "data-corrupt",
      `HSM key reference of ${keyId}/${keyVersionId} names no token object`,
    );
  return {
    keyId,
    keyVersionId,
    tokenLabel: str("tokenLabel"),
    ckaLabel: str("ckaLabel"),
    ckaId: str("ckaId"),
  };
}

async function migrationsOf(tx: Transaction<KmsDatabase>): Promise<string[]> {
  const r = await sql<{ name: string }>`select name from kms_migrations order by name`.execute(tx);
  return r.rows.map((x) => x.name);
}

async function countOf(tx: Transaction<KmsDatabase>, table: keyof KmsDatabase): Promise<number> {
  const r = await tx
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Opens the key store of a data dir for reading; refuses a dir whose database is not there. */
async function openStoreOf(dataDir: string, database: string | undefined): Promise<KmsDb> {
  const config = readKmsConfig(dataDir);
  checkDatabaseKind(dataDir, config, database);
  if (databaseKindOf(database) === "sqlite" && !existsSync(join(dataDir, "kms.db")))
    throw new AtrestError("failed-precondition", `${dataDir} has no key store (kms.db is missing)`);
  // migrate: the running server did it already; a dir last served by an older atrest is brought up to date,
  // exactly as serving it would.
  return openKmsDatabase({ dataDir, database, migrate: true });
}

export async function backupKms(options: KmsBackupOptions): Promise<KmsBackupResult> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const paths = kmsPaths(options.dataDir);
  const config = readKmsConfig(options.dataDir);
  const rootKey = loadRootKeyFile(paths.rootKey);
  const files: Array<Extract<BackupRecord, { t: "file" }>> = [];
  for (const rel of DATA_DIR_FILES) {
    const p = join(options.dataDir, rel);
    if (!existsSync(p)) continue;
    files.push({
      t: "file",
      path: rel,
      mode: statSync(p).mode & 0o777,
      content: readFileSync(p).toString("base64"),
    });
  }
  const salt = newSalt();
  const kdf = kdfFor(options.secret, { insecureLowKdfCost: options.insecureLowKdfCost === true });
  const key = await deriveBackupKey(options.secret, kdf, salt);
  const kdb = await openStoreOf(options.dataDir, options.database);
  const backupId = random.uuid();
  const createdAt = new Date(clock.now()).toISOString();
  let writer: BackupFileWriter | undefined;
  try {
    let tx = kdb.db.transaction();
    if (kdb.dialect === "postgres") tx = tx.setIsolationLevel("repeatable read").setAccessMode("read only");
    const result = await tx.execute(async (trx) => {
      // The first statement fixes the snapshot; everything below reads that one state.
      const head = (await trx
        .selectFrom("audit_head")
        .select(["seq", "hash"])
        .where("id", "=", 1)
        .executeTakeFirst()) ?? { seq: 0, hash: "0".repeat(64) };
      const schema = await migrationsOf(trx);
      const versions = await trx.selectFrom("key_versions").selectAll().orderBy("key_version_id").execute();
      const hsm = versions
        .filter((v) => v.protection_level === "HSM")
        .map((v) => hsmReference(v.key_id, v.key_version_id, Buffer.from(v.stored_ref)));
      const now = clock.now();
      const liveNonces = await trx
        .selectFrom("nonce_digests")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("expires_at", ">", now)
        .executeTakeFirstOrThrow();
      const summary: BackupSummary = {
        keys: await countOf(trx, "keys"),
        keyVersions: versions.length,
        softwareKeyVersions: versions.length - hsm.length,
        hsmKeyVersions: hsm.length,
        aliases: await countOf(trx, "aliases"),
        tags: await countOf(trx, "tags"),
        principals: await countOf(trx, "principals"),
        accessKeys: await countOf(trx, "access_keys"),
        policies: await countOf(trx, "policies"),
        attachments: await countOf(trx, "attachments"),
        nonces: Number(liveNonces.n),
        auditRecords: Number(head.seq),
        files: files.length,
      };
      writer = await BackupFileWriter.create(
        options.out,
        {
          backupId,
          createdAt,
          source: {
            accountId: config.accountId,
            region: config.region,
            database: kdb.dialect,
            schema,
          },
          kdf,
          salt: salt.toString("base64"),
          keyCheck: key.keyCheck.toString("base64"),
          summary,
          hsm,
          auditHead: { seq: Number(head.seq), hash: head.hash },
        },
        key.encryptionKey,
      );
      const w = writer;
      let records = 0;
      const put = async (r: BackupRecord) => {
        records += 1;
        await w.record(r);
      };
      for (const f of files) await put(f);
      for (const k of await trx.selectFrom("keys").selectAll().orderBy("key_id").execute())
        await put({
          t: "key",
          ...k,
          protection_level: k.protection_level as "SOFTWARE" | "HSM",
          key_state: k.key_state as "Enabled" | "Disabled" | "PendingDeletion",
          created_at: Number(k.created_at),
          generation: Number(k.generation),
        });
      for (const v of versions) {
        const id = { keyId: v.key_id, keyVersionId: v.key_version_id };
        const base = {
          t: "keyVersion" as const,
          key_version_id: v.key_version_id,
          key_id: v.key_id,
          created_at: Number(v.created_at),
        };
        if (v.protection_level === "HSM") {
          await put({ ...base, protection_level: "HSM", hsmRef: Buffer.from(v.stored_ref).toString("utf8") });
          continue;
        }
        let material: Buffer;
        try {
          material = openSoftwareKeyMaterial(rootKey, id, Buffer.from(v.stored_ref));
        } catch (err) {
          throw wrapError(
            err,
            `key material of ${v.key_id}/${v.key_version_id} does not open with ${paths.rootKey}`,
          );
        }
        await put({ ...base, protection_level: "SOFTWARE", material: material.toString("base64") });
        material.fill(0);
      }
      for (const a of await trx.selectFrom("aliases").selectAll().orderBy("alias_name").execute())
        await put({ t: "alias", ...a, created_at: Number(a.created_at) });
      for (const g of await trx.selectFrom("tags").selectAll().orderBy("key_id").orderBy("tag_key").execute())
        await put({ t: "tag", ...g });
      for (const p of await trx.selectFrom("principals").selectAll().orderBy("principal_name").execute())
        await put({ t: "principal", ...p, created_at: Number(p.created_at) });
      for (const a of await trx.selectFrom("access_keys").selectAll().orderBy("access_key_id").execute())
        await put({
          t: "accessKey",
          access_key_id: a.access_key_id,
          principal_name: a.principal_name,
          created_at: Number(a.created_at),
          secret: openAccessKeySecret(rootKey, a.access_key_id, Buffer.from(a.secret_wrapped)),
        });
      for (const p of await trx.selectFrom("policies").selectAll().orderBy("policy_name").execute())
        await put({ t: "policy", ...p, created_at: Number(p.created_at) });
      for (const a of await trx
        .selectFrom("attachments")
        .selectAll()
        .orderBy("policy_name")
        .orderBy("principal_name")
        .execute())
        await put({ t: "attachment", ...a, created_at: Number(a.created_at) });
      for (const n of await trx
        .selectFrom("nonce_digests")
        .selectAll()
        .where("expires_at", ">", now)
        .orderBy("digest")
        .execute())
        await put({
          t: "nonce",
          digest: Buffer.from(n.digest).toString("base64"),
          expires_at: Number(n.expires_at),
        });
      // The audit chain up to the head read above, page by page (it can be long).
      let auditRecords = 0;
      for (let from = 1; from <= Number(head.seq); from += PAGE) {
        const rows = await trx
          .selectFrom("audit_events")
          .selectAll()
          .where("seq", ">=", from)
          .where("seq", "<", from + PAGE)
          .where("seq", "<=", Number(head.seq))
          .orderBy("seq")
          .execute();
        for (const r of rows) {
          auditRecords += 1;
          await put({
            t: "audit",
            ...r,
            seq: Number(r.seq),
            event_time: Number(r.event_time),
            request_count: Number(r.request_count),
            forced: Number(r.forced),
          });
        }
      }
      if (auditRecords !== Number(head.seq))
        throw new AtrestError(
          "data-corrupt",
          `the audit chain is broken (${auditRecords} records, the head says ${Number(head.seq)}); run atrest kms verify-audit`,
        );
      await w.record({ t: "end", records });
      return { summary, hsm, head };
    });
    const done = await writer!.finish();
    return {
      ...done,
      backupId,
      createdAt,
      summary: result.summary,
      hsm: result.hsm,
      auditHead: { seq: Number(result.head.seq), hash: result.head.hash },
    };
  } catch (err) {
    await writer?.abort();
    throw err;
  } finally {
    key.encryptionKey.fill(0);
    await kdb.close();
  }
}
