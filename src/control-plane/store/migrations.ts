import { sql, type Kysely, type Migration } from "kysely";
import { applyMigrations } from "../../common/migrations.js";
import type { DialectName } from "../../iam/index.js";
import type { ControlPlaneDatabase } from "./schema.js";

/** The control plane's view of the shared database. */
export interface ControlPlaneDb {
  readonly db: Kysely<ControlPlaneDatabase>;
  readonly dialect: DialectName;
}

/** Applied in name order; a migration once released never changes (a new one is added instead). */
export function controlPlaneMigrations(dialect: DialectName): Record<string, Migration> {
  const serial = dialect === "postgres" ? "bigserial" : "integer";
  return {
    "0001-clusters": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("cp_clusters")
          .addColumn("cluster_id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("region_id", "text", (c) => c.notNull())
          .addColumn("cluster_file", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("kms_key_id", "text", (c) => c.notNull())
          .addColumn("disable_encryption", "integer", (c) => c.notNull())
          .addColumn("current_task_id", "text")
          .addColumn("failure_reason", "text", (c) => c.notNull())
          .addColumn("last_change_at", "bigint", (c) => c.notNull())
          .addColumn("created_by", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("cp_clusters_name").unique().on("cp_clusters").column("name").execute();
        await db.schema
          .createTable("cp_tasks")
          .addColumn("task_id", "text", (c) => c.primaryKey())
          .addColumn("cluster_id", "text", (c) => c.notNull())
          .addColumn("task_type", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("request", "text", (c) => c.notNull())
          .addColumn("stages", "text", (c) => c.notNull())
          .addColumn("current_stage", "text", (c) => c.notNull())
          .addColumn("operation_id", "text", (c) => c.notNull())
          .addColumn("error_code", "text", (c) => c.notNull())
          .addColumn("error_message", "text", (c) => c.notNull())
          .addColumn("created_by", "text", (c) => c.notNull())
          .addColumn("created_at", "bigint", (c) => c.notNull())
          .addColumn("updated_at", "bigint", (c) => c.notNull())
          .addColumn("finished_at", "bigint")
          .addColumn("lease_owner", "text", (c) => c.notNull())
          .addColumn("lease_expires_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex("cp_tasks_cluster")
          .on("cp_tasks")
          .columns(["cluster_id", "created_at"])
          .execute();
        await db.schema.createIndex("cp_tasks_state").on("cp_tasks").column("state").execute();
        await db.schema
          .createTable("cp_cluster_events")
          .addColumn("seq", sql.raw(serial), (c) =>
            dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn("event_id", "text", (c) => c.notNull().unique())
          .addColumn("cluster_id", "text", (c) => c.notNull())
          .addColumn("task_id", "text", (c) => c.notNull())
          .addColumn("time", "bigint", (c) => c.notNull())
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("level", "text", (c) => c.notNull())
          .addColumn("reason", "text", (c) => c.notNull())
          .addColumn("message", "text", (c) => c.notNull())
          .addColumn("source", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex("cp_cluster_events_cluster")
          .on("cp_cluster_events")
          .columns(["cluster_id", "seq"])
          .execute();
        await db.schema
          .createTable("cp_cluster_roles")
          .addColumn("cluster_id", "text", (c) => c.notNull())
          .addColumn("principal_name", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull())
          .addColumn("granted_by", "text", (c) => c.notNull())
          .addColumn("granted_at", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("cp_cluster_roles_pk", ["cluster_id", "principal_name"])
          .execute();
      },
    },
    // DescribeTaskInfo lists a task's events.
    "0002-task-events": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createIndex("cp_cluster_events_task")
          .on("cp_cluster_events")
          .columns(["task_id", "seq"])
          .execute();
      },
    },
    // Key health and automatic re-encryption: the per-cluster tags (its setting), the last health
    // round, and the lease that lets one instance of many watch the clusters.
    "0003-cluster-tags-health-leases": {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable("cp_cluster_tags")
          .addColumn("cluster_id", "text", (c) => c.notNull())
          .addColumn("tag_key", "text", (c) => c.notNull())
          .addColumn("tag_value", "text", (c) => c.notNull())
          .addColumn("position", "integer", (c) => c.notNull())
          .addPrimaryKeyConstraint("cp_cluster_tags_pk", ["cluster_id", "tag_key"])
          .execute();
        await db.schema
          .createTable("cp_cluster_health")
          .addColumn("cluster_id", "text", (c) => c.primaryKey())
          .addColumn("kms_key_id", "text", (c) => c.notNull())
          .addColumn("issues", "text", (c) => c.notNull())
          .addColumn("key_state", "text", (c) => c.notNull())
          .addColumn("checked_at", "bigint", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("cp_leases")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("owner", "text", (c) => c.notNull())
          .addColumn("expires_at", "bigint", (c) => c.notNull())
          .execute();
      },
    },
  };
}

/** Brings the control plane's tables up to date (THE migration runner, src/common/migrations.ts). */
export async function migrateControlPlaneDatabase(cdb: ControlPlaneDb): Promise<void> {
  await applyMigrations(cdb.db as unknown as Kysely<unknown>, controlPlaneMigrations(cdb.dialect), {
    table: "control_plane",
    what: "control plane store",
  });
}
