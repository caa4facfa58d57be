/**
 * The stages. Each one first checks, against the live cluster and the record, that the stage before it
 * really finished — the writer never switches before every apiserver runs the read configuration, a
 * rewrite never starts before every apiserver writes with the target, and a provider never leaves the
 * configuration unless verify passed for exactly the configuration that remains — then does its one
 * change, idempotently (a crash at any point is resumed by running the stage again).
 */
import { AtrestError } from "../common/errors.js";
import { keyIdHash } from "../common/key-id-hash.js";
import type { KmsClient } from "../kms/client/index.js";
import { pluginKeyId } from "./canary.js";
import type { ClusterPlugin, ClusterSpec } from "./cluster-file.js";
import type { ConfigDelivery } from "./config-delivery.js";
import { behind, observeAll, waitConverged, waitKeyIdConverged } from "./convergence.js";
import { describeKey, kmsKeyOfKeyId, protectKey, releaseKey } from "./key-checks.js";
import type { KubeClient } from "./kube-client.js";
import type { LeaseHolder } from "./record-store.js";
import type { KeyUse, OperationRecord, Progress, StageName } from "./operation-record.js";
import type { ProgressSink } from "./progress.js";
import type { RenderedConfig } from "./render.js";
import { resolveResource, rewriteAll, type RewriteFaults } from "./rewrite.js";
import { judge, scanCluster, type ClusterScanner } from "./verify.js";
import type { Clock } from "../common/clock.js";

export interface StageStaged {
  readonly base: RenderedConfig;
  readonly read?: RenderedConfig;
  readonly write?: RenderedConfig;
  readonly final: RenderedConfig;
}

/** What a stage works with. `record` is the live record: stages mutate it, `save()` persists it. */
export interface StageContext {
  readonly cluster: ClusterSpec;
  readonly kube: KubeClient;
  readonly kms: KmsClient;
  readonly delivery: ConfigDelivery;
  readonly scanner: ClusterScanner;
  readonly lease: LeaseHolder;
  readonly clock: Clock;
  readonly progress: ProgressSink;
  readonly record: OperationRecord;
  readonly staged: StageStaged;
  readonly faults?: { readonly rewrite?: RewriteFaults };
  save(): Promise<void>;
  /** Set by a stage that fails in a way only an earlier stage can fix (verify → rewrite). */
  resumeAt?: StageName;
}

function precondition(stage: StageName, message: string): AtrestError {
  return new AtrestError("failed-precondition", `${stage}: ${message}`, {
    details: { reason: "StagePreconditionFailed" },
  });
}

function nowIso(ctx: StageContext): string {
  return new Date(ctx.clock.now()).toISOString();
}

function succeeded(ctx: StageContext, stage: StageName): boolean {
  return ctx.record.stages.some((s) => s.name === stage && s.state === "succeeded");
}

function targetPlugin(ctx: StageContext): ClusterPlugin | undefined {
  const t = ctx.record.target;
  if (t.pluginEndpoint === undefined) return undefined;
  return (
    ctx.cluster.plugins.find((p) => p.endpoint === t.pluginEndpoint) ?? {
      name: t.pluginName ?? "",
      endpoint: t.pluginEndpoint,
      timeout: "3s",
    }
  );
}

/** Every apiserver runs one of `allowed` (hashes) and is healthy; otherwise the stage must not act. */
async function requireRunning(
  ctx: StageContext,
  stage: StageName,
  allowed: readonly string[],
  what: string,
): Promise<void> {
  const seen = await observeAll(ctx.kube, ctx.cluster.apiservers);
  const problems = seen
    .map((o) => {
      const b = allowed.map((h) => behind(o, h));
      return b.some((x) => x === undefined) ? undefined : b[0];
    })
    .filter((b): b is string => b !== undefined);
  if (problems.length > 0) throw precondition(stage, `not every apiserver ${what}: ${problems.join("; ")}`);
}

async function deploy(ctx: StageContext, stage: StageName, config: RenderedConfig): Promise<void> {
  await ctx.lease.confirm();
  await ctx.delivery.deploy(config);
  ctx.progress({ event: "config", stage, hash: config.hash });
}

async function converge(ctx: StageContext, stage: StageName, config: RenderedConfig): Promise<void> {
  await waitConverged(ctx.kube, ctx.cluster.apiservers, config.hash, {
    timeoutMs: ctx.cluster.tunables.convergeTimeoutMs,
    clock: ctx.clock,
    check: () => ctx.lease.check(),
    onWaiting: (b) => ctx.progress({ event: "waiting", stage, behind: b }),
  });
}

async function tagKeys(
  ctx: StageContext,
  wanted: (k: KeyUse) => "write" | "read" | undefined,
): Promise<void> {
  for (const k of ctx.record.keys) {
    const tag = wanted(k);
    if (tag === undefined || k.tag === tag) continue;
    await ctx.lease.confirm();
    await protectKey(ctx.kms, await describeKey(ctx.kms, k.keyId), ctx.cluster.name, tag);
    k.tag = tag;
    await ctx.save();
  }
}

/**
 * The key_id the plugin serves, once its Status is healthy: a blip (a KMS call timing out under load)
 * is waited out, retried every second; a plugin unhealthy for longer than the retry timeout stops the
 * stage as `unavailable` (KmsUnavailable), to be resumed.
 */
async function healthyKeyId(
  ctx: StageContext,
  stage: StageName,
  plugin: ClusterPlugin,
  what: string,
): Promise<string> {
  const deadline = ctx.clock.now() + ctx.cluster.tunables.retryTimeoutMs;
  for (;;) {
    try {
      return await pluginKeyId(plugin);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (ctx.clock.now() + 1_000 > deadline)
        throw new AtrestError("unavailable", `the KMS plugin is unhealthy, ${what}: ${why}`, {
          cause: err,
          details: { reason: "KmsUnavailable" },
        });
      ctx.progress({ event: "retry", stage, why, waitMs: 1_000 });
      await new Promise<void>((r) => ctx.clock.setTimeout(r, 1_000));
      ctx.lease.check();
    }
  }
}

function need(config: RenderedConfig | undefined, stage: StageName): RenderedConfig {
  if (config === undefined) throw precondition(stage, "the operation has no configuration for this stage");
  return config;
}

export const STAGE_RUNNERS: Readonly<Record<StageName, (ctx: StageContext) => Promise<void>>> = Object.freeze(
  {
    // Preflight ran before the record existed (engine.ts); on resume there is nothing to redo.
    preflight: () => Promise.resolve(),

    "add-read-provider": async (ctx) => {
      const read = need(ctx.staged.read, "add-read-provider");
      if (!succeeded(ctx, "preflight")) throw precondition("add-read-provider", "preflight has not passed");
      await requireRunning(
        ctx,
        "add-read-provider",
        [ctx.staged.base.hash, read.hash],
        "runs the base configuration",
      );
      // The target key is protected before any configuration names it.
      await tagKeys(ctx, (k) => (k.role === "target" ? "read" : undefined));
      await deploy(ctx, "add-read-provider", read);
    },

    "converge-read": (ctx) => converge(ctx, "converge-read", need(ctx.staged.read, "converge-read")),

    "switch-writer": async (ctx) => {
      const read = need(ctx.staged.read, "switch-writer");
      const write = need(ctx.staged.write, "switch-writer");
      // The one rule that matters most: no apiserver writes with the target before all can read it.
      await requireRunning(ctx, "switch-writer", [read.hash, write.hash], "can read the target yet");
      await tagKeys(ctx, (k) => (k.role === "target" ? "write" : "read"));
      await deploy(ctx, "switch-writer", write);
    },

    "converge-writer": (ctx) => converge(ctx, "converge-writer", need(ctx.staged.write, "converge-writer")),

    "rotate-key": async (ctx) => {
      const rotation = ctx.record.rotation;
      const keyId = ctx.record.target.keyId;
      if (rotation === undefined || keyId === undefined)
        throw precondition("rotate-key", "the operation names no key to rotate");
      if (rotation.newKeyId !== undefined) return;
      if (rotation.requestedAt !== undefined) {
        // A crash after CreateKeyVersion and before the record said so: adopt the version it made.
        const key = await describeKey(ctx.kms, keyId);
        const current = `${key.keyId}:${key.primaryKeyVersion ?? ""}`;
        if (current !== rotation.fromKeyId) {
          rotation.newKeyId = current;
          await ctx.save();
          return;
        }
      }
      rotation.requestedAt = nowIso(ctx);
      await ctx.save();
      await ctx.lease.confirm();
      const r = await ctx.kms.call("CreateKeyVersion", { KeyId: keyId });
      const version = (r["KeyVersion"] as { KeyVersionId?: string } | undefined)?.KeyVersionId;
      if (version === undefined)
        throw new AtrestError("internal", "CreateKeyVersion answered without KeyVersion.KeyVersionId");
      rotation.newKeyId = `${keyId}:${version}`;
      await ctx.save();
    },

    "converge-key": async (ctx) => {
      const plugin = targetPlugin(ctx);
      if (ctx.record.type === "reencrypt" && plugin === undefined) return; // not a KMS v2 writer: nothing to wait for
      const newKeyId =
        ctx.record.type === "rotate" ? ctx.record.rotation?.newKeyId : plugin && (await pluginKeyId(plugin));
      if (newKeyId === undefined || plugin === undefined)
        throw precondition("converge-key", "no new key version was made");
      const deadline = ctx.clock.now() + ctx.cluster.tunables.convergeTimeoutMs;
      for (;;) {
        ctx.lease.check();
        const served = await pluginKeyId(plugin).catch((err: unknown) =>
          err instanceof Error ? err.message : String(err),
        );
        if (served === newKeyId) break;
        ctx.progress({
          event: "waiting",
          stage: "converge-key",
          behind: [`the plugin ${plugin.endpoint} still serves ${keyIdHash(served)}`],
        });
        if (ctx.clock.now() > deadline)
          throw new AtrestError(
            "deadline-exceeded",
            `the plugin ${plugin.endpoint} did not pick up the new key version ${keyIdHash(newKeyId)}`,
            {
              details: { reason: "KeyIdNotConverged" },
            },
          );
        await new Promise<void>((r) => ctx.clock.setTimeout(r, 500));
      }
      await waitKeyIdConverged(ctx.kube, ctx.cluster.apiservers, plugin.name, keyIdHash(newKeyId), 0, {
        timeoutMs: ctx.cluster.tunables.convergeTimeoutMs,
        clock: ctx.clock,
        check: () => ctx.lease.check(),
        onWaiting: (b) => ctx.progress({ event: "waiting", stage: "converge-key", behind: b }),
      });
    },

    rewrite: async (ctx) => {
      const writer = ctx.staged.write ?? ctx.staged.base;
      await requireRunning(ctx, "rewrite", [writer.hash], "writes with the target");
      if (
        (ctx.record.type === "rotate" || ctx.record.type === "reencrypt") &&
        !succeeded(ctx, "converge-key")
      )
        throw precondition("rewrite", "the apiservers have not all picked up the new key version");
      const r = ctx.record;
      if (r.cursor.done) return;
      const scan = await scanCluster(ctx.scanner);
      const total = Object.values(scan.resources).reduce((n, x) => n + x.total, 0);
      r.progress.total = Math.max(
        total,
        r.progress.rewritten + r.progress.unchanged + r.progress.skippedDeleted,
      );
      const resources = [];
      for (const name of ctx.cluster.resources)
        resources.push(await resolveResource(ctx.kube, name, ctx.cluster.tunables.retryTimeoutMs));
      const plugin = r.target.provider === "identity" ? undefined : targetPlugin(ctx);
      const emit = (p: Progress): void => ctx.progress({ event: "progress", stage: "rewrite", ...p });
      await rewriteAll({
        kube: ctx.kube,
        resources,
        cursor: r.cursor,
        progress: r.progress,
        pageSize: ctx.cluster.tunables.pageSize,
        concurrency: ctx.cluster.tunables.concurrency,
        retryForMs: ctx.cluster.tunables.retryTimeoutMs,
        clock: ctx.clock,
        beforePage: async () => {
          ctx.lease.check();
          // Writing on while the KMS is gone would make the apiservers coast on cached seeds: wait for it
          // (a blip), and stop the stage when it stays away longer than the retry timeout.
          if (plugin !== undefined) await healthyKeyId(ctx, "rewrite", plugin, "rewrite paused");
        },
        checkpoint: async (cursor, progress) => {
          ctx.lease.check();
          r.cursor = cursor;
          r.progress = progress;
          await ctx.save();
          emit(progress);
        },
        onObject: emit,
        onRetry: (why, waitMs) => ctx.progress({ event: "retry", stage: "rewrite", why, waitMs }),
        ...(ctx.faults?.rewrite === undefined ? {} : { faults: ctx.faults.rewrite }),
      });
    },

    verify: async (ctx) => {
      const r = ctx.record;
      if (!r.cursor.done || !succeeded(ctx, "rewrite"))
        throw precondition("verify", "the rewrite has not finished");
      const plugin = r.target.provider === "identity" ? undefined : targetPlugin(ctx);
      const keyId =
        plugin === undefined ? undefined : await healthyKeyId(ctx, "verify", plugin, "cannot verify");
      if (r.type === "rotate" && keyId !== r.rotation?.newKeyId)
        throw precondition("verify", "the plugin no longer serves the key version this rotation made");
      const report = await scanCluster(ctx.scanner, ctx.staged.final);
      const result = judge(
        report,
        { provider: r.target.provider, ...(keyId === undefined ? {} : { keyId }) },
        ctx.staged.final.hash,
        nowIso(ctx),
      );
      r.verify = result;
      ctx.progress({ event: "verify", stage: "verify", ...result });
      if (!result.passed) {
        if (result.problems === result.unreadable) {
          // Everything is under the target; only reading it back needed a KMS that is not there.
          await ctx.save();
          throw new AtrestError(
            "unavailable",
            `verify could not read everything back: ${result.reason ?? ""}`,
            {
              details: { reason: "KmsUnavailable" },
            },
          );
        }
        // Whatever is missing is rewritten again on resume; nothing is pruned.
        r.cursor = { resourceIndex: 0, lastKey: null, done: false };
        ctx.resumeAt = "rewrite";
        await ctx.save();
        throw new AtrestError(
          "failed-precondition",
          `verify failed: ${result.reason ?? `${result.problems} objects not under the target`}`,
          {
            details: { reason: "VerifyFailed" },
          },
        );
      }
      await ctx.save();
    },

    prune: async (ctx) => {
      const r = ctx.record;
      const final = ctx.staged.final;
      // The gate: a failed or partial rewrite can never be followed by a prune.
      if (
        r.verify?.passed !== true ||
        r.verify.configHash !== final.hash ||
        !r.cursor.done ||
        !succeeded(ctx, "verify")
      )
        throw precondition(
          "prune",
          "refusing to remove a provider: verify has not passed for the configuration that remains",
        );
      await requireRunning(
        ctx,
        "prune",
        [need(ctx.staged.write, "prune").hash, final.hash],
        "writes with the target",
      );
      await deploy(ctx, "prune", final);
    },

    "converge-prune": (ctx) => converge(ctx, "converge-prune", ctx.staged.final),

    "release-key": async (ctx) => {
      const r = ctx.record;
      if (!succeeded(ctx, "converge-prune"))
        throw precondition("release-key", "the pruned configuration is not in effect everywhere");
      const keep = r.target.keyId;
      for (const k of r.keys) {
        if (k.keyId === keep) continue;
        if (k.tag === "none" && k.role === "target") continue;
        await ctx.lease.confirm();
        await releaseKey(ctx.kms, k.keyId, ctx.cluster.name);
        k.tag = "none";
        await ctx.save();
      }
      if (keep !== undefined) await tagKeys(ctx, (k) => (k.keyId === keep ? "write" : undefined));
    },
  },
);

/** The key the record says the target writes with (for messages). */
export function describeTarget(r: OperationRecord): string {
  if (r.target.provider === "identity") return "identity (no encryption)";
  return `${r.target.provider}${r.target.keyId === undefined ? "" : ` with KMS key ${r.target.keyId}`}`;
}

export { kmsKeyOfKeyId };
