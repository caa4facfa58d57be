import type { Clock } from "../../common/clock.js";
import { isAtrestError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { isPlainObject, metaOf, rfc3339, type KubeObject } from "../../kube-object/types.js";
import { encodeContinue } from "../registry/continue-token.js";
import type { Registry } from "../registry/index.js";
import type { ResourceInfo } from "../resources.js";
import {
  conditionsOf,
  REASON_RUNNING,
  REASON_SUCCEEDED,
  SVM_CONTROLLER,
  withCondition,
  type Progress,
} from "./api.js";

/**
 * One StorageVersionMigration's work, as kube-controller-manager's SVM controller does it: every
 * object of the resource stored before the migration began (resourceVersion ≤ status.resourceVersion)
 * gets an empty server-side apply with its uid and resourceVersion as preconditions, by the field
 * manager "storage-version-migrator-controller". The apply changes nothing, so the store writes the
 * object only when it is stale: that is the re-encryption. A conflict means the object changed, was
 * deleted or re-created since: already stored anew, or gone. Retriable errors are retried (with
 * backoff) where they happened; anything else fails the migration.
 *
 * Beyond kube: objects are taken in key order, pages of them in parallel, and after each page the
 * progress (counts and the last key done) is written to status.progress; a restarted apiserver
 * resumes after that key instead of starting over.
 */

export interface MigrationContext {
  readonly registry: Registry;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The SVM resource the status is written through (the storage version's). */
  readonly svmInfo: ResourceInfo;
  readonly pageSize: number;
  readonly concurrency: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Waits (a retry's backoff); cut short when the migrator stops. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Stops the work between objects (the apiserver is shutting down). */
  readonly stopped: () => boolean;
}

/** The migration cannot go on (an error that is not retriable); the caller marks it Failed. */
export class UnhandledMigrationError extends Error {
  constructor(readonly causeText: string) {
    super(causeText);
  }
}

/** The SVM went away (deleted, or replaced by another of the same name) while it ran. */
class MigrationGone extends Error {}

/**
 * kube's retriable errors (v1beta1): timeouts, throttling, unavailable, internal errors — except an
 * internal error whose cause is a value that can never be read (corrupt, or written with a key no
 * provider has): kube would retry that forever; here the migration fails and says which key.
 */
function isRetriable(err: unknown): boolean {
  if (!isAtrestError(err)) return false;
  if (err.retryable) return true;
  if (err.code !== "internal") return false;
  for (let c: unknown = err.cause; c !== undefined; c = (c as { cause?: unknown }).cause) {
    if (isAtrestError(c) && c.code === "data-corrupt") return false;
    if (!(c instanceof Error)) break;
  }
  return true;
}

function relativeKey(info: ResourceInfo, obj: KubeObject): string {
  const meta = metaOf(obj);
  return info.namespaced ? `${meta.namespace ?? ""}/${meta.name ?? ""}` : (meta.name ?? "");
}

function progressOf(svm: KubeObject): Progress | undefined {
  const p = isPlainObject(svm.status) ? svm.status.progress : undefined;
  return isPlainObject(p) ? (p as unknown as Progress) : undefined;
}

export async function runMigration(
  ctx: MigrationContext,
  svm: KubeObject,
  target: ResourceInfo,
): Promise<"done" | "stopped" | "gone"> {
  const name = metaOf(svm).name ?? "";
  const uid = metaOf(svm).uid;
  const cutoff = Number(isPlainObject(svm.status) ? svm.status.resourceVersion : NaN);
  const now = (): string => rfc3339(ctx.clock.now());
  let progress: Progress = progressOf(svm) ?? {
    total: await ctx.registry.countStored(target, cutoff),
    rewritten: 0,
    unchanged: 0,
    skipped: 0,
    remaining: 0,
    checkpoint: "",
    updateTime: now(),
  };
  const resumed = progressOf(svm) !== undefined;
  const remaining = (p: Progress): number => Math.max(0, p.total - p.rewritten - p.unchanged - p.skipped);

  /** Writes the status (progress, a condition) unless the SVM is gone or is another one now. */
  const writeStatus = async (edit: (status: Record<string, unknown>) => void): Promise<void> => {
    try {
      await ctx.registry.updateStatus(
        ctx.svmInfo,
        undefined,
        name,
        { dryRun: false, fieldManager: SVM_CONTROLLER },
        (current) => {
          if (metaOf(current).uid !== uid) throw new MigrationGone();
          const status: Record<string, unknown> = isPlainObject(current.status) ? { ...current.status } : {};
          edit(status);
          return status;
        },
      );
    } catch (err) {
      if (err instanceof MigrationGone || isAtrestError(err, "not-found")) throw new MigrationGone();
      throw err;
    }
  };
  const saveProgress = (): Promise<void> =>
    writeStatus((status) => {
      progress = { ...progress, remaining: remaining(progress), updateTime: now() };
      status.progress = progress;
    });

  /** Retries `fn` while it fails with retriable errors (backoff doubling up to retryMaxMs). */
  const withRetries = async <T>(fn: () => Promise<T>): Promise<T | "stopped"> => {
    let delay = ctx.retryInitialMs;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!isRetriable(err)) throw err;
        const text = err instanceof Error ? err.message : String(err);
        progress = { ...progress, lastError: text };
        ctx.logger.warn(
          { svm: name, resource: target.resource, err: text, retryInMs: delay },
          "storage version migration retrying",
        );
        await ctx.sleep(delay);
        if (ctx.stopped()) return "stopped";
        delay = Math.min(ctx.retryMaxMs, delay * 2);
      }
    }
  };

  const rewrite = async (obj: KubeObject): Promise<void> => {
    const meta = metaOf(obj);
    const rv = Number(meta.resourceVersion);
    // Written since the migration began: stored with the current encoding already (v1beta1's rule).
    if (!(rv <= cutoff)) {
      progress.skipped++;
      return;
    }
    const config: KubeObject = {
      apiVersion: target.apiVersion,
      kind: target.kind,
      metadata: { uid: meta.uid, resourceVersion: meta.resourceVersion },
    };
    try {
      const result = await withRetries(() =>
        ctx.registry.apply(target, meta.namespace, meta.name ?? "", config, {
          dryRun: false,
          fieldManager: SVM_CONTROLLER,
          force: false,
        }),
      );
      if (result === "stopped") return;
      if (metaOf(result.object).resourceVersion !== meta.resourceVersion) progress.rewritten++;
      else progress.unchanged++;
    } catch (err) {
      // Changed, deleted, or deleted and re-created since it was listed: nothing left to migrate.
      if (isAtrestError(err, "conflict") || isAtrestError(err, "not-found")) {
        progress.skipped++;
        return;
      }
      throw new UnhandledMigrationError(err instanceof Error ? err.message : String(err));
    }
  };

  try {
    await writeStatus((status) => {
      status.conditions = withCondition(conditionsOf({ status }), "Running", REASON_RUNNING, "", now());
      progress = { ...progress, remaining: remaining(progress), updateTime: now() };
      status.progress = progress;
    });
    ctx.logger.info(
      {
        svm: name,
        resource: target.resource,
        group: target.group,
        total: progress.total,
        checkpoint: progress.checkpoint,
      },
      resumed ? "storage version migration resumed" : "storage version migration started",
    );
    for (;;) {
      if (ctx.stopped()) return "stopped";
      const after = progress.checkpoint;
      const page = await withRetries(() =>
        ctx.registry.list(target, undefined, {
          limit: ctx.pageSize,
          // rv -1: the latest revision, after the key (kube's "inconsistent continue"): a long
          // migration never reads at a compacted revision.
          ...(after === "" ? {} : { continueToken: encodeContinue(-1, after) }),
        }),
      ).catch((err: unknown) => {
        // A page that cannot be read (a value no provider decrypts): the migration cannot go on.
        throw new UnhandledMigrationError(err instanceof Error ? err.message : String(err));
      });
      if (page === "stopped") return "stopped";
      const items = page.items;
      // `concurrency` workers over the page (none waits for a slow neighbour); all of it is done
      // before the checkpoint moves past it.
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < items.length && !ctx.stopped(); i = next++) {
          const item = items[i];
          if (item !== undefined) await rewrite(item);
        }
      };
      await Promise.all(Array.from({ length: Math.min(ctx.concurrency, items.length) }, worker));
      const last = items[items.length - 1];
      if (last !== undefined) progress = { ...progress, checkpoint: relativeKey(target, last) };
      if (ctx.stopped()) return "stopped";
      if (page.continueToken === undefined || last === undefined) break;
      await saveProgress();
    }
    const { lastError: _e, ...finished } = progress;
    await writeStatus((status) => {
      progress = { ...finished, remaining: 0, updateTime: now() };
      status.progress = progress;
      status.conditions = withCondition(conditionsOf({ status }), "Succeeded", REASON_SUCCEEDED, "", now());
    });
    ctx.logger.info(
      {
        svm: name,
        resource: target.resource,
        total: progress.total,
        rewritten: progress.rewritten,
        unchanged: progress.unchanged,
        skipped: progress.skipped,
      },
      "storage version migration finished",
    );
    return "done";
  } catch (err) {
    if (err instanceof MigrationGone) return "gone";
    throw err;
  }
}
