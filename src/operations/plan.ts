/**
 * The dry-run plan (`--dry-run`): the stages and the configuration each one delivers, the objects to
 * rewrite per resource, an estimate of the time and the KMS calls, and every blocker — key state,
 * region, health, apiservers not converged, an operation already running. Nothing is changed.
 */
import type { ClusterSpec } from "./cluster-file.js";
import { STAGES, type StageName } from "./operation-record.js";
import type { Blocker, OperationRequest, Prepared } from "./preflight.js";
import type { RecordSnapshot } from "./record-store.js";

/** Used for the estimate when no operation has measured this cluster yet (objects/s). */
export const DEFAULT_REWRITE_RATE = 500;

export interface PlanStage {
  readonly name: StageName;
  readonly does: string;
  /** The configuration the stage delivers (or waits for), by hash. */
  readonly configHash?: string;
}

export interface Plan {
  readonly apiVersion: "atrest.io/v1alpha1";
  readonly kind: "EncryptionPlan";
  readonly cluster: string;
  readonly type: OperationRequest["type"];
  readonly target: NonNullable<Prepared["target"]> | null;
  readonly stages: readonly PlanStage[];
  readonly resources: Record<string, { total: number; toRewrite: number }>;
  readonly estimate: {
    readonly rewriteSeconds: number;
    /** From the last operation on this cluster, or the default. */
    readonly ratePerSecond: number;
    readonly configurationReloads: number;
    readonly kmsCalls: number;
    readonly note: string;
  };
  readonly apiservers: ReadonlyArray<{ url: string; loadedConfigHash: string | null; healthy: boolean }>;
  readonly blockers: readonly Blocker[];
}

const DOES: Record<StageName, string> = {
  preflight: "check the apiservers, the key and the plugin (canary Status → Encrypt → Decrypt)",
  "add-read-provider": "deliver a configuration that can also read with the target",
  "converge-read": "wait until every apiserver has loaded it",
  "switch-writer": "deliver a configuration that writes with the target (old providers still read)",
  "converge-writer": "wait until every apiserver has loaded it",
  "rotate-key": "create a new key version in the KMS",
  "converge-key": "wait until the plugin and every apiserver use the new key version",
  rewrite: "rewrite every stale object through the API (no-op updates)",
  verify: "scan the store: every object under the target, readable with the providers that remain",
  prune: "deliver a configuration with only the target",
  "converge-prune": "wait until every apiserver has loaded it",
  "release-key": "untag and unprotect keys no stored object depends on any more",
};

export function buildPlan(
  cluster: ClusterSpec,
  request: OperationRequest,
  prepared: Prepared,
  snapshot: RecordSnapshot,
  busy: string | undefined,
): Plan {
  const s = prepared.staged;
  const hashOf: Partial<Record<StageName, string | undefined>> = {
    preflight: s?.base.hash,
    "add-read-provider": s?.read?.hash,
    "converge-read": s?.read?.hash,
    "switch-writer": s?.write?.hash,
    "converge-writer": s?.write?.hash,
    prune: s?.final.hash,
    "converge-prune": s?.final.hash,
    verify: s?.final.hash,
  };
  const stages = STAGES[request.type].map((name) => {
    const h = hashOf[name];
    return { name, does: DOES[name], ...(h === undefined ? {} : { configHash: h }) };
  });
  const toRewrite = Object.values(prepared.counts).reduce((n, c) => n + c.toRewrite, 0);
  const measured = snapshot.history.find((h) => h.rewriteRatePerSecond !== undefined)?.rewriteRatePerSecond;
  const rate = measured ?? DEFAULT_REWRITE_RATE;
  const reloads = new Set(
    [s?.read?.hash, s?.write?.hash, s?.final.hash].filter((h) => h !== undefined && h !== s?.base.hash),
  ).size;
  const apiservers = cluster.apiservers.length;
  // KMS v2 makes one seed (one Encrypt) per apiserver per configuration it loads with the target, and
  // verify decrypts each distinct seed once; the canary is one Encrypt + one Decrypt; KMS v1 would be
  // one Encrypt per object written.
  const kmsTarget = prepared.target !== undefined && prepared.target.provider !== "identity";
  const kmsCalls = kmsTarget
    ? 2 +
      apiservers * Math.max(reloads, 1) +
      apiservers * Math.max(reloads, 1) +
      (request.type === "rotate" ? 1 : 0)
    : 2;
  const blockers = [...prepared.blockers];
  if (busy !== undefined)
    blockers.unshift({ code: "conflict", reason: "OperationInProgress", message: busy });
  return {
    apiVersion: "atrest.io/v1alpha1",
    kind: "EncryptionPlan",
    cluster: cluster.name,
    type: request.type,
    target: prepared.target ?? null,
    stages,
    resources: prepared.counts,
    estimate: {
      rewriteSeconds: Math.ceil(toRewrite / rate),
      ratePerSecond: rate,
      configurationReloads: reloads,
      kmsCalls,
      note: `plus up to ${reloads} configuration reload${reloads === 1 ? "" : "s"} (an apiserver polls its file; kube-apiserver once a minute)`,
    },
    apiservers: prepared.observations.map((o) => ({
      url: o.url,
      loadedConfigHash: o.loadedConfigHash ?? null,
      healthy: o.healthy,
    })),
    blockers,
  };
}
