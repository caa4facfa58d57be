import type { Timer } from "../../common/clock.js";
import { AtrestError } from "../../common/errors.js";
import {
  loadClusterFile,
  type OperationRecord,
  type OperationRequest,
  type ProgressEvent,
} from "../../operations/index.js";
import type { ClusterRow, TaskRow } from "../store/cluster-store.js";
import { requireCluster } from "./authorize.js";
import { clusterEventRow, errorText, reasonOf, recordClusterEvent, type ServiceContext } from "./context.js";
import type { ClusterEngine } from "./engine-port.js";
import { CoalescingWriter } from "./progress-writer.js";
import type { TaskStage } from "./types.js";

function toIsoMs(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Drives UpdateKMSEncryption tasks: src/operations' engine in the background under a lease kept in the
 * database (renewed while it runs), stage progress persisted, the cluster set running or failed at the
 * end. A task whose lease expired (its instance died or stopped) is taken over and resumed from the
 * stage the engine recorded.
 */
export class TaskRunner {
  readonly #ctx: ServiceContext;
  readonly #driving = new Map<string, Promise<void>>();
  #sweepTimer: Timer | undefined;
  #closed = false;

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx;
  }

  /** Takes over tasks nobody drives (a restart resumes its own), then keeps looking for orphans. */
  async start(): Promise<void> {
    await this.sweepOrphans();
    this.#scheduleSweep();
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    this.#sweepTimer = this.#ctx.clock.setTimeout(() => {
      this.sweepOrphans()
        .catch((err: unknown) => this.#ctx.logger.warn({ err: errorText(err) }, "task sweep failed"))
        .finally(() => this.#scheduleSweep());
    }, this.#ctx.leaseMs);
    this.#sweepTimer.unref?.();
  }

  /** Resumes every running task whose lease expired. */
  async sweepOrphans(): Promise<void> {
    for (const task of await this.#ctx.store.orphanedTasks(this.#ctx.clock.now())) {
      if (this.#closed || this.#driving.has(task.task_id)) continue;
      this.drive(task.task_id, true);
    }
  }

  /** Stops driving (tasks in flight keep their state and are resumed by the next instance to look). */
  close(): void {
    this.#closed = true;
    if (this.#sweepTimer !== undefined) this.#ctx.clock.clearTimeout(this.#sweepTimer);
  }

  /** Resolves when every task this instance drives now has stopped (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#driving.size > 0) await Promise.allSettled([...this.#driving.values()]);
  }

  /** Runs the task in the background; `takeover` when another instance (or an earlier run) began it. */
  drive(taskId: string, takeover: boolean): void {
    const run = this.#run(taskId, takeover)
      .catch((err: unknown) => this.#ctx.logger.error({ taskId, err: errorText(err) }, "task stopped"))
      .finally(() => this.#driving.delete(taskId));
    this.#driving.set(taskId, run);
  }

  async #run(taskId: string, takeover: boolean): Promise<void> {
    const ctx = this.#ctx;
    const me = ctx.instanceId;
    const before = await ctx.store.getTask(taskId);
    if (before?.state !== "running") return;
    const now = ctx.clock.now();
    if (!(await ctx.store.leaseTask(taskId, me, now, now + ctx.leaseMs))) return;
    const task = await ctx.store.getTask(taskId);
    if (task === undefined) return;
    const cluster = await requireCluster(ctx, task.cluster_id);
    if (takeover) {
      const from =
        before.lease_owner === me ? "this instance's earlier run" : `instance ${before.lease_owner}`;
      await recordClusterEvent(ctx, cluster.cluster_id, taskId, {
        type: "cluster_configuration_modify",
        reason: "UpdateKMSEncryptionTakenOver",
        message: `instance ${me} took over task ${taskId} from ${from} (its lease expired at ${new Date(before.lease_expires_at).toISOString()}); resuming at stage ${task.current_stage}`,
        source: "atrest-control-plane",
      });
    }
    // Every write below is fenced on the lease: once another instance holds it, this one records nothing.
    let lost = false;
    const leaseLost = (): void => {
      if (lost) return;
      lost = true;
      ctx.logger.warn({ taskId, instanceId: me }, "task lease lost to another instance");
    };
    const request = JSON.parse(task.request) as OperationRequest & {
      replaceUnfinished?: boolean;
      resumeFailed?: boolean;
    };
    const stages = JSON.parse(task.stages) as TaskStage[];
    let currentStage = task.current_stage;
    // Stages and the rewrite's progress reach the database at most once a second, coalesced (the
    // console's live bar and DescribeTaskInfo read them there), fenced on the lease like every write
    // here; the lease is renewed on its own timer.
    const writer = new CoalescingWriter({
      clock: ctx.clock,
      write: () =>
        ctx.store
          .updateHeldTask(taskId, me, {
            stages: JSON.stringify(stages),
            current_stage: currentStage,
            updated_at: ctx.clock.now(),
          })
          .then((held) => void (held || leaseLost())),
      onError: (err) => ctx.logger.warn({ taskId, err: errorText(err) }, "task progress not kept"),
    });
    const progress = (e: ProgressEvent): void => {
      if (e.event === "operation" && e.state === "started") {
        // Kept at once: an instance taking over tells "this task's operation finished" from "none yet".
        ctx.store
          .updateHeldTask(taskId, me, { operation_id: e.id })
          .then((held) => held || leaseLost())
          .catch((err: unknown) => ctx.logger.warn({ taskId, err: errorText(err) }, "operation id not kept"));
        return;
      }
      if (e.event === "progress") {
        const rewrite = stages.find((x) => x.name === e.stage);
        if (rewrite === undefined) return;
        Object.assign(rewrite, {
          progress: {
            total: e.total,
            done: e.rewritten + e.unchanged + e.skippedDeleted,
            rewritten: e.rewritten,
            remaining: e.remaining,
            ratePerSecond: e.ratePerSecond,
            etaSeconds: e.etaSeconds,
          },
        });
        writer.touch();
        return;
      }
      if (e.event !== "stage") return;
      const s = stages.find((x) => x.name === e.stage);
      if (s === undefined) return;
      const t = ctx.clock.now();
      Object.assign(s, {
        state: e.state === "started" ? "running" : e.state,
        ...(e.state === "started" ? { startedAt: t } : { finishedAt: t }),
        ...(e.message === undefined ? {} : { message: e.message }),
      });
      currentStage = e.stage;
      writer.touch();
    };
    let renewTimer: Timer | undefined;
    const renew = (): void => {
      renewTimer = ctx.clock.setTimeout(
        () => {
          if (this.#closed || lost) return;
          const t = ctx.clock.now();
          // A conditional UPDATE: false once another instance holds the lease.
          ctx.store
            .updateHeldTask(taskId, me, { lease_expires_at: t + ctx.leaseMs })
            .then((held) => held || leaseLost())
            .catch((err: unknown) => ctx.logger.warn({ taskId, err: errorText(err) }, "lease renewal failed"))
            .finally(renew);
        },
        Math.max(50, Math.floor(ctx.leaseMs / 3)),
      );
      renewTimer.unref?.();
    };
    renew();
    let engine: ClusterEngine | undefined;
    let record: OperationRecord | undefined;
    let failure: unknown;
    try {
      engine = ctx.engines(loadClusterFile(cluster.cluster_file), { progress, owner: me });
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
      } else if (request.resumeFailed === true) {
        // Retry of a failed change: resume the engine's operation from its stage and cursor. The task
        // lease serializes the control plane's drivers; the stopped operation may still show the lease
        // it could not release (the failure cut it off from the cluster), hence force.
        const op = (await engine.ops.status()).operation;
        record =
          op !== null && op.state !== "Succeeded" && op.type === request.type
            ? await engine.ops.resume({ force: true })
            : await engine.ops.start(request, { force: true });
      } else {
        record = await engine.ops.start(request, { force: request.replaceUnfinished === true });
      }
    } catch (err) {
      failure = err;
    } finally {
      if (renewTimer !== undefined) ctx.clock.clearTimeout(renewTimer);
      engine?.close();
      // The last progress is written before the final state (never after it, over it).
      await writer.flush();
      writer.close();
    }
    if (this.#closed) return; // the next instance resumes it from the cluster's record
    await this.#finish(task, cluster, request, stages, record, failure);
  }

  /** Records the end (fenced on the lease: false, nothing changed, when another instance holds it). */
  async #finish(
    task: TaskRow,
    cluster: ClusterRow,
    request: OperationRequest,
    stages: TaskStage[],
    record: OperationRecord | undefined,
    failure: unknown,
  ): Promise<void> {
    const ctx = this.#ctx;
    const now = ctx.clock.now();
    const finalStages: TaskStage[] =
      record === undefined
        ? stages
        : record.stages.map((s) => {
            const progress = stages.find((x) => x.name === s.name)?.progress;
            return {
              name: s.name,
              state: s.state,
              ...(toIsoMs(s.startedAt) === undefined ? {} : { startedAt: toIsoMs(s.startedAt)! }),
              ...(toIsoMs(s.finishedAt) === undefined ? {} : { finishedAt: toIsoMs(s.finishedAt)! }),
              ...(s.message === undefined ? {} : { message: s.message }),
              ...(progress === undefined ? {} : { progress }),
            };
          });
    // A re-encrypt (automatic, after a key rotation) keeps the cluster's key and setting.
    const reencrypt = request.type === "reencrypt";
    const reason = reencrypt ? "Reencrypt" : "UpdateKMSEncryption";
    let ended: boolean;
    if (failure === undefined && record !== undefined && record.state === "Succeeded") {
      const keyId = reencrypt
        ? cluster.kms_key_id
        : request.type === "enable"
          ? (record.target.keyId ?? request.keyId ?? "")
          : "";
      const verified = `${record.progress.rewritten} rewritten, verified ${record.verify?.underTarget ?? 0}/${record.verify?.total ?? 0}`;
      ended = await ctx.store.finishTask(task.task_id, ctx.instanceId, {
        task: {
          state: "success",
          stages: JSON.stringify(finalStages),
          current_stage: record.stage,
          operation_id: record.id,
          updated_at: now,
          finished_at: now,
        },
        cluster: {
          state: "running",
          kms_key_id: keyId,
          disable_encryption: request.type === "enable" || reencrypt ? 0 : 1,
          failure_reason: "",
          last_change_at: now,
          updated_at: now,
        },
        event: clusterEventRow(ctx, cluster.cluster_id, task.task_id, {
          type: "cluster_configuration_modify",
          reason: `${reason}Succeeded`,
          message: reencrypt
            ? `Secrets are re-encrypted with the current version of KMS key ${keyId} (${verified}; instance ${ctx.instanceId})`
            : request.type === "enable"
              ? `Secrets are encrypted with KMS key ${keyId} (${verified}; instance ${ctx.instanceId})`
              : `Secret encryption is off (${verified}; instance ${ctx.instanceId})`,
          source: "atrest-control-plane",
        }),
      });
    } else {
      const err =
        failure ?? new AtrestError("internal", `the operation ended ${record?.state ?? "without a record"}`);
      const code = err instanceof AtrestError ? reasonOf(err, err.code) : "internal";
      const message = err instanceof Error ? err.message : "the operation failed";
      ended = await ctx.store.finishTask(task.task_id, ctx.instanceId, {
        task: {
          state: "fail",
          stages: JSON.stringify(finalStages),
          error_code: code,
          error_message: message,
          updated_at: now,
          finished_at: now,
          ...(record === undefined ? {} : { operation_id: record.id }),
        },
        // No cool-down after a failure: the caller fixes the cause and asks again at once.
        cluster: { state: "failed", failure_reason: message, updated_at: now },
        event: clusterEventRow(ctx, cluster.cluster_id, task.task_id, {
          type: "cluster_configuration_modify",
          reason: `${reason}Failed`,
          level: "Warning",
          message,
          source: "atrest-control-plane",
        }),
      });
    }
    if (!ended)
      ctx.logger.warn(
        { taskId: task.task_id, instanceId: ctx.instanceId },
        "task not finished here: another instance holds its lease",
      );
  }
}
