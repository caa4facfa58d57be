import type { Selectable, Updateable } from "kysely";
import type { ControlPlaneDb } from "./migrations.js";
import type { CpClusterEventsTable, CpClustersTable, CpTasksTable } from "./schema.js";

export type ClusterRow = Selectable<CpClustersTable>;
export type TaskRow = Selectable<CpTasksTable>;
export type EventRow = Omit<Selectable<CpClusterEventsTable>, "seq">;

/**
 * The control plane's records over its tables: clusters, tasks (with the lease an instance holds while
 * it drives one), cluster events and cluster roles. State changes that must not race (starting a
 * change, taking a task over) are single conditional UPDATEs, so two instances on one PostgreSQL
 * cannot both win.
 */
export class ClusterStore {
  constructor(private readonly cdb: ControlPlaneDb) {}

  private get db() {
    return this.cdb.db;
  }

  async insertCluster(row: ClusterRow): Promise<void> {
    await this.db.insertInto("cp_clusters").values(row).execute();
  }

  /** Forgets a cluster and its roles (its events and tasks stay: the history of what happened). */
  async deleteCluster(clusterId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom("cp_cluster_roles").where("cluster_id", "=", clusterId).execute();
      await tx.deleteFrom("cp_clusters").where("cluster_id", "=", clusterId).execute();
    });
  }

  async getCluster(clusterId: string): Promise<ClusterRow | undefined> {
    return this.db
      .selectFrom("cp_clusters")
      .selectAll()
      .where("cluster_id", "=", clusterId)
      .executeTakeFirst();
  }

  async getClusterByName(name: string): Promise<ClusterRow | undefined> {
    return this.db.selectFrom("cp_clusters").selectAll().where("name", "=", name).executeTakeFirst();
  }

  async listClusters(): Promise<ClusterRow[]> {
    return this.db
      .selectFrom("cp_clusters")
      .selectAll()
      .orderBy("created_at")
      .orderBy("cluster_id")
      .execute();
  }

  async updateCluster(clusterId: string, patch: Updateable<CpClustersTable>): Promise<void> {
    await this.db.updateTable("cp_clusters").set(patch).where("cluster_id", "=", clusterId).execute();
  }

  /**
   * Moves a cluster to `updating` for a new task, only if it is running or failed, no task is driving
   * it and its cool-down has passed (`changedBefore`); false when another change won or is too recent.
   */
  async beginChange(clusterId: string, task: TaskRow, changedBefore: number): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable("cp_clusters")
        .set({
          state: "updating",
          current_task_id: task.task_id,
          failure_reason: "",
          updated_at: task.created_at,
        })
        .where("cluster_id", "=", clusterId)
        .where("state", "in", ["running", "failed"])
        .where("last_change_at", "<=", changedBefore)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await tx.insertInto("cp_tasks").values(task).execute();
      return true;
    });
  }

  async getTask(taskId: string): Promise<TaskRow | undefined> {
    return this.db.selectFrom("cp_tasks").selectAll().where("task_id", "=", taskId).executeTakeFirst();
  }

  async updateTask(taskId: string, patch: Updateable<CpTasksTable>): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    await this.db.updateTable("cp_tasks").set(patch).where("task_id", "=", taskId).execute();
  }

  /** Takes (or renews) the lease on a running task: true when `owner` holds it until `until`. */
  async leaseTask(taskId: string, owner: string, now: number, until: number): Promise<boolean> {
    const r = await this.db
      .updateTable("cp_tasks")
      .set({ lease_owner: owner, lease_expires_at: until })
      .where("task_id", "=", taskId)
      .where("state", "=", "running")
      .where((eb) => eb.or([eb("lease_owner", "=", owner), eb("lease_expires_at", "<", now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Updates a running task only while `owner` holds its lease (an instance that lost it — paused past
   * its lease, then woken — must not overwrite the new holder's progress); false when it does not.
   */
  async updateHeldTask(taskId: string, owner: string, patch: Updateable<CpTasksTable>): Promise<boolean> {
    const r = await this.db
      .updateTable("cp_tasks")
      .set(patch)
      .where("task_id", "=", taskId)
      .where("state", "=", "running")
      .where("lease_owner", "=", owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Ends a task in one transaction: the task's final state (only while `owner` holds its lease), the
   * cluster's (only while this task drives it) and the event. False, nothing changed, when the lease was
   * lost: the instance that took the task over finishes it, so a late finish never overwrites its result.
   */
  async finishTask(
    taskId: string,
    owner: string,
    end: {
      readonly task: Updateable<CpTasksTable>;
      readonly cluster: Updateable<CpClustersTable>;
      readonly event: EventRow;
    },
  ): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable("cp_tasks")
        .set(end.task)
        .where("task_id", "=", taskId)
        .where("state", "=", "running")
        .where("lease_owner", "=", owner)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await tx
        .updateTable("cp_clusters")
        .set(end.cluster)
        .where("cluster_id", "=", end.event.cluster_id)
        .where("current_task_id", "=", taskId)
        .execute();
      await tx.insertInto("cp_cluster_events").values(end.event).execute();
      return true;
    });
  }

  /** Running tasks nobody holds (their instance stopped or died): to be taken over. */
  async orphanedTasks(now: number): Promise<TaskRow[]> {
    return this.db
      .selectFrom("cp_tasks")
      .selectAll()
      .where("state", "=", "running")
      .where("lease_expires_at", "<", now)
      .orderBy("created_at")
      .execute();
  }

  async addEvent(e: EventRow): Promise<void> {
    await this.db.insertInto("cp_cluster_events").values(e).execute();
  }

  /** A task's events, oldest first (DescribeTaskInfo's `events`). */
  async listTaskEvents(taskId: string, limit = 100): Promise<EventRow[]> {
    return this.db
      .selectFrom("cp_cluster_events")
      .select(["event_id", "cluster_id", "task_id", "time", "type", "level", "reason", "message", "source"])
      .where("task_id", "=", taskId)
      .orderBy("seq")
      .limit(limit)
      .execute();
  }

  /** Newest first. */
  async listEvents(
    clusterId: string,
    q: { taskId?: string; offset: number; limit: number },
  ): Promise<{ rows: EventRow[]; total: number }> {
    let base = this.db.selectFrom("cp_cluster_events").where("cluster_id", "=", clusterId);
    if (q.taskId !== undefined) base = base.where("task_id", "=", q.taskId);
    const [rows, count] = await Promise.all([
      base
        .select(["event_id", "cluster_id", "task_id", "time", "type", "level", "reason", "message", "source"])
        .orderBy("seq", "desc")
        .offset(q.offset)
        .limit(q.limit)
        .execute(),
      base.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.n) };
  }

  async grantRole(clusterId: string, principal: string, role: string, by: string, at: number): Promise<void> {
    await this.db
      .insertInto("cp_cluster_roles")
      .values({ cluster_id: clusterId, principal_name: principal, role, granted_by: by, granted_at: at })
      .onConflict((oc) =>
        oc.columns(["cluster_id", "principal_name"]).doUpdateSet({ role, granted_by: by, granted_at: at }),
      )
      .execute();
  }

  async roleOf(clusterId: string, principal: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom("cp_cluster_roles")
      .select("role")
      .where("cluster_id", "=", clusterId)
      .where("principal_name", "=", principal)
      .executeTakeFirst();
    return r?.role;
  }

  async listRoles(clusterId: string) {
    return this.db
      .selectFrom("cp_cluster_roles")
      .selectAll()
      .where("cluster_id", "=", clusterId)
      .orderBy("principal_name")
      .execute();
  }
}
