import { closeSync, existsSync, openSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { LRUCache } from "lru-cache";
import { Kysely, PostgresDialect, SqliteDialect, sql, type Migration, type SqliteDatabase } from "kysely";
import pg from "pg";
import { AtrestError } from "../../common/errors.js";
import { applyMigrations } from "../../common/migrations.js";
import { migrateIamDatabase, type IamDatabase, type IamDb } from "../../iam/index.js";
import { nonceDigest } from "../../iam/nonce-digest.js";
import type { KmsDatabase } from "./schema.js";
import { fsyncFile } from "../../common/fsync-file.js";
import { startWalCheckpointer } from "../../common/sqlite-wal-checkpointer.js";

export type { DialectName } from "../../iam/index.js";
import type { DialectName } from "../../iam/index.js";

export interface KmsDb {
  readonly db: Kysely<KmsDatabase>;
  readonly dialect: DialectName;
  /**
   * Makes every commit so far survive a power loss, for the writes a client must never see undone (key
   * material, key state). PostgreSQL commits are durable already; SQLite's WAL runs with synchronous =
   * NORMAL (durable across a process crash, not a power loss), so this fsyncs the WAL file, off the
   * event loop.
   */
  sync(): Promise<void>;
  /**
   * SQLite only: the connection under `db`, for the request path's prepared statements. Use it only
   * while holding Kysely's connection (`db.connection().execute(...)`), so no Kysely transaction is open.
   */
  readonly sqlite?: Database.Database;
  close(): Promise<void>;
}

const defaultTypeParser = pg.types.getTypeParser.bind(pg.types) as (oid: number, format?: string) => unknown;
const int8AsNumber = ((oid: number, format?: string): unknown =>
  oid === 20 ? (v: string) => Number(v) : defaultTypeParser(oid, format)) as typeof pg.types.getTypeParser;

/** `database` is a `postgres://` / `postgresql://` URL, or undefined for SQLite in `dataDir/kms.db`. */
export async function openKmsDatabase(options: {
  dataDir: string;
  database?: string | undefined;
  migrate?: boolean;
}): Promise<KmsDb> {
  const url = options.database;
  let kdb: KmsDb;
  if (url !== undefined && url !== "" && !/^sqlite:/.test(url)) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new AtrestError(
        "invalid-argument",
        "--database: must be a postgres:// URL (or empty for SQLite in the data dir)",
      );
    }
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      // int8 (bigint) columns hold millisecond times and sequence numbers: safe as JS numbers.
      types: { getTypeParser: int8AsNumber },
    });
    // An idle connection that PostgreSQL drops (restart, failover) emits 'error' on the pool; without a
    // listener that would crash the process. The pool discards the client; the next query reconnects
    // or fails with a connection error that the request handler reports as a retryable 503.
    pool.on("error", () => undefined);
    pool.on("connect", (client) => client.on("error", () => undefined));
    const db = new Kysely<KmsDatabase>({ dialect: new PostgresDialect({ pool }) });
    kdb = { db, dialect: "postgres", sync: () => Promise.resolve(), close: () => db.destroy() };
  } else {
    const file =
      url !== undefined && url.startsWith("sqlite:")
        ? url.slice("sqlite:".length)
        : join(options.dataDir, "kms.db");
    if (!existsSync(file)) closeSync(openSync(file, "a", 0o600)); // wrapped keys and the audit trail: owner only
    const sqlite = new Database(file);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma("busy_timeout = 5000");
    // Checkpoints run on a worker thread (see common/sqlite-wal-checkpointer.ts), not inside a request's commit.
    sqlite.pragma("wal_autocheckpoint = 0");
    const checkpointer = startWalCheckpointer(file);
    const db = new Kysely<KmsDatabase>({
      dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
    });
    kdb = {
      db,
      dialect: "sqlite",
      sqlite,
      sync: () => fsyncFile(`${file}-wal`),
      close: async () => {
        await checkpointer.stop();
        await db.destroy();
      },
    };
  }
  if (options.migrate !== false) {
    try {
      await migrateKmsDatabase(kdb);
    } catch (err) {
      await kdb.close();
      throw err;
    }
  }
  return kdb;
}

/**
 * Kysely prepares every query anew; compiling SQL is most of SQLite's cost on the request path (nonce
 * and audit writes), so prepared statements are reused by SQL text. Safe because Kysely runs each
 * statement to completion (all/run) before the next one on the same connection.
 */
function withStatementCache(sqlite: Database.Database, maxEntries = 512): SqliteDatabase {
  const cache = new LRUCache<string, Database.Statement>({ max: maxEntries });
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare: (sqlText: string) => {
      let stmt = cache.get(sqlText);
      if (stmt === undefined) {
        stmt = sqlite.prepare(sqlText);
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
  };
}

export function kmsMigrations(dialect: DialectName): Record<string, Migration> {
  const bytes = dialect === "postgres" ? "bytea" : "blob";
  return {
    "0001-initial": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("keys")
          .addColumn("key_id", "text", (c) => c.primaryKey())
          .addColumn("description", "text", (c) => c.notNull())
          .addColumn("key_spec", "text", (c) => c.notNull())
          .addColumn("key_usage", "text", (c) => c.notNull())
          .addColumn("origin", "text", (c) => c.notNull())
          .addColumn("protection_level", "text", (c) => c.notNull())
          .addColumn("key_state", "text", (c) => c.notNull())
          .addColumn("creator", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("primary_version_id", "text", (c) => c.notNull())
          .addColumn("last_rotation_at", "bigint")
          .addColumn("automatic_rotation", "text", (c) => c.notNull())
          .addColumn("rotation_interval_s", "bigint")
          .addColumn("next_rotation_at", "bigint")
          .addColumn("delete_at", "bigint")
          .addColumn("deletion_protection", "integer", (c) => c.notNull())
          .addColumn("deletion_protection_description", "text", (c) => c.notNull())
          .addColumn("generation", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("key_versions")
          .addColumn("key_version_id", "text", (c) => c.primaryKey())
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("protection_level", "text", (c) => c.notNull())
          .addColumn("stored_ref", sql.raw(bytes), (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex("key_versions_by_key")
          .on("key_versions")
          .columns(["key_id", "created_at"])
          .execute();
        await db.schema
          .createTable("aliases")
          .addColumn("alias_name", "text", (c) => c.primaryKey())
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("aliases_by_key").on("aliases").column("key_id").execute();
        await db.schema
          .createTable("tags")
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("tag_key", "text", (c) => c.notNull())
          .addColumn("tag_value", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("tags_pk", ["key_id", "tag_key"])
          .execute();
        await db.schema
          .createTable("principals")
          .addColumn("principal_name", "text", (c) => c.primaryKey())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("access_keys")
          .addColumn("access_key_id", "text", (c) => c.primaryKey())
          .addColumn("principal_name", "text", (c) => c.notNull())
          .addColumn("secret_wrapped", sql.raw(bytes), (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("policies")
          .addColumn("policy_name", "text", (c) => c.primaryKey())
          .addColumn("document", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("attachments")
          .addColumn("policy_name", "text", (c) => c.notNull())
          .addColumn("principal_name", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("attachments_pk", ["policy_name", "principal_name"])
          .execute();
        await db.schema
          .createTable("nonces")
          .addColumn("access_key_id", "text", (c) => c.notNull())
          .addColumn("nonce", "text", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("nonces_pk", ["access_key_id", "nonce"])
          .execute();
        await db.schema.createIndex("nonces_by_expiry").on("nonces").column("expires_at").execute();
        await db.schema
          .createTable("audit_events")
          .addColumn("seq", "bigint", (c) => c.primaryKey())
          .addColumn("event_time", "bigint", (c) => c.notNull())
          .addColumn("request_id", "text", (c) => c.notNull())
          .addColumn("principal", "text", (c) => c.notNull())
          .addColumn("access_key_id", "text", (c) => c.notNull())
          .addColumn("source_ip", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("key_version_id", "text", (c) => c.notNull())
          .addColumn("outcome", "text", (c) => c.notNull())
          .addColumn("error_code", "text", (c) => c.notNull())
          .addColumn("client_uid", "text", (c) => c.notNull())
          .addColumn("prev_hash", "text", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("audit_by_time").on("audit_events").column("event_time").execute();
        await db.schema
          .createTable("audit_head")
          .addColumn("id", "integer", (c) => c.primaryKey())
          .addColumn("seq", "bigint", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("scheduler_leases")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("holder", "text", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .execute();
      },
    },
    // Nonces keyed by a 16-byte digest of (access key id, nonce) in one B-tree (SQLite WITHOUT
    // ROWID) instead of a row plus a text index: each reservation dirties one page, not two.
    "0002-nonce-digests": {
      async up(db: Kysely<unknown>): Promise<void> {
        let create = db.schema
          .createTable("nonce_digests")
          .addColumn("digest", sql.raw(bytes), (c) => c.primaryKey())
          .addColumn("expires_at", "bigint", (c) => c.notNull());
        if (dialect === "sqlite") create = create.modifyEnd(sql`without rowid`);
        await create.execute();
        await db.schema
          .createIndex("nonce_digests_by_expiry")
          .on("nonce_digests")
          .column("expires_at")
          .execute();
        // The nonces still inside their window keep refusing a replay across the upgrade.
        const old = await sql<{ access_key_id: string; nonce: string; expires_at: number }>`
          select access_key_id, nonce, expires_at from nonces`.execute(db);
        for (let i = 0; i < old.rows.length; i += 500) {
          const rows = old.rows.slice(i, i + 500).map((r) => ({
            digest: nonceDigest(r.access_key_id, r.nonce),
            expires_at: Number(r.expires_at),
          }));
          await (db as Kysely<KmsDatabase>)
            .insertInto("nonce_digests")
            .values(rows)
            .onConflict((oc) => oc.column("digest").doNothing())
            .execute();
        }
        await db.schema.dropTable("nonces").execute();
      },
    },
    // Audit records that stand for several requests (a summary of throttled failed authentications)
    // and that say a refusal was overridden with Force=true. Existing rows get the defaults, which
    // hash exactly as before (audit-log.ts auditHash), so old chains keep verifying.
    "0003-audit-request-count-forced": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .alterTable("audit_events")
          .addColumn("request_count", "integer", (c) => c.notNull().defaultTo(1))
          .execute();
        await db.schema
          .alterTable("audit_events")
          .addColumn("forced", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    // The caller as ActionTrail names it (type, principalId, userName, the STS session's creation),
    // and the indexes of LookupEvents (src/kms/audit-events.ts): by principal (the user filter; an
    // assumed role's principal is its role, matched case-insensitively), name, key and request id,
    // each in time order. Existing rows get "" / 0, which hash as before (audit-log.ts auditHash).
    "0004-audit-identity": {
      async up(db: Kysely<unknown>): Promise<void> {
        for (const [name, type, dflt] of [
          ["identity_type", "text", ""],
          ["principal_id", "text", ""],
          ["user_name", "text", ""],
          ["session_created_at", "bigint", 0],
        ] as const)
          await db.schema
            .alterTable("audit_events")
            .addColumn(name, type, (c) => c.notNull().defaultTo(dflt))
            .execute();
        await db.schema
          .createIndex("audit_by_principal_lc")
          .on("audit_events")
          .expression(sql`lower(principal), event_time, seq`)
          .execute();
        await db.schema
          .createIndex("audit_by_action")
          .on("audit_events")
          .columns(["action", "event_time", "seq"])
          .execute();
        await db.schema
          .createIndex("audit_by_key")
          .on("audit_events")
          .columns(["key_id", "event_time", "seq"])
          .execute();
        await db.schema.createIndex("audit_by_request_id").on("audit_events").column("request_id").execute();
        await db.schema
          .createIndex("audit_by_time_seq")
          .on("audit_events")
          .columns(["event_time", "seq"])
          .execute();
      },
    },
    // LookupEvents by a user or role and an event name together (the seed documents' check: the
    // service role's Encrypt/Decrypt). One expression, not two columns: beside 0004's
    // lower(principal) index SQLite's planner (without ANALYZE statistics) kept choosing that one and
    // scanned all of a busy role's records for a rare action (bench/identity.ts roleAndRareEvent,
    // ~370 ms over 1M records); audit-events.ts queries exactly this expression.
    "0005-audit-by-principal-action": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createIndex("audit_by_principal_action_lc")
          .on("audit_events")
          .expression(sql`(lower(principal) || '/' || action), event_time, seq`)
          .execute();
      },
    },
  };
}

/** Applies the schema migrations (a lock in the database makes concurrent starts safe). */
export async function migrateKmsDatabase(kdb: KmsDb): Promise<void> {
  await applyMigrations(kdb.db as Kysely<unknown>, kmsMigrations(kdb.dialect), {
    table: "kms",
    what: "key store",
  });
  // The identity tables live in the same database, after the KMS's (README "Identity").
  await migrateIamDatabase(identityDbOf(kdb));
}

/** The identity store's view of the KMS database (the same connection, its tables' types only). */
export function identityDbOf(kdb: KmsDb): IamDb {
  return { db: kdb.db as unknown as Kysely<IamDatabase>, dialect: kdb.dialect };
}
