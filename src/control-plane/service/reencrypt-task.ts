import type { CallerIdentity } from "../../iam/index.js";
import type { StartResult } from "../auto-reencrypt/index.js";
import type { TaskRow } from "../store/cluster-store.js";
import { recordCsCall } from "./audit.js";
import { recordClusterEvent, type ServiceContext } from "./context.js";
import type { TaskRunner } from "./task-runner.js";
import { stagesOf } from "./views.js";

/** The control plane's own name in the cluster events and the audit trail of what it starts. */
export const CONTROL_PLANE_SOURCE = "atrest-control-plane";

/**
 * An automatic re-encrypt, started as a task the way UpdateKMSEncryption starts one: the cluster goes
 * `updating` in the same conditional step (only from `running`, never inside the cool-down after a
 * change), so a caller's UpdateKMSEncryption meanwhile gets 409 and one after it waits the cool-down;
 * the task runner drives it under its lease, and another instance resumes it. Recorded as a cluster
 * event and an ActionTrail event by the service itself, naming why (`startedBy`).
 */
export async function startReencryptTask(
  ctx: ServiceContext,
  runner: TaskRunner,
  clusterId: string,
  startedBy: string,
  why: string,
  /** The control plane's own identity (the service principal), recorded as who called. */
  service: CallerIdentity,
): Promise<StartResult> {
  const row = await ctx.store.getCluster(clusterId);
  if (row === undefined)
    return { started: false, reason: "ClusterNotRunning", message: "the cluster is gone" };
  if (row.state !== "running")
    return { started: false, reason: "ClusterNotRunning", message: `the cluster is ${row.state}` };
  const now = ctx.clock.now();
  const until = row.last_change_at + ctx.cooldownMs;
  if (row.last_change_at > 0 && now < until)
    return {
      started: false,
      reason: "ChangeNotAllowed",
      message: `the cluster changed at ${new Date(row.last_change_at).toISOString()}; re-encrypting after the cool-down (${new Date(until).toISOString()})`,
    };
  const task: TaskRow = {
    task_id: `T-${ctx.random.bytes(12).toString("hex")}`,
    cluster_id: clusterId,
    task_type: "kms_encryption_reencrypt",
    state: "running",
    request: JSON.stringify({ type: "reencrypt" }),
    stages: JSON.stringify(stagesOf("reencrypt")),
    current_stage: "preflight",
    operation_id: "",
    error_code: "",
    error_message: "",
    created_by: startedBy,
    created_at: now,
    updated_at: now,
    finished_at: null,
    lease_owner: ctx.instanceId,
    lease_expires_at: now + ctx.leaseMs,
  };
  if (!(await ctx.store.beginChange(clusterId, task, now - ctx.cooldownMs)))
    return { started: false, reason: "ChangeNotAllowed", message: "another change began meanwhile" };
  await recordClusterEvent(ctx, clusterId, task.task_id, {
    type: "cluster_configuration_modify",
    reason: "AutoReencrypt",
    message: `${startedBy}: ${why} (task ${task.task_id})`,
    source: CONTROL_PLANE_SOURCE,
  });
  await recordCsCall(
    ctx.idb,
    {
      identity: service,
      sourceIp: "127.0.0.1",
      requestId: task.task_id,
      userAgent: CONTROL_PLANE_SOURCE,
      via: "cli",
    },
    {
      eventName: "AutoReencrypt",
      readOnly: false,
      regionId: row.region_id,
      accountId: ctx.accountId,
      resourceName: clusterId,
      requestParameters: { ClusterId: clusterId, TaskId: task.task_id, reason: startedBy },
    },
    now,
  ).catch((err: unknown) => ctx.logger.warn({ clusterId, err: String(err) }, "auto re-encrypt not audited"));
  runner.drive(task.task_id, false);
  return { started: true, taskId: task.task_id };
}
