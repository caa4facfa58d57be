/**
 * `atrest kms restore`: a backup becomes a KMS data dir again (SQLite in the dir, or an empty
 * PostgreSQL database), with a new root key. Nothing is written until the whole file has been
 * checked: checksum, passphrase, every frame's tag, every record, the audit chain's hashes and — for
 * HSM key versions — that the token given holds each key (one encryption with it). Then:
 *
 * - the new data dir is built in a sibling temp dir and renamed into place at the end, so a crash
 *   half-way leaves no half dir under the name (an existing dir is only replaced with `--replace`, and
 *   is then kept beside it as `<dir>.before-restore-<time>`, never deleted);
 * - the key store is filled in one transaction (all or nothing), software key material and access key
 *   secrets sealed by the new root key, HSM references as they were;
 * - the audit chain is restored record by record and continues with a `RestoreFromBackup` record
 *   linked to the backup's head, so `atrest kms verify-audit` checks across the restore.
 *
 * A dir or database in use by a running KMS is refused (data-dir-lock.ts).
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Transaction } from "kysely";
import { systemClock, type Clock } from "../common/clock.js";
import { AtrestError, wrapError } from "../common/errors.js";
import { systemRandom, type Random } from "../common/random.js";
import { sealAccessKeySecret } from "../kms/access-store.js";
import { auditHash, extendAuditChain, GENESIS_HASH } from "../kms/audit-log.js";
import { dataDirServers, holdDataDirForRestore } from "../kms/data-dir-lock.js";
import { databaseKindOf, kmsPaths } from "../kms/kms-files.js";
import type { ProtectionBackend } from "../kms/protection/protection.js";
import { sealSoftwareKeyMaterial } from "../kms/protection/software.js";
import { createRootKeyFile, ROOT_KEY_BYTES, RootKey } from "../kms/root-key.js";
import { kmsMigrations, openKmsDatabase, type KmsDb } from "../kms/store/database.js";
import type { KmsDatabase } from "../kms/store/schema.js";
import type { BackupHeader, OpenedBackup } from "./backup-file.js";
import type { BackupSecret } from "./backup-key.js";
import { backupRecords, unlockBackup } from "./backup-reader.js";
import type { FileRecord } from "./backup-records.js";

export const RESTORE_AUDIT_ACTION = "RestoreFromBackup";
const BATCH = 500;
/** Files that hold secrets are written owner-only whatever mode the backup recorded. */
const SECRET_FILES = new Set(["credentials.json", "tls/tls.key", "kms.json"]);

export interface KmsRestoreOptions {
  readonly from: string;
  readonly dataDir: string;
  /** An empty PostgreSQL database (postgres:// URL); default SQLite in the data dir. */
  readonly database?: string;
  readonly secret: BackupSecret;
  /** Replace an existing data dir (it is kept as `<dir>.before-restore-<time>`). */
  readonly replace?: boolean;
  /** Check everything, write nothing. */
  readonly dryRun?: boolean;
  /** The token holding the backup's HSM key versions (required when it has any). */
  readonly hsm?: ProtectionBackend;
  readonly clock?: Clock;
  readonly random?: Random;
}

export interface KmsRestoreResult {
  readonly dataDir: string;
  readonly database: "sqlite" | "postgres";
  readonly backupId: string;
  readonly backupCreatedAt: string;
  readonly summary: BackupHeader["summary"];
  readonly dryRun: boolean;
  /** Where the replaced data dir went (with --replace). */
  readonly previousDataDir?: string;
  /** The audit chain's head after the restore record (absent on a dry run). */
  readonly auditHead?: { readonly seq: number; readonly hash: string };
}

interface CheckResult {
  readonly counts: Record<string, number>;
}

/**
 * Pass one: reads the whole payload and checks it hangs together — counts against the header, keys
 * for every version/alias/tag, principals for every key and attachment, the audit chain hash by hash.
 * Secrets seen on the way are not kept.
 */
async function checkBackup(
  opened: OpenedBackup,
  encryptionKey: Buffer,
  hsm: ProtectionBackend | undefined,
): Promise<CheckResult> {
  const h = opened.header;
  const counts: Record<string, number> = {};
  const keys = new Map<string, string>(); // key id → primary version
  const versions = new Set<string>();
  const principals = new Set<string>();
  const later: Array<() => void> = [];
  let prev = GENESIS_HASH;
  let seq = 0;
  let ended: number | undefined;
  let total = 0;
  const bad = (why: string) => new AtrestError("data-corrupt", `${opened.path}: ${why}`);
  for await (const r of backupRecords(opened, encryptionKey)) {
    if (ended !== undefined) throw bad("records follow the end record");
    counts[r.t] = (counts[r.t] ?? 0) + 1;
    switch (r.t) {
      case "key":
        keys.set(r.key_id, r.primary_version_id);
        break;
      case "keyVersion":
        versions.add(`${r.key_id}/${r.key_version_id}`);
        later.push(() => {
          if (!keys.has(r.key_id))
            throw bad(`key version ${r.key_version_id} belongs to a key that is not in it`);
        });
        if (r.protection_level === "HSM") await checkHsmKey(r.key_id, r.key_version_id, r.hsmRef!, hsm, h);
        break;
      case "alias":
      case "tag":
        later.push(() => {
          if (!keys.has(r.key_id)) throw bad(`an ${r.t} names key ${r.key_id}, which is not in it`);
        });
        break;
      case "principal":
        principals.add(r.principal_name);
        break;
      case "accessKey":
      case "attachment":
        later.push(() => {
          if (!principals.has(r.principal_name))
            throw bad(`an ${r.t} names principal ${r.principal_name}, which is not in it`);
        });
        break;
      case "audit": {
        seq += 1;
        if (r.seq !== seq) throw bad(`audit record ${seq} is missing`);
        if (r.prev_hash !== prev) throw bad(`audit record ${seq} does not link to the one before it`);
        const { t: _t, hash, ...row } = r;
        if (auditHash(row) !== hash) throw bad(`audit record ${seq} does not match its hash`);
        prev = hash;
        break;
      }
      case "end":
        ended = r.records;
        break;
      default:
        break;
    }
    if (r.t !== "end") total += 1;
  }
  if (ended === undefined) throw bad("the end record is missing");
  if (ended !== total) throw bad(`the end record counts ${ended} records, the payload holds ${total}`);
  for (const check of later) check();
  for (const [keyId, primary] of keys)
    if (!versions.has(`${keyId}/${primary}`))
      throw bad(`key ${keyId}'s primary version ${primary} is not in it`);
  const expect: Array<[string, number]> = [
    ["key", h.summary.keys],
    ["keyVersion", h.summary.keyVersions],
    ["alias", h.summary.aliases],
    ["tag", h.summary.tags],
    ["principal", h.summary.principals],
    ["accessKey", h.summary.accessKeys],
    ["policy", h.summary.policies],
    ["attachment", h.summary.attachments],
    ["nonce", h.summary.nonces],
    ["audit", h.summary.auditRecords],
    ["file", h.summary.files],
  ];
  for (const [t, n] of expect)
    if ((counts[t] ?? 0) !== n) throw bad(`it holds ${counts[t] ?? 0} ${t} records, its header says ${n}`);
  if (seq !== h.auditHead.seq || (seq > 0 && prev !== h.auditHead.hash))
    throw bad("its audit chain does not end at the head its header names");
  return { counts };
}

/** An HSM key version restores only onto a token that holds its key: one encryption proves it. */
async function checkHsmKey(
  keyId: string,
  keyVersionId: string,
  hsmRef: string,
  hsm: ProtectionBackend | undefined,
  header: BackupHeader,
): Promise<void> {
  const named = header.hsm.find((x) => x.keyId === keyId && x.keyVersionId === keyVersionId);
  const where = named === undefined ? "" : ` (token "${named.tokenLabel}", object ${named.ckaLabel})`;
  if (hsm === undefined)
    throw new AtrestError(
      "failed-precondition",
      `the backup has HSM key versions${where}; give --pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file of the token that holds them`,
    );
  try {
    await hsm.encrypt(
      { keyId, keyVersionId },
      Buffer.from(hsmRef, "utf8"),
      randomBytes(12),
      randomBytes(16),
      Buffer.alloc(0),
    );
  } catch (err) {
    throw new AtrestError(
      "failed-precondition",
      `the token given does not hold HSM key ${keyId}/${keyVersionId}${where}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** A data dir counts as empty when it holds nothing but lock bookkeeping. */
function isEmptyDir(dir: string): boolean {
  if (!existsSync(dir)) return true;
  return readdirSync(dir).every(
    (n) => n === "restoring.json" || (n === "in-use" && readdirSync(join(dir, n)).length === 0),
  );
}

async function assertEmptyStore(kdb: KmsDb, database: string): Promise<void> {
  const tables = ["keys", "key_versions", "principals", "access_keys", "policies", "audit_events"] as const;
  for (const t of tables) {
    const r = await kdb.db
      .selectFrom(t)
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    if (Number(r.n) > 0)
      throw new AtrestError(
        "already-exists",
        `the database ${redactUrl(database)} already holds a key store (table ${t} has ${Number(r.n)} rows); restore into an empty database (CREATE DATABASE …) and keep the old one until the restore is verified`,
      );
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(the --database URL)";
  }
}

function stamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

async function insertBatches<T extends keyof KmsDatabase>(
  tx: Transaction<KmsDatabase>,
  table: T,
  rows: Array<Record<string, unknown>>,
): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH)
    await tx
      .insertInto(table)
      .values(rows.slice(i, i + BATCH) as never)
      .execute();
}

/** Pass two: fills the (empty) key store from the backup in the caller's transaction. */
async function fillStore(
  tx: Transaction<KmsDatabase>,
  dialect: KmsDb["dialect"],
  opened: OpenedBackup,
  encryptionKey: Buffer,
  rootKey: RootKey,
  restoreRecord: Parameters<typeof extendAuditChain>[2][number],
): Promise<FileRecord[]> {
  const files: FileRecord[] = [];
  const pending = new Map<keyof KmsDatabase, Array<Record<string, unknown>>>();
  const add = async (table: keyof KmsDatabase, row: Record<string, unknown>) => {
    let list = pending.get(table);
    if (list === undefined) pending.set(table, (list = []));
    list.push(row);
    if (list.length >= BATCH) {
      await insertBatches(tx, table, list);
      pending.set(table, []);
    }
  };
  for await (const r of backupRecords(opened, encryptionKey)) {
    switch (r.t) {
      case "file":
        files.push(r);
        break;
      case "key": {
        const { t: _t, ...row } = r;
        await add("keys", row);
        break;
      }
      case "keyVersion": {
        const id = { keyId: r.key_id, keyVersionId: r.key_version_id };
        let stored: Buffer;
        if (r.protection_level === "SOFTWARE") {
          const material = Buffer.from(r.material!, "base64");
          stored = sealSoftwareKeyMaterial(rootKey, id, material);
          material.fill(0);
        } else stored = Buffer.from(r.hsmRef!, "utf8");
        await add("key_versions", {
          key_version_id: r.key_version_id,
          key_id: r.key_id,
          created_at: r.created_at,
          protection_level: r.protection_level,
          stored_ref: stored,
        });
        break;
      }
      case "alias":
      case "tag":
      case "principal":
      case "policy":
      case "attachment": {
        const { t, ...row } = r;
        const table = (
          {
            alias: "aliases",
            tag: "tags",
            principal: "principals",
            policy: "policies",
            attachment: "attachments",
          } as const
        )[t];
        await add(table, row);
        break;
      }
      case "accessKey":
        await add("access_keys", {
          access_key_id: r.access_key_id,
          principal_name: r.principal_name,
          created_at: r.created_at,
          secret_wrapped: sealAccessKeySecret(rootKey, r.access_key_id, r.secret),
        });
        break;
      case "nonce":
        await add("nonce_digests", { digest: Buffer.from(r.digest, "base64"), expires_at: r.expires_at });
        break;
      case "audit": {
        const { t: _t, ...row } = r;
        await add("audit_events", row);
        break;
      }
      case "end":
        break;
    }
  }
  for (const [table, rows] of pending) await insertBatches(tx, table, rows);
  const head = opened.header.auditHead;
  await tx.deleteFrom("audit_head").execute();
  await tx
    .insertInto("audit_head")
    .values({ id: 1, seq: head.seq, hash: head.seq === 0 ? GENESIS_HASH : head.hash })
    .execute();
  await extendAuditChain(tx, dialect, [restoreRecord]);
  return files;
}

function writeDataDirFiles(
  dir: string,
  files: readonly FileRecord[],
  header: BackupHeader,
  kind: "sqlite" | "postgres",
): void {
  mkdirSync(join(dir, "tls"), { recursive: true, mode: 0o700 });
  for (const f of files) {
    if (f.path === "kms.json") continue; // written below for the target's database kind
    const p = join(dir, f.path);
    const mode = SECRET_FILES.has(f.path) ? 0o600 : f.mode & 0o644;
    writeFileSync(p, Buffer.from(f.content, "base64"), { mode, flag: "wx" });
    chmodSync(p, mode);
  }
  const original = files.find((f) => f.path === "kms.json");
  let config: Record<string, unknown> = { accountId: header.source.accountId, region: header.source.region };
  if (original !== undefined) {
    try {
      config = JSON.parse(Buffer.from(original.content, "base64").toString("utf8")) as Record<
        string,
        unknown
      >;
    } catch {
      // the header's copy of accountId and region stands in
    }
  }
  writeFileSync(kmsPaths(dir).config, JSON.stringify({ ...config, database: kind }, null, 2) + "\n", {
    mode: 0o600,
    flag: "wx",
  });
}

export async function restoreKms(options: KmsRestoreOptions): Promise<KmsRestoreResult> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  if (options.database !== undefined && options.database.startsWith("sqlite:"))
    throw new AtrestError(
      "invalid-argument",
      "--database: a SQLite key store is restored into the data dir; give a postgres:// URL or none",
    );
  const kind = databaseKindOf(options.database);
  const { opened, encryptionKey } = await unlockBackup(options.from, options.secret);
  const header = opened.header;
  try {
    const known = new Set(Object.keys(kmsMigrations(kind)));
    const unknown = header.source.schema.filter((m) => !known.has(m));
    if (unknown.length > 0)
      throw new AtrestError(
        "failed-precondition",
        `the backup comes from a newer key store schema (${unknown.join(", ")}); restore it with the atrest that made it`,
      );
    await checkBackup(opened, encryptionKey, options.hsm);
    const base = {
      dataDir: options.dataDir,
      database: kind,
      backupId: header.backupId,
      backupCreatedAt: header.createdAt,
      summary: header.summary,
    } as const;
    // Read-only first: a dir a running KMS serves is refused before anything else is said about it.
    const servers = dataDirServers(options.dataDir);
    if (servers.length > 0)
      throw new AtrestError(
        "failed-precondition",
        `${options.dataDir} is in use by a running KMS server (pid ${servers[0]!.pid} on ${servers[0]!.host}); stop it first`,
      );
    const dirTaken = !isEmptyDir(options.dataDir);
    if (dirTaken && options.replace !== true)
      throw new AtrestError(
        "already-exists",
        `${options.dataDir} already holds a KMS data dir; restore into a new dir, or pass --replace to put the restored one in its place (the old one is kept beside it)`,
      );
    if (options.dryRun === true) return { ...base, dryRun: true };

    const hold = await holdDataDirForRestore(options.dataDir, options.database);
    const temp = join(
      dirname(options.dataDir),
      `.${basename(options.dataDir)}.restore-${randomBytes(6).toString("hex")}`,
    );
    /** A PostgreSQL store filled: from then on the temp dir holds the only root key that opens it. */
    let committed = false;
    try {
      mkdirSync(temp, { mode: 0o700 });
      // The root key goes in first: once a PostgreSQL transaction commits, the dir must hold the key
      // that opens what it stored.
      const rootKeyBytes = randomBytes(ROOT_KEY_BYTES);
      const rootKey = new RootKey(rootKeyBytes);
      createRootKeyFile(kmsPaths(temp).rootKey, rootKeyBytes);
      rootKeyBytes.fill(0);
      const kdb = await openKmsDatabase({ dataDir: temp, database: options.database });
      let files: FileRecord[];
      let newHead: { seq: number; hash: string };
      try {
        if (options.database !== undefined) await assertEmptyStore(kdb, options.database);
        const restoreRecord = {
          eventTime: clock.now(),
          requestId: random.uuid(),
          principal: `os:${safeUser()}`,
          accessKeyId: "",
          sourceIp: "",
          action: RESTORE_AUDIT_ACTION,
          keyId: "",
          keyVersionId: "",
          outcome: "Allowed" as const,
          errorCode: "",
          clientUid: `backup:${header.backupId}`,
        };
        files = await kdb.db
          .transaction()
          .execute((tx) => fillStore(tx, kdb.dialect, opened, encryptionKey, rootKey, restoreRecord));
        committed = kdb.dialect === "postgres";
        const h = await kdb.db
          .selectFrom("audit_head")
          .select(["seq", "hash"])
          .where("id", "=", 1)
          .executeTakeFirstOrThrow();
        newHead = { seq: Number(h.seq), hash: h.hash };
        await kdb.sync();
      } finally {
        await kdb.close();
      }
      writeDataDirFiles(temp, files, header, kind);
      let previousDataDir: string | undefined;
      if (existsSync(options.dataDir)) {
        if (dirTaken) {
          previousDataDir = `${options.dataDir}.before-restore-${stamp(clock.now())}`;
          renameSync(options.dataDir, previousDataDir);
          rmSync(join(previousDataDir, "restoring.json"), { force: true });
        } else rmSync(options.dataDir, { recursive: true, force: true }); // empty but for lock bookkeeping
      }
      renameSync(temp, options.dataDir);
      return {
        ...base,
        dryRun: false,
        ...(previousDataDir === undefined ? {} : { previousDataDir }),
        auditHead: newHead,
      };
    } catch (err) {
      if (!committed) rmSync(temp, { recursive: true, force: true });
      else
        throw wrapError(
          err,
          `the key store was restored but the data dir could not be put in place; its files (and the root key the store needs) are in ${temp}: move it to ${options.dataDir}`,
        );
      throw err;
    } finally {
      await hold.release();
    }
  } finally {
    encryptionKey.fill(0);
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
}
