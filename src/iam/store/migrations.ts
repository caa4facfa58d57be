import { sql, type Kysely, type Migration } from "kysely";
import { applyMigrations } from "../../common/migrations.js";
import type { IamDatabase } from "./schema.js";
import { newPrincipalId } from "../ids.js";

export type DialectName = "sqlite" | "postgres";

/** The identity database as its users hand it over: the KMS's database (a Kysely over it and its dialect). */
export interface IamDb {
  readonly db: Kysely<IamDatabase>;
  readonly dialect: DialectName;
}

/**
 * The identity schema, applied after the KMS's own migrations on the KMS's database (they created
 * principals, access_keys, policies, attachments and nonce_digests before identity had a module of its
 * own, so those are created here only if missing; the KMS's data keeps working unchanged).
 */
export function iamMigrations(dialect: DialectName): Record<string, Migration> {
  const bytes = dialect === "postgres" ? "bytea" : "blob";
  return {
    "0001-identity": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("principals")
          .ifNotExists()
          .addColumn("principal_name", "text", (c) => c.primaryKey())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("access_keys")
          .ifNotExists()
          .addColumn("access_key_id", "text", (c) => c.primaryKey())
          .addColumn("principal_name", "text", (c) => c.notNull())
          .addColumn("secret_wrapped", sql.raw(bytes), (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("policies")
          .ifNotExists()
          .addColumn("policy_name", "text", (c) => c.primaryKey())
          .addColumn("document", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("attachments")
          .ifNotExists()
          .addColumn("policy_name", "text", (c) => c.notNull())
          .addColumn("principal_name", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("attachments_pk", ["policy_name", "principal_name"])
          .execute();
        let nonces = db.schema
          .createTable("nonce_digests")
          .ifNotExists()
          .addColumn("digest", sql.raw(bytes), (c) => c.primaryKey())
          .addColumn("expires_at", "bigint", (c) => c.notNull());
        if (dialect === "sqlite") nonces = nonces.modifyEnd(sql`without rowid`);
        await nonces.execute();
        // Principals become users, roles or services, with RAM's ids and the role and login fields.
        const add = (name: string, type: "text" | "integer" | "bigint", dflt?: string | number) =>
          db.schema
            .alterTable("principals")
            .addColumn(name, type, (c) => (dflt === undefined ? c : c.notNull().defaultTo(dflt)))
            .execute();
        await add("principal_type", "text", "user");
        await add("principal_id", "text", "");
        await add("description", "text", "");
        await add("display_name", "text", "");
        await add("password_hash", "text");
        await add("password_reset_required", "integer", 0);
        await add("trust_policy", "text");
        await add("max_session_duration_s", "bigint");
        const idb = db as Kysely<IamDatabase>;
        for (const p of await idb.selectFrom("principals").select("principal_name").execute())
          await idb
            .updateTable("principals")
            .set({ principal_id: newPrincipalId("user") })
            .where("principal_name", "=", p.principal_name)
            .execute();
        await db.schema
          .createIndex("attachments_by_principal")
          .ifNotExists()
          .on("attachments")
          .column("principal_name")
          .execute();
        await db.schema
          .createIndex("access_keys_by_principal")
          .ifNotExists()
          .on("access_keys")
          .column("principal_name")
          .execute();
        await db.schema
          .createTable("trail_events")
          .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) =>
            dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn("event_id", "text", (c) => c.notNull().unique())
          .addColumn("event_time", "bigint", (c) => c.notNull())
          .addColumn("service_name", "text", (c) => c.notNull())
          .addColumn("event_name", "text", (c) => c.notNull())
          .addColumn("event_rw", "text", (c) => c.notNull())
          .addColumn("user_key", "text", (c) => c.notNull())
          .addColumn("user_name", "text", (c) => c.notNull())
          .addColumn("access_key_id", "text", (c) => c.notNull())
          .addColumn("resource_type", "text", (c) => c.notNull())
          .addColumn("resource_name", "text", (c) => c.notNull())
          .addColumn("error_code", "text", (c) => c.notNull())
          .addColumn("record", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex("trail_events_by_time")
          .on("trail_events")
          .columns(["event_time", "seq"])
          .execute();
        await db.schema
          .createIndex("trail_events_by_user")
          .on("trail_events")
          .columns(["user_key", "event_time", "seq"])
          .execute();
        await db.schema
          .createIndex("trail_events_by_name")
          .on("trail_events")
          .columns(["event_name", "event_time", "seq"])
          .execute();
      },
    },
    "0002-user-sessions": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("iam_user_sessions")
          .addColumn("access_key_id", "text", (c) => c.primaryKey())
          .addColumn("principal_name", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .addColumn("ended_at", "bigint")
          .execute();
        await db.schema
          .createIndex("iam_user_sessions_by_expiry")
          .on("iam_user_sessions")
          .column("expires_at")
          .execute();
      },
    },
  };
}

/** Applies the identity migrations (a lock in the database makes concurrent starts safe). */
export function migrateIamDatabase(idb: IamDb): Promise<void> {
  return applyMigrations(idb.db as Kysely<unknown>, iamMigrations(idb.dialect), {
    table: "iam",
    what: "identity store",
  });
}
