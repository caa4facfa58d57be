import type { Clock, Timer } from "../../common/clock.js";
import { isAtrestError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { isPlainObject, metaOf, rfc3339, type KubeObject } from "../../kube-object/types.js";
import type { Registry, WatchHandle } from "../registry/index.js";
import { RESOURCES, type ResourceInfo } from "../resources.js";
import { STORED_STORAGEVERSIONMIGRATIONS } from "../resources/storagemigration.js";
import {
  conditionsOf,
  isConditionTrue,
  isTerminal,
  MESSAGE_NO_RESOURCE,
  REASON_FAILED,
  SVM_CONTROLLER,
  targetOf,
  unhandledErrorMessage,
  withCondition,
} from "./api.js";
import { runMigration, UnhandledMigrationError, type MigrationContext } from "./migration.js";

/**
 * The storage version migrator, in the apiserver (kube runs it in kube-controller-manager): it watches
 * StorageVersionMigrations and, like kube's three controllers, (1) records the resource's current
 * resourceVersion in status.resourceVersion when it first sees a migration (or marks it Failed when
 * the resource is not served), (2) lets one migration per resource run at a time, the oldest first,
 * and (3) runs it (migration.ts) to Succeeded or Failed. A migration that was running when the
 * apiserver stopped resumes from its checkpoint when it starts again.
 */

export interface StorageVersionMigratorOptions {
  readonly registry: Registry;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Objects listed per page (a checkpoint after each). Default 500, kube's chunk size. */
  readonly pageSize?: number;
  /**
   * Objects rewritten at once (store round trips and SQLite's group-commit fsyncs overlap). Default 32, as
   * atrest encryption's rewrite: 16 left the migrator waiting on round trips (SQLite 770/s at 16, 1,250/s
   * at 32 in bench svm).
   */
  readonly concurrency?: number;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** How often every migration is looked at besides watch events. Default 30 s. */
  readonly resyncMs?: number;
}

/** kube's fake namespace: a list there is empty and cheap, and carries the current resourceVersion. */
const FAKE_NAMESPACE = "@fake:svm_ns!";

export class StorageVersionMigrator {
  private closed = false;
  private watch: WatchHandle | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private resync: Timer | undefined;
  private readonly running = new Map<string, Promise<void>>();
  private readonly sleepers = new Set<() => void>();
  private readonly info = STORED_STORAGEVERSIONMIGRATIONS;
  private readonly ctx: MigrationContext;

  constructor(private readonly options: StorageVersionMigratorOptions) {
    this.ctx = {
      registry: options.registry,
      clock: options.clock,
      logger: options.logger,
      svmInfo: this.info,
      pageSize: options.pageSize ?? 500,
      concurrency: options.concurrency ?? 32,
      retryInitialMs: options.retryInitialMs ?? 200,
      retryMaxMs: options.retryMaxMs ?? 30_000,
      sleep: (ms) => this.sleep(ms),
      stopped: () => this.closed,
    };
  }

  /** Watches the migrations (every change is a reason to look again) and looks at them now. */
  async start(): Promise<void> {
    await this.startWatch();
    this.scheduleResync();
    this.kick();
  }

  private async startWatch(): Promise<void> {
    if (this.closed) return;
    try {
      this.watch = await this.options.registry.watch(
        this.info,
        undefined,
        {},
        {
          event: () => this.kick(),
          error: (err) => {
            this.options.logger.warn({ err: err.message }, "storage version migration watch ended");
            this.watch = undefined;
            void this.sleep(1000).then(() => this.startWatch());
          },
        },
      );
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, "storage version migration watch failed");
      void this.sleep(1000).then(() => this.startWatch());
    }
  }

  private scheduleResync(): void {
    if (this.closed) return;
    this.resync = this.options.clock.setTimeout(() => {
      this.kick();
      this.scheduleResync();
    }, this.options.resyncMs ?? 30_000);
    this.resync.unref?.();
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.sleepers.delete(done);
        resolve();
      };
      this.sleepers.add(done);
      const t = this.options.clock.setTimeout(done, ms);
      t.unref?.();
    });
  }

  /** Looks at the migrations again (once more after the pass in progress, if any). */
  kick(): void {
    if (this.closed) return;
    if (this.pass !== undefined) {
      this.again = true;
      return;
    }
    this.pass = this.reconcile()
      .catch((err: unknown) =>
        this.options.logger.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "storage version migrations not reconciled",
        ),
      )
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves when no pass and no migration is in progress (tests, benchmarks). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [this.pass, ...this.running.values()].filter((p) => p !== undefined);
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  private now(): string {
    return rfc3339(this.options.clock.now());
  }

  /** The served resource a migration names (v1alpha1's version must be served too). */
  private targetOf(svm: KubeObject): ResourceInfo | undefined {
    const t = targetOf(svm);
    const candidates = RESOURCES.filter((r) => r.group === t.group && r.resource === t.resource);
    return t.version === undefined ? candidates[0] : candidates.find((r) => r.version === t.version);
  }

  private async writeStatus(
    svm: KubeObject,
    edit: (status: Record<string, unknown>) => void,
  ): Promise<KubeObject> {
    const uid = metaOf(svm).uid;
    return this.options.registry.updateStatus(
      this.info,
      undefined,
      metaOf(svm).name ?? "",
      { dryRun: false, fieldManager: SVM_CONTROLLER },
      (current) => {
        if (metaOf(current).uid !== uid) throw new Error("the migration was replaced");
        const status: Record<string, unknown> = isPlainObject(current.status) ? { ...current.status } : {};
        edit(status);
        return status;
      },
    );
  }

  private fail(svm: KubeObject, message: string): Promise<KubeObject> {
    this.options.logger.warn({ svm: metaOf(svm).name, message }, "storage version migration failed");
    return this.writeStatus(svm, (status) => {
      status.conditions = withCondition(
        conditionsOf({ status }),
        "Failed",
        REASON_FAILED,
        message,
        this.now(),
      );
    });
  }

  private async reconcile(): Promise<void> {
    const { registry } = this.options;
    const page = await registry.list(this.info, undefined, {});
    const created = (o: KubeObject): string =>
      `${metaOf(o).creationTimestamp ?? ""}\u0000${metaOf(o).name ?? ""}`;
    const pending = page.items
      .filter((o) => !isTerminal(o))
      .sort((a, b) => (created(a) < created(b) ? -1 : 1));
    const ready: { svm: KubeObject; target: ResourceInfo }[] = [];
    for (let svm of pending) {
      if (this.closed) return;
      const target = this.targetOf(svm);
      if (target === undefined) {
        await this.fail(svm, MESSAGE_NO_RESOURCE);
        continue;
      }
      if (target.storageSegment === undefined) {
        await this.fail(
          svm,
          unhandledErrorMessage("the server does not allow this method on the requested resource"),
        );
        continue;
      }
      const status = isPlainObject(svm.status) ? svm.status : {};
      if (typeof status.resourceVersion !== "string" || status.resourceVersion === "") {
        // resourceversion.go: the checkpoint is the resource's list resourceVersion when first seen.
        const list = await registry.list(target, target.namespaced ? FAKE_NAMESPACE : undefined, {
          limit: 1,
        });
        svm = await this.writeStatus(svm, (s) => {
          s.resourceVersion = list.resourceVersion;
        });
      }
      ready.push({ svm, target });
    }
    // One migration per resource: the one already running (after a restart), else the oldest.
    const chosen = new Map<string, { svm: KubeObject; target: ResourceInfo }>();
    for (const r of ready) {
      const key = `${r.target.group}/${r.target.resource}`;
      const had = chosen.get(key);
      if (had === undefined || (isConditionTrue(r.svm, "Running") && !isConditionTrue(had.svm, "Running")))
        chosen.set(key, r);
    }
    for (const [key, { svm, target }] of chosen) {
      if (this.running.has(key) || this.closed) continue;
      const task = this.migrate(svm, target).finally(() => {
        this.running.delete(key);
        this.kick();
      });
      this.running.set(key, task);
    }
  }

  private async migrate(svm: KubeObject, target: ResourceInfo): Promise<void> {
    try {
      await runMigration(this.ctx, svm, target);
    } catch (err) {
      if (err instanceof UnhandledMigrationError) {
        await this.fail(svm, unhandledErrorMessage(err.causeText)).catch(() => undefined);
        return;
      }
      // Anything else (the status write failed): the next pass picks the migration up again.
      this.options.logger.warn(
        { svm: metaOf(svm).name, err: err instanceof Error ? err.message : String(err) },
        "storage version migration interrupted",
      );
      // Always after a pause: a failure that repeats must not spin.
      await this.sleep(isAtrestError(err) && err.retryable ? this.ctx.retryInitialMs : this.ctx.retryMaxMs);
    }
  }

  /** Stops watching and lets running migrations stop between objects (they resume at the next start). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.resync !== undefined) this.options.clock.clearTimeout(this.resync);
    for (const wake of [...this.sleepers]) wake();
    await this.watch?.cancel();
    await this.idle();
  }
}
