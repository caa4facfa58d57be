import { hostname } from "node:os";
import { systemClock, type Clock, type Timer } from "../../common/clock.js";
import { AtrestError, isAtrestError } from "../../common/errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { systemRandom, type Random } from "../../common/random.js";
import { CS_SERVICE_ROLE, CS_SERVICE_ROLE_POLICY, type IamDb, type IdentityStore } from "../../iam/index.js";
import {
  loadClusterFile,
  STAGES,
  type ClusterSpec,
  type OperationRecord,
  type OperationRequest,
  type ProgressEvent,
} from "../../operations/index.js";
import { csError } from "../cs/cs-error.js";
import { ClusterStore, type ClusterRow, type TaskRow } from "../store/cluster-store.js";
import { clusterArn, csAction } from "./arn.js";
import { recordCsCall } from "./audit.js";
import type { ClusterEngine, ClusterEngineFactory } from "./engine-port.js";
import {
  CLUSTER_ROLES,
  type Caller,
  type ClusterEvent,
  type ClusterRole,
  type ClusterService,
  type ClusterState,
  type ClusterView,
  type TaskStage,
  type TaskView,
  type UpdateKmsEncryptionRequest,
} from "./types.js";
import type { ControlPlaneDb } from "../store/migrations.js";
import type { ManagedClustersPort } from "./managed-port.js";

/** ACK: "wait at least 5 minutes before calling this API operation again". */
export const DEFAULT_UPDATE_COOLDOWN_MS = 5 * 60_000;
/** A task lease not renewed for this long is taken over by another instance (or the next start). */
export const DEFAULT_TASK_LEASE_MS = 30_000;
const MAX_PAGE_SIZE = 100;
const KEY_ID_PATTERN = /^[\x21-\x7e]{1,256}$/;

export interface ControlPlaneServiceOptions {
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly cdb: ControlPlaneDb;
  readonly accountId: string;
  /** The control plane's own region (clusters carry their own). */
  readonly regionId: string;
  readonly engines: ClusterEngineFactory;
  /** CreateCluster / DeleteCluster run managed clusters here; without it CreateCluster is refused. */
  readonly managed?: ManagedClustersPort;
  readonly cooldownMs?: number;
  readonly taskLeaseMs?: number;
  /** Who drives tasks here (lease owner); default host/pid/random. */
  readonly instanceId?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
}

const READ_ACTIONS = new Set([
  "DescribeClustersV1",
  "DescribeClusterDetail",
  "DescribeClusterEvents",
  "DescribeTaskInfo",
  "DescribeUserPermission",
]);

function pageOf(q: { pageSize: number; pageNumber: number }): { offset: number; limit: number } {
  if (!Number.isSafeInteger(q.pageSize) || q.pageSize < 1 || q.pageSize > MAX_PAGE_SIZE)
    throw csError("InvalidParameter", `page_size: an integer from 1 to ${MAX_PAGE_SIZE}`);
  if (!Number.isSafeInteger(q.pageNumber) || q.pageNumber < 1)
    throw csError("InvalidParameter", "page_number: an integer from 1");
  return { offset: (q.pageNumber - 1) * q.pageSize, limit: q.pageSize };
}

function stagesOf(type: "enable" | "disable"): TaskStage[] {
  return STAGES[type].map((name) => ({ name, state: "pending" as const }));
}

/** The engine's `details.reason` (OperationInProgress, KeyDisabled, …), or `fallback`. */
function reasonOf(err: AtrestError, fallback: string): string {
  const r = err.details["reason"];
  return typeof r === "string" ? r : fallback;
}

function toIsoMs(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * The control plane's service: clusters, their Secret encryption, tasks, events and cluster roles.
 * Every method authorizes the same way whichever door the caller came through (cs API, console):
 * the RAM policy of the action on the cluster's ARN (explicit Deny wins), then the cluster role where
 * ACK requires one; every call, allowed or refused, is one ActionTrail event. UpdateKMSEncryption
 * runs src/operations' engine in the background as a task whose lease lives in the database, so a
 * restarted (or another) instance resumes it.
 */
export class ControlPlaneService implements ClusterService {
  readonly store: ClusterStore;
  readonly instanceId: string;
  readonly #o: ControlPlaneServiceOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #cooldownMs: number;
  readonly #leaseMs: number;
  readonly #driving = new Map<string, Promise<void>>();
  #sweepTimer: Timer | undefined;
  #closed = false;

  constructor(options: ControlPlaneServiceOptions) {
    this.#o = options;
    this.store = new ClusterStore(options.cdb);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#logger = options.logger ?? silentLogger();
    this.#cooldownMs = options.cooldownMs ?? DEFAULT_UPDATE_COOLDOWN_MS;
    this.#leaseMs = options.taskLeaseMs ?? DEFAULT_TASK_LEASE_MS;
    this.instanceId =
      options.instanceId ?? `${hostname()}/${process.pid}/${this.#random.bytes(4).toString("hex")}`;
  }

  // ---- life cycle ----

  /** Takes over tasks nobody drives (a restart resumes its own), then keeps looking for orphans. */
  async start(): Promise<void> {
    await this.sweepOrphans();
    this.#scheduleSweep();
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    this.#sweepTimer = this.#clock.setTimeout(() => {
      this.sweepOrphans()
        .catch((err: unknown) =>
          this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, "task sweep failed"),
        )
        .finally(() => this.#scheduleSweep());
    }, this.#leaseMs);
    this.#sweepTimer.unref?.();
  }

  /** Resumes every running task whose lease expired. */
  async sweepOrphans(): Promise<void> {
    for (const task of await this.store.orphanedTasks(this.#clock.now())) {
      if (this.#closed || this.#driving.has(task.task_id)) continue;
      this.#drive(task.task_id, true);
    }
  }

  /** Stops driving (tasks in flight keep their state and are resumed by the next instance to look). */
  close(): void {
    this.#closed = true;
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
  }

  /** Resolves when every task this instance drives now has stopped (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#driving.size > 0) await Promise.allSettled([...this.#driving.values()]);
  }

  // ---- authorization and audit ----

  #arn(regionId: string, clusterId: string): string {
    return clusterArn(regionId, this.#o.accountId, clusterId);
  }

  async #audited<T>(
    caller: Caller,
    action: string,
    resource: { regionId: string; clusterId?: string },
    params: Record<string, unknown>,
    fn: () => Promise<T>,
  ): Promise<T> {
    const base = {
      eventName: action,
      readOnly: READ_ACTIONS.has(action),
      regionId: resource.regionId,
      accountId: this.#o.accountId,
      ...(resource.clusterId === undefined ? {} : { resourceName: resource.clusterId }),
      requestParameters: params,
    };
    try {
      const out = await fn();
      await recordCsCall(this.#o.idb, caller, base, this.#clock.now());
      return out;
    } catch (err) {
      const code =
        err instanceof AtrestError && typeof err.details["acsCode"] === "string"
          ? err.details["acsCode"]
          : "InternalError";
      await recordCsCall(
        this.#o.idb,
        caller,
        { ...base, errorCode: code, errorMessage: err instanceof Error ? err.message : String(err) },
        this.#clock.now(),
      ).catch((recordErr: unknown) =>
        this.#logger.error(
          { err: recordErr instanceof Error ? recordErr.message : String(recordErr) },
          "cs event not recorded",
        ),
      );
      throw err;
    }
  }

  /** RAM: the caller's policies must allow the action on the resource, and none may deny it. */
  async #allow(caller: Caller, action: string, resource: string): Promise<void> {
    const decision = await this.#o.identity.decide(caller.identity, csAction(action), resource);
    if (decision === "allow") return;
    throw csError(
      "StatusForbidden",
      decision === "deny"
        ? `${caller.identity.userName} is explicitly denied ${csAction(action)} on ${resource} by a RAM policy`
        : `${caller.identity.userName} is not authorized to perform ${csAction(action)} on ${resource}: attach a RAM policy that allows it (e.g. AliyunCSFullAccess)`,
      { details: { decision } },
    );
  }

  async #roleOf(caller: Caller, clusterId: string): Promise<ClusterRole | undefined> {
    const r = await this.store.roleOf(clusterId, caller.identity.principal);
    return (CLUSTER_ROLES as readonly string[]).includes(r ?? "") ? (r as ClusterRole) : undefined;
  }

  async #cluster(clusterId: string): Promise<ClusterRow> {
    const row = await this.store.getCluster(clusterId);
    if (row === undefined) throw csError("ErrorClusterNotFound", `cluster ${clusterId} not found`);
    return row;
  }

  /** RAM on the cluster's ARN first (a refused caller learns nothing of it), then the cluster. */
  async #allowedCluster(caller: Caller, action: string, clusterId: string): Promise<ClusterRow> {
    const row = await this.store.getCluster(clusterId);
    await this.#allow(caller, action, this.#arn(row?.region_id ?? this.#o.regionId, clusterId));
    if (row === undefined) throw csError("ErrorClusterNotFound", `cluster ${clusterId} not found`);
    return row;
  }

  #view(row: ClusterRow): ClusterView {
    const coolDownUntil = row.last_change_at > 0 ? row.last_change_at + this.#cooldownMs : 0;
    return {
      clusterId: row.cluster_id,
      name: row.name,
      regionId: row.region_id,
      state: row.state as ClusterState,
      kmsKeyId: row.kms_key_id,
      encryptionEnabled: row.disable_encryption === 0,
      failureReason: row.failure_reason,
      currentTaskId: row.current_task_id ?? undefined,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      lastChangeAt: row.last_change_at,
      coolDownUntil: coolDownUntil > this.#clock.now() ? coolDownUntil : 0,
    };
  }

  // ---- reads ----

  async listClusters(
    caller: Caller,
    q: { pageSize: number; pageNumber: number; name?: string; clusterId?: string; regionId?: string },
  ): Promise<{ clusters: ClusterView[]; totalCount: number }> {
    return this.#audited(caller, "DescribeClustersV1", { regionId: this.#o.regionId }, { ...q }, async () => {
      const { offset, limit } = pageOf(q);
      await this.#allow(caller, "DescribeClustersV1", `acs:cs:*:${this.#o.accountId}:cluster/*`);
      const visible: ClusterRow[] = [];
      for (const row of await this.store.listClusters()) {
        if (q.name !== undefined && !row.name.includes(q.name)) continue;
        if (q.clusterId !== undefined && row.cluster_id !== q.clusterId) continue;
        if (q.regionId !== undefined && row.region_id !== q.regionId) continue;
        const d = await this.#o.identity.decide(
          caller.identity,
          csAction("DescribeClustersV1"),
          this.#arn(row.region_id, row.cluster_id),
        );
        if (d === "allow") visible.push(row);
      }
      return {
        clusters: visible.slice(offset, offset + limit).map((r) => this.#view(r)),
        totalCount: visible.length,
      };
    });
  }

  async describeCluster(caller: Caller, clusterId: string): Promise<ClusterView> {
    return this.#audited(
      caller,
      "DescribeClusterDetail",
      { regionId: this.#o.regionId, clusterId },
      { ClusterId: clusterId },
      async () => this.#view(await this.#allowedCluster(caller, "DescribeClusterDetail", clusterId)),
    );
  }

  async listEvents(
    caller: Caller,
    clusterId: string,
    q: { pageSize: number; pageNumber: number; taskId?: string },
  ): Promise<{ events: ClusterEvent[]; totalCount: number }> {
    return this.#audited(
      caller,
      "DescribeClusterEvents",
      { regionId: this.#o.regionId, clusterId },
      { ClusterId: clusterId, ...q },
      async () => {
        const { offset, limit } = pageOf(q);
        await this.#allowedCluster(caller, "DescribeClusterEvents", clusterId);
        const { rows, total } = await this.store.listEvents(clusterId, {
          ...(q.taskId === undefined ? {} : { taskId: q.taskId }),
          offset,
          limit,
        });
        return {
          events: rows.map((r) => ({
            eventId: r.event_id,
            clusterId: r.cluster_id,
            taskId: r.task_id,
            time: Number(r.time),
            type: r.type,
            level: r.level === "Warning" ? "Warning" : "Normal",
            reason: r.reason,
            message: r.message,
            source: r.source,
          })),
          totalCount: total,
        };
      },
    );
  }

  async describeTask(caller: Caller, taskId: string): Promise<TaskView> {
    return this.#audited(
      caller,
      "DescribeTaskInfo",
      { regionId: this.#o.regionId },
      { TaskId: taskId },
      async () => {
        const task = await this.store.getTask(taskId);
        await this.#allowedCluster(caller, "DescribeTaskInfo", task?.cluster_id ?? "*").catch(
          (err: unknown) => {
            if (task === undefined && isAtrestError(err, "not-found")) return undefined;
            throw err;
          },
        );
        if (task === undefined) throw csError("ErrorTaskNotFound", `task ${taskId} not found`);
        return taskView(task);
      },
    );
  }

  async listRoles(caller: Caller, clusterId: string) {
    return this.#audited(
      caller,
      "DescribeUserPermission",
      { regionId: this.#o.regionId, clusterId },
      { ClusterId: clusterId },
      async () => {
        await this.#allowedCluster(caller, "DescribeUserPermission", clusterId);
        return (await this.store.listRoles(clusterId)).map((r) => ({
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
    return this.#audited(
      caller,
      "GrantPermissions",
      { regionId: this.#o.regionId, clusterId },
      { ClusterId: clusterId, principal, role },
      async () => {
        if (!(CLUSTER_ROLES as readonly string[]).includes(role))
          throw csError("InvalidParameter", `role_name: one of ${CLUSTER_ROLES.join(", ")}`);
        const row = await this.#allowedCluster(caller, "GrantPermissions", clusterId);
        if ((await this.#roleOf(caller, clusterId)) !== "admin")
          throw csError(
            "ForbiddenCheckRole",
            `${caller.identity.userName} is not an administrator of cluster ${clusterId}: only its administrators grant roles`,
          );
        // The principal must exist (a user or a role), or the grant would wait for whoever takes the name.
        await this.#o.identity.getPrincipal(principal, ["user", "role"]).catch((err: unknown) => {
          throw isAtrestError(err, "not-found")
            ? csError("InvalidParameter", `principal ${principal}: no such RAM user or role`)
            : err;
        });
        const now = this.#clock.now();
        await this.store.grantRole(row.cluster_id, principal, role, caller.identity.userName, now);
        await this.#event(row.cluster_id, "", {
          type: "cluster_modify",
          reason: "GrantPermissions",
          message: `${caller.identity.userName} granted ${principal} the ${role} role`,
          source: caller.identity.userName,
        });
      },
    );
  }

  async registerCluster(caller: Caller, req: { clusterFile: string }): Promise<ClusterView> {
    return this.#audited(
      caller,
      "CreateCluster",
      { regionId: this.#o.regionId },
      { cluster_type: "ExternalKubernetes", clusterFile: req.clusterFile },
      async () => {
        let spec: ClusterSpec;
        try {
          spec = loadClusterFile(req.clusterFile);
        } catch (err) {
          throw csError("InvalidParameter", err instanceof Error ? err.message : String(err), { cause: err });
        }
        await this.#allow(caller, "CreateCluster", `acs:cs:${spec.region}:${this.#o.accountId}:cluster/*`);
        if ((await this.store.getClusterByName(spec.name)) !== undefined)
          throw csError("ErrorClusterAlreadyExists", `a cluster named ${spec.name} is registered already`);
        const encryption = await this.#currentEncryption(spec);
        const now = this.#clock.now();
        const row: ClusterRow = {
          cluster_id: `c${this.#random.bytes(16).toString("hex")}`,
          name: spec.name,
          region_id: spec.region,
          cluster_file: spec.source,
          state: "running",
          kms_key_id: encryption.kmsKeyId,
          disable_encryption: encryption.kmsKeyId === "" ? 1 : 0,
          current_task_id: null,
          failure_reason: "",
          last_change_at: 0,
          created_by: caller.identity.userName,
          created_at: now,
          updated_at: now,
        };
        await this.store.insertCluster(row).catch((err: unknown) => {
          throw csError("ErrorClusterAlreadyExists", `a cluster named ${spec.name} is registered already`, {
            cause: err,
          });
        });
        await this.store.grantRole(row.cluster_id, caller.identity.principal, "admin", "registration", now);
        await this.#event(row.cluster_id, "", {
          type: "cluster_create",
          reason: "RegisterCluster",
          message: `${caller.identity.userName} registered ${spec.name} (${encryption.kmsKeyId === "" ? "Secret encryption off" : `Secrets encrypted with ${encryption.kmsKeyId}`})`,
          source: caller.identity.userName,
        });
        return this.#view(row);
      },
    );
  }

  /**
   * CreateCluster (ACK's "Create Kubernetes Cluster"): a managed atrest apiserver and, with
   * `encryption_provider_key`, a plugin on that key as the service role, so the cluster's Secrets are
   * encrypted from the first write. The caller becomes its administrator.
   */
  async createCluster(
    caller: Caller,
    req: { readonly name: string; readonly regionId?: string; readonly kmsKeyId?: string },
  ): Promise<ClusterView> {
    const regionId = req.regionId ?? this.#o.regionId;
    return this.#audited(
      caller,
      "CreateCluster",
      { regionId },
      { name: req.name, region_id: regionId, encryption_provider_key: req.kmsKeyId ?? "" },
      async () => {
        await this.#allow(caller, "CreateCluster", `acs:cs:${regionId}:${this.#o.accountId}:cluster/*`);
        const managed = this.#o.managed;
        if (managed === undefined)
          throw csError("ErrorCheckAcl", "this control plane does not run managed clusters; register one");
        if (regionId !== this.#o.regionId)
          throw csError("ErrorRegionMismatch", `region_id: clusters are created in ${this.#o.regionId}`);
        if (!/^[\p{L}\p{N}][\p{L}\p{N}_-]{0,62}$/u.test(req.name))
          throw csError(
            "InvalidParameter",
            "name: 1-63 letters, digits, '_' and '-', starting with a letter or digit",
          );
        if ((await this.store.getClusterByName(req.name)) !== undefined)
          throw csError("ErrorClusterAlreadyExists", `a cluster named ${req.name} exists already`);
        const keyId = (req.kmsKeyId ?? "").trim();
        if (keyId !== "") {
          if (!KEY_ID_PATTERN.test(keyId))
            throw csError("InvalidParameter", "encryption_provider_key: a KMS key id or alias");
          await this.#assertServiceRole();
        }
        const clusterId = `c${this.#random.bytes(16).toString("hex")}`;
        const info = await managed
          .create({ clusterId, name: req.name, ...(keyId === "" ? {} : { kmsKeyId: keyId }) })
          .catch((err: unknown) => {
            const reason = err instanceof AtrestError ? reasonOf(err, "") : "";
            throw csError(
              /key/i.test(reason) ? "ErrorKMSKeyInvalid" : "ErrorCheckAcl",
              err instanceof Error ? err.message : String(err),
              { cause: err },
            );
          });
        const now = this.#clock.now();
        const row: ClusterRow = {
          cluster_id: clusterId,
          name: req.name,
          region_id: regionId,
          cluster_file: info.clusterFile,
          state: "running",
          kms_key_id: info.plugins[0]?.keyId ?? "",
          disable_encryption: info.plugins.length === 0 ? 1 : 0,
          current_task_id: null,
          failure_reason: "",
          last_change_at: 0,
          created_by: caller.identity.userName,
          created_at: now,
          updated_at: now,
        };
        try {
          await this.store.insertCluster(row);
        } catch (err) {
          await managed.delete(clusterId).catch(() => undefined);
          throw csError("ErrorClusterAlreadyExists", `a cluster named ${req.name} exists already`, {
            cause: err,
          });
        }
        await this.store.grantRole(clusterId, caller.identity.principal, "admin", "creation", now);
        await this.#event(clusterId, "", {
          type: "cluster_create",
          reason: "CreateCluster",
          message: `${caller.identity.userName} created ${req.name} (${row.kms_key_id === "" ? "Secret encryption off" : `Secrets encrypted with ${row.kms_key_id} from the first write`})`,
          source: caller.identity.userName,
        });
        return this.#view(row);
      },
    );
  }

  /**
   * DeleteCluster: a managed cluster is stopped, its data removed and its keys released; a registered
   * one is only forgotten (its apiservers are not ours). Refused while a change runs.
   */
  async deleteCluster(caller: Caller, clusterId: string): Promise<void> {
    return this.#audited(
      caller,
      "DeleteCluster",
      { regionId: this.#o.regionId, clusterId },
      { ClusterId: clusterId },
      async () => {
        const row = await this.#allowedCluster(caller, "DeleteCluster", clusterId);
        if (row.state === "updating")
          throw csError(
            "ErrorClusterStateConflict",
            `cluster ${clusterId} is updating; delete it when it is running`,
          );
        const managed = this.#o.managed;
        const released =
          managed?.info(clusterId) === undefined ? [] : (await managed.delete(clusterId)).keysReleased;
        await this.store.deleteCluster(clusterId);
        await this.#event(clusterId, "", {
          type: "cluster_delete",
          reason: "DeleteCluster",
          message: `${caller.identity.userName} deleted ${row.name}${released.length === 0 ? "" : ` (KMS keys released: ${released.join(", ")})`}`,
          source: caller.identity.userName,
        });
      },
    );
  }

  /** The KMS key the cluster's Secrets are written with now ("" when none), from the engine's status. */
  async #currentEncryption(spec: ClusterSpec): Promise<{ kmsKeyId: string }> {
    let engine: ClusterEngine | undefined;
    try {
      engine = this.#o.engines(spec, { progress: () => undefined, owner: this.instanceId });
      const status = await engine.ops.status();
      const secrets = status.resources["secrets"] ?? Object.values(status.resources)[0];
      const kms = secrets !== undefined && secrets.writer.startsWith("kms");
      return { kmsKeyId: kms ? (status.key?.id ?? secrets.keyId ?? "") : "" };
    } catch (err) {
      throw csError(
        "ErrorCheckAcl",
        `cannot read the encryption state of ${spec.name}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    } finally {
      engine?.close();
    }
  }

  async updateKmsEncryption(
    caller: Caller,
    clusterId: string,
    req: UpdateKmsEncryptionRequest,
  ): Promise<{ taskId: string }> {
    return this.#audited(
      caller,
      "UpdateKMSEncryption",
      { regionId: this.#o.regionId, clusterId },
      { ClusterId: clusterId, disable_encryption: req.disableEncryption, kms_key_id: req.kmsKeyId ?? "" },
      () => this.#updateKmsEncryption(caller, clusterId, req),
    );
  }

  async #updateKmsEncryption(
    caller: Caller,
    clusterId: string,
    req: UpdateKmsEncryptionRequest,
  ): Promise<{ taskId: string }> {
    const row = await this.#allowedCluster(caller, "UpdateKMSEncryption", clusterId);
    const role = await this.#roleOf(caller, clusterId);
    if (role !== "admin" && role !== "ops")
      throw csError(
        "ForbiddenUpdateKMSState",
        `${caller.identity.userName} needs the administrator or O&M engineer role on cluster ${clusterId} to change Secret encryption${role === undefined ? " (it has no role there)" : ` (it is ${role})`}`,
      );
    const keyId = (req.kmsKeyId ?? "").trim();
    if (!req.disableEncryption && keyId === "")
      throw csError("MissingParameter", "kms_key_id: required to enable Secret encryption");
    if (!req.disableEncryption && !KEY_ID_PATTERN.test(keyId))
      throw csError(
        "InvalidParameter",
        "kms_key_id: a KMS key id, alias or ARN (1-256 printable characters)",
      );
    if (!req.disableEncryption) await this.#assertServiceRole();
    this.#assertChangeable(row);
    const wanted = req.disableEncryption ? { kmsKeyId: "" } : { kmsKeyId: keyId };
    if (
      row.state === "running" &&
      (req.disableEncryption ? row.disable_encryption === 1 : row.kms_key_id === keyId)
    )
      throw csError(
        "ErrorClusterStateConflict",
        req.disableEncryption
          ? `Secret encryption of cluster ${clusterId} is off already`
          : `the Secrets of cluster ${clusterId} are encrypted with ${keyId} already`,
      );
    const request: OperationRequest = req.disableEncryption
      ? { type: "disable" }
      : { type: "enable", keyId: wanted.kmsKeyId };
    // A managed cluster gets a plugin for the key first (preflight looks for one that serves it).
    if (!req.disableEncryption && this.#o.managed?.info(clusterId) !== undefined)
      await this.#o.managed.addKeyPlugin(clusterId, keyId).catch((err: unknown) => {
        throw csError("ErrorKMSKeyInvalid", err instanceof Error ? err.message : String(err), { cause: err });
      });
    await this.#preflight(row, request);
    const now = this.#clock.now();
    const task: TaskRow = {
      task_id: `T-${this.#random.bytes(12).toString("hex")}`,
      cluster_id: clusterId,
      task_type: req.disableEncryption ? "kms_encryption_disable" : "kms_encryption_enable",
      state: "running",
      request: JSON.stringify({ ...request, replaceUnfinished: row.state === "failed" }),
      stages: JSON.stringify(stagesOf(request.type as "enable" | "disable")),
      current_stage: "preflight",
      operation_id: "",
      error_code: "",
      error_message: "",
      created_by: caller.identity.userName,
      created_at: now,
      updated_at: now,
      finished_at: null,
      lease_owner: this.instanceId,
      lease_expires_at: now + this.#leaseMs,
    };
    if (!(await this.store.beginChange(clusterId, task, now - this.#cooldownMs))) {
      this.#assertChangeable((await this.store.getCluster(clusterId)) ?? row);
      throw csError("ErrorClusterStateConflict", `cluster ${clusterId} changed meanwhile; try again`);
    }
    await this.#event(clusterId, task.task_id, {
      type: "cluster_configuration_modify",
      reason: "UpdateKMSEncryption",
      message: `${caller.identity.userName} asked to ${req.disableEncryption ? "disable Secret encryption" : `encrypt Secrets with KMS key ${keyId}`} (task ${task.task_id})`,
      source: caller.identity.userName,
    });
    this.#drive(task.task_id, false);
    return { taskId: task.task_id };
  }

  /** 409 while a change runs and within the cool-down after one (ACK). */
  #assertChangeable(row: ClusterRow): void {
    if (row.state === "updating")
      throw csError(
        "ErrorClusterStateConflict",
        `cluster ${row.cluster_id} is updating (task ${row.current_task_id ?? "?"}); wait until it is running`,
      );
    if (row.state !== "running" && row.state !== "failed")
      throw csError("ErrorClusterStateConflict", `cluster ${row.cluster_id} is ${row.state}`);
    const until = row.last_change_at + this.#cooldownMs;
    if (row.last_change_at > 0 && this.#clock.now() < until)
      throw csError(
        "ErrorClusterStateConflict",
        `cluster ${row.cluster_id} changed at ${new Date(row.last_change_at).toISOString()}; wait until ${new Date(until).toISOString()} before changing its Secret encryption again`,
        { details: { retryAfterMs: until - this.#clock.now() } },
      );
  }

  async #assertServiceRole(): Promise<void> {
    const role = await this.#o.identity.findRole(CS_SERVICE_ROLE);
    const attached =
      role === undefined
        ? []
        : (await this.#o.identity.listAttachedPolicies(role.principal_name)).map((p) => p.name);
    if (role === undefined || !attached.includes(CS_SERVICE_ROLE_POLICY))
      throw csError(
        "ErrorRamRoleNotAuthorized",
        `the service role ${CS_SERVICE_ROLE} ${role === undefined ? "does not exist" : `lacks ${CS_SERVICE_ROLE_POLICY}`}: authorize it first (quick authorization: \`atrest iam quick-authorize\`, or create the role trusting cs.aliyuncs.com with ${CS_SERVICE_ROLE_POLICY})`,
      );
  }

  /** Preflight before answering: an unusable key or an unconverged cluster is refused, nothing changed. */
  async #preflight(row: ClusterRow, request: OperationRequest): Promise<void> {
    let spec: ClusterSpec;
    try {
      spec = loadClusterFile(row.cluster_file);
    } catch (err) {
      throw csError(
        "ErrorCheckAcl",
        `cluster ${row.cluster_id}: ${err instanceof Error ? err.message : String(err)}`,
        {
          cause: err,
        },
      );
    }
    const engine = this.#o.engines(spec, { progress: () => undefined, owner: this.instanceId });
    try {
      const plan = await engine.ops.plan(request);
      const first = plan.blockers.find((b) => !/busy|unfinished|InProgress/i.test(b.reason));
      if (first !== undefined)
        throw csError(/key/i.test(first.reason) ? "ErrorKMSKeyInvalid" : "ErrorCheckAcl", first.message, {
          details: { reason: first.reason },
        });
    } catch (err) {
      if (err instanceof AtrestError && typeof err.details["acsCode"] === "string") throw err;
      const reason = err instanceof AtrestError ? reasonOf(err, "") : "";
      throw csError(
        /key/i.test(reason) || (err instanceof AtrestError && err.code === "not-found")
          ? "ErrorKMSKeyInvalid"
          : "ErrorCheckAcl",
        err instanceof Error ? err.message : String(err),
        { cause: err },
      );
    } finally {
      engine.close();
    }
  }

  async #event(
    clusterId: string,
    taskId: string,
    e: { type: string; reason: string; message: string; source: string; level?: "Normal" | "Warning" },
  ): Promise<void> {
    await this.store.addEvent({
      event_id: `E-${this.#random.bytes(12).toString("hex")}`,
      cluster_id: clusterId,
      task_id: taskId,
      time: this.#clock.now(),
      type: e.type,
      level: e.level ?? "Normal",
      reason: e.reason,
      message: e.message,
      source: e.source,
    });
  }

  // ---- driving a task ----

  #drive(taskId: string, takeover: boolean): void {
    const run = this.#run(taskId, takeover)
      .catch((err: unknown) =>
        this.#logger.error({ taskId, err: err instanceof Error ? err.message : String(err) }, "task stopped"),
      )
      .finally(() => this.#driving.delete(taskId));
    this.#driving.set(taskId, run);
  }

  async #run(taskId: string, takeover: boolean): Promise<void> {
    const now = this.#clock.now();
    if (!(await this.store.leaseTask(taskId, this.instanceId, now, now + this.#leaseMs))) return;
    const task = await this.store.getTask(taskId);
    if (task === undefined) return;
    const cluster = await this.#cluster(task.cluster_id);
    const request = JSON.parse(task.request) as OperationRequest & { replaceUnfinished?: boolean };
    const stages = JSON.parse(task.stages) as TaskStage[];
    let currentStage = task.current_stage;
    let dirty = false;
    const progress = (e: ProgressEvent): void => {
      if (e.event !== "stage") return;
      const s = stages.find((x) => x.name === e.stage);
      if (s === undefined) return;
      const t = this.#clock.now();
      Object.assign(s, {
        state: e.state === "started" ? "running" : e.state,
        ...(e.state === "started" ? { startedAt: t } : { finishedAt: t }),
        ...(e.message === undefined ? {} : { message: e.message }),
      });
      currentStage = e.stage;
      dirty = true;
    };
    let renewTimer: Timer | undefined;
    const renew = (): void => {
      renewTimer = this.#clock.setTimeout(
        () => {
          if (this.#closed) return;
          const t = this.#clock.now();
          const patch = dirty
            ? { stages: JSON.stringify(stages), current_stage: currentStage, updated_at: t }
            : {};
          dirty = false;
          this.store
            .updateTask(taskId, patch)
            .then(() => this.store.leaseTask(taskId, this.instanceId, t, t + this.#leaseMs))
            .catch((err: unknown) =>
              this.#logger.warn(
                { taskId, err: err instanceof Error ? err.message : String(err) },
                "lease renewal failed",
              ),
            )
            .finally(renew);
        },
        Math.max(50, Math.floor(this.#leaseMs / 3)),
      );
      renewTimer.unref?.();
    };
    renew();
    let engine: ClusterEngine | undefined;
    let record: OperationRecord | undefined;
    let failure: unknown;
    try {
      engine = this.#o.engines(loadClusterFile(cluster.cluster_file), { progress, owner: this.instanceId });
      if (takeover) {
        // The instance that started it is gone (its lease expired): go on from the stage it reached, or
        // start it if it died before the engine recorded anything.
        const status = await engine.ops.status();
        const op = status.operation;
        record =
          op !== null && op.state !== "Succeeded" && (task.operation_id === "" || op.id === task.operation_id)
            ? await engine.ops.resume({ force: true })
            : op !== null && op.id === task.operation_id
              ? op
              : await engine.ops.start(request, { force: true });
      } else {
        record = await engine.ops.start(request, { force: request.replaceUnfinished === true });
      }
    } catch (err) {
      failure = err;
    } finally {
      if (renewTimer !== undefined) this.#clock.clearTimeout(renewTimer);
      engine?.close();
    }
    if (this.#closed) return; // the next instance resumes it from the cluster's record
    await this.#finish(task, cluster, request, stages, record, failure);
  }

  async #finish(
    task: TaskRow,
    cluster: ClusterRow,
    request: OperationRequest,
    stages: TaskStage[],
    record: OperationRecord | undefined,
    failure: unknown,
  ): Promise<void> {
    const now = this.#clock.now();
    const finalStages: TaskStage[] =
      record === undefined
        ? stages
        : record.stages.map((s) => ({
            name: s.name,
            state: s.state,
            ...(toIsoMs(s.startedAt) === undefined ? {} : { startedAt: toIsoMs(s.startedAt)! }),
            ...(toIsoMs(s.finishedAt) === undefined ? {} : { finishedAt: toIsoMs(s.finishedAt)! }),
            ...(s.message === undefined ? {} : { message: s.message }),
          }));
    if (failure === undefined && record !== undefined && record.state === "Succeeded") {
      const keyId = request.type === "enable" ? (record.target.keyId ?? request.keyId ?? "") : "";
      await this.store.updateTask(task.task_id, {
        state: "success",
        stages: JSON.stringify(finalStages),
        current_stage: record.stage,
        operation_id: record.id,
        updated_at: now,
        finished_at: now,
      });
      await this.store.updateCluster(cluster.cluster_id, {
        state: "running",
        kms_key_id: keyId,
        disable_encryption: request.type === "enable" ? 0 : 1,
        failure_reason: "",
        last_change_at: now,
        updated_at: now,
      });
      await this.#event(cluster.cluster_id, task.task_id, {
        type: "cluster_configuration_modify",
        reason: "UpdateKMSEncryptionSucceeded",
        message:
          request.type === "enable"
            ? `Secrets are encrypted with KMS key ${keyId} (${record.progress.rewritten} rewritten, verified ${record.verify?.underTarget ?? 0}/${record.verify?.total ?? 0})`
            : `Secret encryption is off (${record.progress.rewritten} rewritten, verified ${record.verify?.underTarget ?? 0}/${record.verify?.total ?? 0})`,
        source: "atrest-control-plane",
      });
      return;
    }
    const err =
      failure ?? new AtrestError("internal", `the operation ended ${record?.state ?? "without a record"}`);
    const code = err instanceof AtrestError ? reasonOf(err, err.code) : "internal";
    const message = err instanceof Error ? err.message : "the operation failed";
    await this.store.updateTask(task.task_id, {
      state: "fail",
      stages: JSON.stringify(finalStages),
      error_code: code,
      error_message: message,
      updated_at: now,
      finished_at: now,
      ...(record === undefined ? {} : { operation_id: record.id }),
    });
    // No cool-down after a failure: the caller fixes the cause and asks again at once.
    await this.store.updateCluster(cluster.cluster_id, {
      state: "failed",
      failure_reason: message,
      updated_at: now,
    });
    await this.#event(cluster.cluster_id, task.task_id, {
      type: "cluster_configuration_modify",
      reason: "UpdateKMSEncryptionFailed",
      level: "Warning",
      message,
      source: "atrest-control-plane",
    });
  }
}

export function taskView(task: TaskRow): TaskView {
  return {
    taskId: task.task_id,
    clusterId: task.cluster_id,
    type: task.task_type,
    state: task.state as TaskView["state"],
    currentStage: task.current_stage,
    stages: JSON.parse(task.stages) as TaskStage[],
    error: task.error_code === "" ? undefined : { code: task.error_code, message: task.error_message },
    createdBy: task.created_by,
    createdAt: Number(task.created_at),
    updatedAt: Number(task.updated_at),
    finishedAt: task.finished_at === null ? undefined : Number(task.finished_at),
  };
}
