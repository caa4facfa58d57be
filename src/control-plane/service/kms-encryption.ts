import { AtrestError } from "../../common/errors.js";
import { CS_SERVICE_ROLE, CS_SERVICE_ROLE_POLICY } from "../../iam/index.js";
import { loadClusterFile, type ClusterSpec, type OperationRequest } from "../../operations/index.js";
import { csError } from "../cs/cs-error.js";
import type { ClusterRow, TaskRow } from "../store/cluster-store.js";
import { allowedCluster, roleOf } from "./authorize.js";
import { errorText, reasonOf, recordClusterEvent, type ServiceContext } from "./context.js";
import type { TaskRunner } from "./task-runner.js";
import type { Caller, TaskStage, UpdateKmsEncryptionRequest } from "./types.js";
import { stagesOf } from "./views.js";

/**
 * UpdateKMSEncryption: who may (RAM on the cluster, then the administrator or O&M engineer role), what
 * (a usable key, the service role authorized), when (not while a change runs, nor inside the cool-down
 * after one: 409), and a preflight of the engine's plan — all before anything changes; then the task
 * is recorded with the cluster set `updating` in one step and driven in the background.
 */

export const KEY_ID_PATTERN = /^[\x21-\x7e]{1,256}$/;

export async function startKmsEncryptionChange(
  ctx: ServiceContext,
  runner: TaskRunner,
  caller: Caller,
  clusterId: string,
  req: UpdateKmsEncryptionRequest,
): Promise<{ taskId: string }> {
  const row = await allowedCluster(ctx, caller, "UpdateKMSEncryption", clusterId);
  const role = await roleOf(ctx, caller, clusterId);
  if (role !== "admin" && role !== "ops")
    throw csError(
      "ForbiddenUpdateKMSState",
      `${caller.identity.userName} needs the administrator or O&M engineer role on cluster ${clusterId} to change Secret encryption${role === undefined ? " (it has no role there)" : ` (it is ${role})`}`,
    );
  const keyId = (req.kmsKeyId ?? "").trim();
  if (!req.disableEncryption && keyId === "")
    throw csError("MissingParameter", "kms_key_id: required to enable Secret encryption");
  if (!req.disableEncryption && !KEY_ID_PATTERN.test(keyId))
    throw csError("InvalidParameter", "kms_key_id: a KMS key id, alias or ARN (1-256 printable characters)");
  if (!req.disableEncryption) await assertServiceRole(ctx);
  assertChangeable(ctx, row);
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
  const request: OperationRequest = req.disableEncryption ? { type: "disable" } : { type: "enable", keyId };
  // A managed cluster gets a plugin for the key first (preflight looks for one that serves it).
  if (!req.disableEncryption && ctx.managed?.info(clusterId) !== undefined)
    await ctx.managed.addKeyPlugin(clusterId, keyId).catch((err: unknown) => {
      throw csError("ErrorKMSKeyInvalid", err instanceof Error ? err.message : String(err), { cause: err });
    });
  await preflight(ctx, row, request);
  // After a failure, asking for the same change again goes on from where it stopped (the engine's
  // record keeps the stage and the rewrite's cursor); another change replaces the failed one.
  const failed =
    row.state === "failed" && row.current_task_id !== null
      ? await ctx.store.getTask(row.current_task_id)
      : undefined;
  const resume = failed !== undefined && failed.state === "fail" && sameChange(failed, request);
  const now = ctx.clock.now();
  const task: Omit<TaskRow, "lease_expires_at"> = {
    task_id: `T-${ctx.random.bytes(12).toString("hex")}`,
    cluster_id: clusterId,
    task_type: req.disableEncryption ? "kms_encryption_disable" : "kms_encryption_enable",
    state: "running",
    request: JSON.stringify({
      ...request,
      ...(resume ? { resumeFailed: true } : { replaceUnfinished: row.state === "failed" }),
    }),
    // A resumed change shows the stages (and the rewrite's progress) it reached before it stopped.
    stages: JSON.stringify(
      resume ? resumedStages(failed.stages) : stagesOf(req.disableEncryption ? "disable" : "enable"),
    ),
    current_stage: resume ? failed.current_stage : "preflight",
    operation_id: "",
    error_code: "",
    error_message: "",
    created_by: caller.identity.userName,
    created_at: now,
    updated_at: now,
    finished_at: null,
    lease_owner: ctx.instanceId,
  };
  if (!(await ctx.store.beginChange(clusterId, task, now - ctx.cooldownMs, ctx.leaseMs))) {
    assertChangeable(ctx, (await ctx.store.getCluster(clusterId)) ?? row);
    throw csError("ErrorClusterStateConflict", `cluster ${clusterId} changed meanwhile; try again`);
  }
  await recordClusterEvent(ctx, clusterId, task.task_id, {
    type: "cluster_configuration_modify",
    reason: "UpdateKMSEncryption",
    message: `${caller.identity.userName} asked to ${req.disableEncryption ? "disable Secret encryption" : `encrypt Secrets with KMS key ${keyId}`} (task ${task.task_id}${resume ? `, resuming task ${failed.task_id} from stage ${failed.current_stage}` : ""})`,
    source: caller.identity.userName,
  });
  runner.drive(task.task_id, false);
  return { taskId: task.task_id };
}

/** The failed task's stages as the resumed task starts: the failed one pending again, no stale pace. */
function resumedStages(json: string): TaskStage[] {
  return (JSON.parse(json) as TaskStage[]).map((s) => ({
    ...(s.state === "failed" ? { name: s.name, state: "pending" as const } : s),
    ...(s.progress === undefined ? {} : { progress: { ...s.progress, ratePerSecond: 0, etaSeconds: null } }),
  }));
}

/** Whether a failed task asked for `request` (the same type, and for enable the same key). */
function sameChange(task: TaskRow, request: OperationRequest): boolean {
  const asked = JSON.parse(task.request) as OperationRequest;
  if (asked.type !== request.type) return false;
  return asked.type !== "enable" || request.type !== "enable" || asked.keyId === request.keyId;
}

/** 409 while a change runs and within the cool-down after one (ACK). */
function assertChangeable(ctx: ServiceContext, row: ClusterRow): void {
  if (row.state === "updating")
    throw csError(
      "ErrorClusterStateConflict",
      `cluster ${row.cluster_id} is updating (task ${row.current_task_id ?? "?"}); wait until it is running`,
    );
  if (row.state !== "running" && row.state !== "failed")
    throw csError("ErrorClusterStateConflict", `cluster ${row.cluster_id} is ${row.state}`);
  const until = row.last_change_at + ctx.cooldownMs;
  if (row.last_change_at > 0 && ctx.clock.now() < until)
    throw csError(
      "ErrorClusterStateConflict",
      `cluster ${row.cluster_id} changed at ${new Date(row.last_change_at).toISOString()}; wait until ${new Date(until).toISOString()} before changing its Secret encryption again`,
      { details: { retryAfterMs: until - ctx.clock.now() } },
    );
}

/** Enabling needs ACK's service role with its policy (quick authorization), or says what to authorize. */
export async function assertServiceRole(ctx: ServiceContext): Promise<void> {
  const role = await ctx.identity.findRole(CS_SERVICE_ROLE);
  const attached =
    role === undefined
      ? []
      : (await ctx.identity.listAttachedPolicies(role.principal_name)).map((p) => p.name);
  if (role === undefined || !attached.includes(CS_SERVICE_ROLE_POLICY))
    throw csError(
      "ErrorRamRoleNotAuthorized",
      `the service role ${CS_SERVICE_ROLE} ${role === undefined ? "does not exist" : `lacks ${CS_SERVICE_ROLE_POLICY}`}: authorize it first (quick authorization: \`atrest iam quick-authorize\`, or create the role trusting cs.aliyuncs.com with ${CS_SERVICE_ROLE_POLICY})`,
    );
}

/** Preflight before answering: an unusable key or an unconverged cluster is refused, nothing changed. */
async function preflight(ctx: ServiceContext, row: ClusterRow, request: OperationRequest): Promise<void> {
  let spec: ClusterSpec;
  try {
    spec = loadClusterFile(row.cluster_file);
  } catch (err) {
    throw csError("ErrorCheckAcl", `cluster ${row.cluster_id}: ${errorText(err)}`, { cause: err });
  }
  const engine = ctx.engines(spec, { progress: () => undefined, owner: ctx.instanceId });
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
      errorText(err),
      { cause: err },
    );
  } finally {
    engine.close();
  }
}
