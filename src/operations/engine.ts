/**
 * The operation engine: one operation at a time per cluster, driven stage by stage in the foreground
 * (the CLI) or as a service (the control plane), its state in the cluster so any machine can resume it.
 *
 *   const ops = new EncryptionOperations({ cluster, kube, kms, progress });
 *   await ops.start({ type: "enable", keyId: "key-…" });   // resolves when verified, pruned and released
 *   await ops.resume({ force: true });                      // after a crash, from the stage it was in
 *   await ops.plan({ type: "disable" });                    // --dry-run: stages, counts, estimate, blockers
 *   await ops.status();                                      // phase, operation, resources, apiservers, key
 */
import { AtrestError, isAtrestError } from "../common/errors.js";
import { systemClock, type Clock } from "../common/clock.js";
import { systemRandom, type Random } from "../common/random.js";
import type { KmsClient } from "../kms/client/index.js";
import type { ClusterSpec } from "./cluster-file.js";
import { ConfigDelivery } from "./config-delivery.js";
import type { KubeClient } from "./kube-client.js";
import {
  RECORD_API_VERSION,
  STAGES,
  emptyProgress,
  type OperationRecord,
  type StageName,
} from "./operation-record.js";
import { blockerError, prepare, type OperationRequest, type PrepareDeps } from "./preflight.js";
import { silentProgress, type ProgressSink } from "./progress.js";
import { LeaseHolder, leaseIsLive, RecordStore, whoAmI, type RecordSnapshot } from "./record-store.js";
import type { RewriteFaults } from "./rewrite.js";
import type { ClusterScanner } from "./verify.js";
import { STAGE_RUNNERS, type StageContext, type StageStaged } from "./stages.js";
import { buildPlan, type Plan } from "./plan.js";
import { clusterStatus, type ClusterStatus } from "./status.js";

export interface OperationFaults {
  /** Test hook: called when a stage starts (after it is recorded as running); throw to fail it. */
  beforeStage?(stage: StageName): void | Promise<void>;
  readonly rewrite?: RewriteFaults;
}

export interface EngineOptions {
  readonly cluster: ClusterSpec;
  readonly kube: KubeClient;
  readonly kms: KmsClient;
  /** The store, read-only, for verify and the status counts (src/scan's storeScanner). */
  readonly scanner: ClusterScanner;
  readonly progress?: ProgressSink;
  readonly clock?: Clock;
  readonly random?: Random;
  /** Who runs it (recorded on the lease and the record); default user@host pid N. */
  readonly owner?: string;
  readonly faults?: OperationFaults;
}

const MAX_ERRORS_KEPT = 20;

/** The error an operation stops with: its stage's cause, saying where it stopped and how to go on. */
function stoppedError(record: OperationRecord, err: unknown): AtrestError {
  const cause = err instanceof AtrestError ? err : new AtrestError("internal", String(err));
  return new AtrestError(
    cause.code,
    `${record.type} stopped at stage ${record.failure?.stage ?? record.stage} (phase Failed): ${cause.message}; fix the cause, then \`atrest encryption resume\``,
    {
      cause,
      details: { ...cause.details, operationId: record.id, stage: record.failure?.stage ?? record.stage },
    },
  );
}

export class EncryptionOperations {
  readonly records: RecordStore;
  readonly delivery: ConfigDelivery;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly progress: ProgressSink;

  constructor(private readonly options: EngineOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.progress = options.progress ?? silentProgress;
    const retry = options.cluster.tunables.retryTimeoutMs;
    this.records = new RecordStore(options.kube, this.clock, retry);
    this.delivery = new ConfigDelivery(options.kube, options.cluster, retry);
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /** Refuses while another process holds the lease, or (without --force) an operation is unfinished. */
  private refuseBusy(s: RecordSnapshot, request: OperationRequest | "resume", force: boolean): void {
    const now = this.clock.now();
    if (leaseIsLive(s.lease, now) && !force)
      throw new AtrestError(
        "conflict",
        `operation ${s.lease.operationId}${s.record === undefined ? "" : ` (${s.record.type}, stage ${s.record.stage})`} is running, held by ${s.lease.owner} until ${s.lease.expiresAt}; wait, or use --force if that process is gone`,
        { details: { reason: "OperationInProgress", operationId: s.lease.operationId } },
      );
    if (request === "resume") return;
    const r = s.record;
    if (r !== undefined && r.state !== "Succeeded") {
      if (request.type === "rotate" && r.type === "rotate")
        throw new AtrestError(
          "conflict",
          `a rotation (${r.id}) is still in flight (${r.state} at stage ${r.stage}); finish it with \`atrest encryption resume\` before rotating again`,
          { details: { reason: "RotationInProgress", operationId: r.id } },
        );
      if (!force)
        throw new AtrestError(
          "conflict",
          `operation ${r.id} (${r.type}) is unfinished (${r.state} at stage ${r.stage}); run \`atrest encryption resume\`, or --force to replace it`,
          { details: { reason: "OperationUnfinished", operationId: r.id } },
        );
    }
  }

  /** Starts an operation and drives it to the end. Resolves with the finished record. */
  async start(request: OperationRequest, options: { force?: boolean } = {}): Promise<OperationRecord> {
    const force = options.force === true;
    this.refuseBusy(await this.records.read(), request, force);
    const prepared = await prepare(this.prepareContext(), request);
    const first = prepared.blockers[0];
    if (first !== undefined) throw blockerError(first);
    const staged = prepared.staged!;
    const target = prepared.target!;
    const id = this.random.uuid();
    const lease = new LeaseHolder(
      this.records,
      this.clock,
      this.random,
      this.options.cluster.tunables.leaseDurationMs,
      this.options.owner ?? whoAmI(),
    );
    const now = this.iso();
    const record: OperationRecord = {
      apiVersion: RECORD_API_VERSION,
      kind: "EncryptionOperation",
      id,
      type: request.type,
      cluster: this.options.cluster.name,
      target,
      state: "Running",
      stage: "preflight",
      stages: STAGES[request.type].map((name) => ({ name, state: "pending" as const })),
      configs: {
        base: staged.base.hash,
        ...(staged.read === undefined ? {} : { read: staged.read.hash }),
        ...(staged.write === undefined ? {} : { write: staged.write.hash }),
        final: staged.final.hash,
      },
      progress: emptyProgress(),
      cursor: { resourceIndex: 0, lastKey: null, done: false },
      keys: prepared.keys,
      ...(request.type === "rotate" && prepared.canary !== undefined
        ? { rotation: { fromKeyId: prepared.canary.keyId } }
        : {}),
      startedBy: lease.owner,
      startedAt: now,
      updatedAt: now,
      errors: [],
    };
    const preflight = record.stages[0]!;
    preflight.state = "succeeded";
    preflight.startedAt = now;
    preflight.finishedAt = now;
    preflight.message = `apiservers converged on ${staged.base.hash}${prepared.canary === undefined ? "" : `; canary through ${prepared.canary.endpoint} ok`}`;
    record.stage = record.stages[1]?.name ?? "preflight";
    // The staged configurations go first, so a record never exists without them (a crash right after
    // the record is created resumes); saved again once the lease is ours, in case a racing start that
    // lost the lease overwrote them.
    await this.delivery.saveStaged(id, staged);
    // Acquire: CAS on the record ConfigMap; another process racing us loses here.
    const acquired = await this.records.update((s) => {
      this.refuseBusy(s, request, force);
      return {
        record,
        lease: lease.lease(id),
        // A replaced unfinished operation goes to the history (a finished one is there already).
        history:
          s.record === undefined || s.record.state === "Succeeded"
            ? s.history
            : [summary(s.record), ...s.history],
      };
    });
    lease.held(acquired.lease!);
    this.progress({ event: "operation", state: "started", id, type: request.type });
    this.progress({ event: "stage", stage: "preflight", state: "succeeded", message: preflight.message });
    await this.delivery.saveStaged(id, staged);
    return this.drive(record, staged, lease);
  }

  /** Resumes the unfinished operation from the stage it stopped in (taking a live lease only with force). */
  async resume(options: { force?: boolean } = {}): Promise<OperationRecord> {
    const force = options.force === true;
    const s = await this.records.read();
    this.refuseBusy(s, "resume", force);
    const record = s.record;
    if (record === undefined || record.state === "Succeeded")
      throw new AtrestError("failed-precondition", "there is no unfinished operation to resume", {
        details: { reason: "NothingToResume" },
      });
    const stored = await this.delivery.read();
    const pick = (k: "base" | "read" | "write" | "final", hash: string | undefined) => {
      if (hash === undefined) return undefined;
      const c = stored.staged[k];
      if (c === undefined || c.hash !== hash)
        throw new AtrestError(
          "data-corrupt",
          `the ${k} configuration of operation ${record.id} is missing from or changed in the cluster's Secret (want ${hash})`,
        );
      return c;
    };
    const base = pick("base", record.configs.base)!;
    const read = pick("read", record.configs.read);
    const write = pick("write", record.configs.write);
    const final = pick("final", record.configs.final) ?? base;
    const staged: StageStaged = {
      base,
      ...(read === undefined ? {} : { read }),
      ...(write === undefined ? {} : { write }),
      final,
    };
    const lease = new LeaseHolder(
      this.records,
      this.clock,
      this.random,
      this.options.cluster.tunables.leaseDurationMs,
      this.options.owner ?? whoAmI(),
    );
    const resumedWith = await this.records.update((snap) => {
      this.refuseBusy(snap, "resume", force);
      if (snap.record?.id !== record.id)
        throw new AtrestError("conflict", "the operation changed while resuming it; try again");
      const r = snap.record;
      r.state = "Running";
      delete r.failure;
      r.updatedAt = this.iso();
      Object.assign(record, r);
      return { record: r, lease: lease.lease(record.id) };
    });
    lease.held(resumedWith.lease!);
    this.progress({
      event: "operation",
      state: "resumed",
      id: record.id,
      type: record.type,
      message: `at stage ${record.stage}`,
    });
    return this.drive(record, staged, lease);
  }

  private async drive(
    record: OperationRecord,
    staged: StageStaged,
    lease: LeaseHolder,
  ): Promise<OperationRecord> {
    lease.startRenewing();
    const save = async (): Promise<void> => {
      record.updatedAt = this.iso();
      await this.records.update((s) => {
        if (!lease.ownsIn(s))
          throw new AtrestError(
            "conflict",
            `the operation's lease was taken over by ${s.lease?.owner ?? "nobody"}`,
          );
        return { record, lease: s.lease };
      });
    };
    const ctx: StageContext = {
      cluster: this.options.cluster,
      kube: this.options.kube,
      kms: this.options.kms,
      delivery: this.delivery,
      scanner: this.options.scanner,
      lease,
      clock: this.clock,
      progress: this.progress,
      record,
      staged,
      ...(this.options.faults?.rewrite === undefined
        ? {}
        : { faults: { rewrite: this.options.faults.rewrite } }),
      save,
    };
    const order = STAGES[record.type];
    try {
      for (let i = order.indexOf(record.stage); i >= 0 && i < order.length; i++) {
        const name = order[i]!;
        const stage = record.stages.find((s) => s.name === name)!;
        lease.check();
        record.stage = name;
        stage.state = "running";
        stage.startedAt = this.iso();
        delete stage.message;
        await save();
        this.progress({ event: "stage", stage: name, state: "started" });
        await this.options.faults?.beforeStage?.(name);
        await STAGE_RUNNERS[name](ctx);
        stage.state = "succeeded";
        stage.finishedAt = this.iso();
        await save();
        this.progress({ event: "stage", stage: name, state: "succeeded" });
      }
    } catch (err) {
      lease.stop();
      const lost = isAtrestError(err, "conflict") && /lease/.test(err.message);
      const failedStage = record.stage;
      const cause =
        err instanceof AtrestError
          ? err
          : new AtrestError("internal", err instanceof Error ? err.message : String(err), { cause: err });
      this.progress({ event: "stage", stage: failedStage, state: "failed", message: cause.message });
      if (!lost) {
        const stage = record.stages.find((s) => s.name === failedStage);
        if (stage !== undefined) {
          stage.state = "failed";
          stage.message = cause.message;
          stage.finishedAt = this.iso();
        }
        record.state = "Failed";
        record.failure = {
          stage: failedStage,
          code: cause.code,
          reason: (cause.details["reason"] as string | undefined) ?? cause.code,
          message: cause.message,
        };
        record.errors = [
          ...record.errors,
          { at: this.iso(), stage: failedStage, code: cause.code, message: cause.message },
        ].slice(-MAX_ERRORS_KEPT);
        if (ctx.resumeAt !== undefined) {
          record.stage = ctx.resumeAt;
          const again = record.stages.find((s) => s.name === ctx.resumeAt);
          if (again !== undefined) again.state = "pending";
        }
        record.updatedAt = this.iso();
        // Release the lease with the failure: resume needs no --force after a clean stop.
        await this.records
          .update((s) =>
            lease.ownsIn(s) ? { record, lease: undefined } : { record: s.record, lease: s.lease },
          )
          .catch(() => undefined);
        this.progress({
          event: "operation",
          state: "failed",
          id: record.id,
          type: record.type,
          message: cause.message,
        });
      }
      throw stoppedError(record, cause);
    }
    lease.stop();
    record.state = "Succeeded";
    record.finishedAt = this.iso();
    record.updatedAt = record.finishedAt;
    await this.records.update((s) => {
      if (!lease.ownsIn(s))
        throw new AtrestError("conflict", "the operation's lease was taken over at the very end");
      return { record, lease: undefined, history: [summary(record), ...s.history] };
    });
    this.progress({ event: "operation", state: "succeeded", id: record.id, type: record.type });
    return record;
  }

  /** What preflight reads, for start and for the dry-run plan alike. */
  private prepareContext(): PrepareDeps {
    return {
      cluster: this.options.cluster,
      kube: this.options.kube,
      kms: this.options.kms,
      delivery: this.delivery,
      scanner: this.options.scanner,
    };
  }

  /** `--dry-run`: what the operation would do, and what stops it. Changes nothing. */
  async plan(request: OperationRequest): Promise<Plan> {
    const snapshot = await this.records.read();
    const prepared = await prepare(this.prepareContext(), request);
    let busy: string | undefined;
    try {
      this.refuseBusy(snapshot, request, false);
    } catch (err) {
      busy = err instanceof Error ? err.message : String(err);
    }
    return buildPlan(this.options.cluster, request, prepared, snapshot, busy);
  }

  async status(): Promise<ClusterStatus> {
    return clusterStatus({
      cluster: this.options.cluster,
      kube: this.options.kube,
      kms: this.options.kms,
      delivery: this.delivery,
      records: this.records,
      scanner: this.options.scanner,
      clock: this.clock,
    });
  }
}

function summary(r: OperationRecord) {
  return {
    id: r.id,
    type: r.type,
    state: r.state,
    startedAt: r.startedAt,
    ...(r.finishedAt === undefined ? {} : { finishedAt: r.finishedAt }),
    ...(r.progress.ratePerSecond > 0 ? { rewriteRatePerSecond: r.progress.ratePerSecond } : {}),
    ...(r.failure === undefined ? {} : { failure: `${r.failure.stage}: ${r.failure.reason}` }),
  };
}
