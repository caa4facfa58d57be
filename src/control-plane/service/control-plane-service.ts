import { isAtrestError } from "../../common/errors.js";
import { csError } from "../cs/cs-error.js";
import type { ClusterRow, ClusterStore } from "../store/cluster-store.js";
import { allow, allowedCluster, arnOf, audited, roleOf } from "./authorize.js";
import { csAction } from "./arn.js";
import {
  recordClusterEvent,
  serviceContext,
  type ControlPlaneServiceOptions,
  type ServiceContext,
} from "./context.js";
import { modifyClusterTags } from "./cluster-tags.js";
import { ClusterWatch } from "./cluster-watch.js";
import { startKmsEncryptionChange } from "./kms-encryption.js";
import { registerClusterFile } from "./registration.js";
import { createManagedCluster, deleteCluster, type CreateClusterRequest } from "./managed-clusters.js";
import { TaskRunner } from "./task-runner.js";
import {
  CLUSTER_ROLES,
  type Caller,
  type ClusterEvent,
  type ClusterRole,
  type ClusterService,
  type ClusterView,
  type TaskView,
  type UpdateKmsEncryptionRequest,
} from "./types.js";
import { clusterView, eventView, pageOf, taskView } from "./views.js";

export {
  DEFAULT_TASK_LEASE_MS,
  DEFAULT_UPDATE_COOLDOWN_MS,
  type ControlPlaneServiceOptions,
} from "./context.js";
export { taskView } from "./views.js";

/**
 * The control plane's service: clusters, their Secret encryption, tasks, events and cluster roles.
 * Every method authorizes the same way whichever door the caller came through (cs API, console) —
 * see authorize.ts — and is one ActionTrail event. UpdateKMSEncryption (kms-encryption.ts) runs
 * src/operations' engine in the background as a task whose lease lives in the database (task-runner.ts),
 * so a restarted (or another) instance resumes it.
 */
export class ControlPlaneService implements ClusterService {
  readonly store: ClusterStore;
  readonly instanceId: string;
  readonly #ctx: ServiceContext;
  readonly #tasks: TaskRunner;
  readonly #watch: ClusterWatch | undefined;

  constructor(options: ControlPlaneServiceOptions) {
    this.#ctx = serviceContext(options);
    this.store = this.#ctx.store;
    this.instanceId = this.#ctx.instanceId;
    this.#tasks = new TaskRunner(this.#ctx);
    this.#watch =
      options.watch === false ? undefined : new ClusterWatch(this.#ctx, this.#tasks, options.watch);
  }

  // ---- life cycle ----

  /**
   * Takes over tasks nobody drives (a restart resumes its own), then keeps looking for orphans; and
   * starts the watch of every cluster's key health and rotations (acting while it holds the lease).
   */
  async start(): Promise<void> {
    await this.#tasks.start();
    this.#watch?.start();
  }

  /** The watch over the clusters (key health, automatic re-encryption); undefined when turned off. */
  get clusterWatch(): ClusterWatch | undefined {
    return this.#watch;
  }

  /** Resumes every running task whose lease expired. */
  sweepOrphans(): Promise<void> {
    return this.#tasks.sweepOrphans();
  }

  /** Stops driving (tasks in flight keep their state and are resumed by the next instance to look). */
  close(): void {
    this.#tasks.close();
    void this.#watch?.close();
  }

  /** close(), then waits until the watch gave its lease up (another instance takes over at once). */
  async shutdown(): Promise<void> {
    this.#tasks.close();
    await this.#watch?.close();
  }

  /** Resolves when every task this instance drives now has stopped (tests, shutdown). */
  idle(): Promise<void> {
    return this.#tasks.idle();
  }

  async #view(row: ClusterRow): Promise<ClusterView> {
    const [tags, health] = await Promise.all([
      this.#ctx.tags.tagsOf(row.cluster_id),
      this.#ctx.watch.healthOf(row.cluster_id),
    ]);
    return clusterView(row, this.#ctx.cooldownMs, this.#ctx.clock.now(), { tags, health });
  }

  #on(clusterId?: string): { regionId: string; clusterId?: string } {
    return clusterId === undefined
      ? { regionId: this.#ctx.regionId }
      : { regionId: this.#ctx.regionId, clusterId };
  }

  // ---- reads ----

  async listClusters(
    caller: Caller,
    q: { pageSize: number; pageNumber: number; name?: string; clusterId?: string; regionId?: string },
  ): Promise<{ clusters: ClusterView[]; totalCount: number }> {
    const ctx = this.#ctx;
    return audited(ctx, caller, "DescribeClustersV1", this.#on(), { ...q }, async () => {
      const { offset, limit } = pageOf(q);
      await allow(ctx, caller, "DescribeClustersV1", `acs:cs:*:${ctx.accountId}:cluster/*`);
      const visible: ClusterRow[] = [];
      for (const row of await ctx.store.listClusters()) {
        if (q.name !== undefined && !row.name.includes(q.name)) continue;
        if (q.clusterId !== undefined && row.cluster_id !== q.clusterId) continue;
        if (q.regionId !== undefined && row.region_id !== q.regionId) continue;
        const d = await ctx.identity.decide(
          caller.identity,
          csAction("DescribeClustersV1"),
          arnOf(ctx, row.region_id, row.cluster_id),
        );
        if (d === "allow") visible.push(row);
      }
      return {
        clusters: await Promise.all(visible.slice(offset, offset + limit).map((r) => this.#view(r))),
        totalCount: visible.length,
      };
    });
  }

  async describeCluster(caller: Caller, clusterId: string): Promise<ClusterView> {
    return audited(
      this.#ctx,
      caller,
      "DescribeClusterDetail",
      this.#on(clusterId),
      { ClusterId: clusterId },
      async () =>
        await this.#view(await allowedCluster(this.#ctx, caller, "DescribeClusterDetail", clusterId)),
    );
  }

  async listEvents(
    caller: Caller,
    clusterId: string,
    q: { pageSize: number; pageNumber: number; taskId?: string },
  ): Promise<{ events: ClusterEvent[]; totalCount: number }> {
    const ctx = this.#ctx;
    return audited(
      ctx,
      caller,
      "DescribeClusterEvents",
      this.#on(clusterId),
      { ClusterId: clusterId, ...q },
      async () => {
        const { offset, limit } = pageOf(q);
        await allowedCluster(ctx, caller, "DescribeClusterEvents", clusterId);
        const { rows, total } = await ctx.store.listEvents(clusterId, {
          ...(q.taskId === undefined ? {} : { taskId: q.taskId }),
          offset,
          limit,
        });
        return {
          events: rows.map(eventView),
          totalCount: total,
        };
      },
    );
  }

  async describeTask(caller: Caller, taskId: string): Promise<TaskView> {
    const ctx = this.#ctx;
    return audited(ctx, caller, "DescribeTaskInfo", this.#on(), { TaskId: taskId }, async () => {
      const task = await ctx.store.getTask(taskId);
      await allowedCluster(ctx, caller, "DescribeTaskInfo", task?.cluster_id ?? "*").catch((err: unknown) => {
        if (task === undefined && isAtrestError(err, "not-found")) return undefined;
        throw err;
      });
      if (task === undefined) throw csError("ErrorTaskNotFound", `task ${taskId} not found`);
      return taskView(task, await ctx.store.listTaskEvents(task.task_id));
    });
  }

  async listRoles(caller: Caller, clusterId: string) {
    const ctx = this.#ctx;
    return audited(
      ctx,
      caller,
      "DescribeUserPermission",
      this.#on(clusterId),
      { ClusterId: clusterId },
      async () => {
        await allowedCluster(ctx, caller, "DescribeUserPermission", clusterId);
        return (await ctx.store.listRoles(clusterId)).map((r) => ({
          principal: r.principal_name,
          role: r.role as ClusterRole,
          grantedBy: r.granted_by,
          grantedAt: Number(r.granted_at),
        }));
      },
    );
  }

  // ---- changes ----

  async grantRole(caller: Caller, clusterId: string, principal: string, role: ClusterRole): Promise<void> {
    const ctx = this.#ctx;
    const params = { ClusterId: clusterId, principal, role };
    return audited(ctx, caller, "GrantPermissions", this.#on(clusterId), params, async () => {
      if (!(CLUSTER_ROLES as readonly string[]).includes(role))
        throw csError("InvalidParameter", `role_name: one of ${CLUSTER_ROLES.join(", ")}`);
      const row = await allowedCluster(ctx, caller, "GrantPermissions", clusterId);
      if ((await roleOf(ctx, caller, clusterId)) !== "admin")
        throw csError(
          "ForbiddenCheckRole",
          `${caller.identity.userName} is not an administrator of cluster ${clusterId}: only its administrators grant roles`,
        );
      // The principal must exist (a user or a role), or the grant would wait for whoever takes the name.
      await ctx.identity.getPrincipal(principal, ["user", "role"]).catch((err: unknown) => {
        throw isAtrestError(err, "not-found")
          ? csError("InvalidParameter", `principal ${principal}: no such RAM user or role`)
          : err;
      });
      const now = ctx.clock.now();
      await ctx.store.grantRole(row.cluster_id, principal, role, caller.identity.userName, now);
      await recordClusterEvent(ctx, row.cluster_id, "", {
        type: "cluster_modify",
        reason: "GrantPermissions",
        message: `${caller.identity.userName} granted ${principal} the ${role} role`,
        source: caller.identity.userName,
      });
    });
  }

  async modifyClusterTags(
    caller: Caller,
    clusterId: string,
    tags: ReadonlyArray<{ readonly key: string; readonly value?: string }>,
  ): Promise<void> {
    const params = { ClusterId: clusterId, body: tags.map((t) => ({ key: t.key, value: t.value ?? "" })) };
    return audited(this.#ctx, caller, "ModifyClusterTags", this.#on(clusterId), params, () =>
      modifyClusterTags(this.#ctx, caller, clusterId, tags),
    );
  }

  async createCluster(caller: Caller, req: CreateClusterRequest): Promise<ClusterView> {
    const params = {
      name: req.name,
      region_id: req.regionId ?? "",
      encryption_provider_key: req.kmsKeyId ?? "",
      ...(req.etcd === undefined ? {} : { etcd_endpoints: req.etcd.endpoints.join(",") }),
    };
    return audited(this.#ctx, caller, "CreateCluster", this.#on(), params, () =>
      createManagedCluster(this.#ctx, caller, req),
    );
  }

  async deleteCluster(caller: Caller, clusterId: string): Promise<void> {
    return audited(this.#ctx, caller, "DeleteCluster", this.#on(clusterId), { ClusterId: clusterId }, () =>
      deleteCluster(this.#ctx, caller, clusterId),
    );
  }

  async registerCluster(caller: Caller, req: { clusterFile: string }): Promise<ClusterView> {
    const params = { cluster_type: "ExternalKubernetes", clusterFile: req.clusterFile };
    return audited(this.#ctx, caller, "CreateCluster", this.#on(), params, () =>
      registerClusterFile(this.#ctx, caller, req.clusterFile),
    );
  }

  async updateKmsEncryption(
    caller: Caller,
    clusterId: string,
    req: UpdateKmsEncryptionRequest,
  ): Promise<{ taskId: string }> {
    const params = {
      ClusterId: clusterId,
      disable_encryption: req.disableEncryption,
      kms_key_id: req.kmsKeyId ?? "",
    };
    return audited(this.#ctx, caller, "UpdateKMSEncryption", this.#on(clusterId), params, () =>
      startKmsEncryptionChange(this.#ctx, this.#tasks, caller, clusterId, req),
    );
  }
}
