/**
 * Automatic re-encryption after a KMS key rotation — what ACK, EKS, GKE and AKS leave to
 * `kubectl annotate`. Per watched cluster, every `intervalMs`: read each apiserver's /readyz and
 * /metrics (which key_id its KMS Status calls returned) and, when that changed since the cluster was
 * last found up to date, the cluster's encryption status (writer, its key_id, objects per key_id);
 * decide.ts says whether a re-encrypt is due. If so the operations engine runs one (`reencrypt`: its
 * converge-key stage checks the key_id once more, then rewrites and verifies), recorded as started by
 * the control plane with the reason. One per cluster at a time; the per-cluster setting (on unless the
 * caller's `enabled` says no) is asked before each decision. A caller that runs changes as tasks of
 * its own (the control plane: 409 and cool-down hold for them as for UpdateKMSEncryption) passes
 * `start`, and the watcher only decides.
 */
import { systemClock, type Clock, type Timer } from "../../common/clock.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import {
  observeAll,
  type ClusterSpec,
  type EncryptionOperations,
  type KubeClient,
  type OperationRecord,
} from "../../operations/index.js";
import { decide, latestKeyIds, type Decision, type WaitReason } from "./decide.js";

export const DEFAULT_WATCH_INTERVAL_MS = 60_000;
/** How long every apiserver must have been on the new key_id (OpenShift's prototype waits 5 min). */
export const DEFAULT_SETTLE_MS = 5 * 60_000;

/** What the watcher needs of a cluster; the caller builds the engine (with its store scanner). */
export interface WatchedCluster {
  readonly clusterId: string;
  readonly cluster: ClusterSpec;
  readonly kube: KubeClient;
  /** An engine on the cluster whose records name `owner` as who started the operation; closed after use. */
  operations(owner: string): { readonly ops: EncryptionOperations; close(): void };
}

export type AutoReencryptEvent =
  | {
      readonly type: "AutoReencryptStarted";
      readonly clusterId: string;
      readonly startedBy: string;
      readonly keyIdHash: string;
      readonly stale: Readonly<Record<string, number>>;
      readonly message: string;
    }
  | {
      readonly type: "AutoReencryptSucceeded" | "AutoReencryptFailed";
      readonly clusterId: string;
      readonly operationId?: string;
      readonly message: string;
    };

/** The per-cluster gate: on, off (the setting), or not now (a reason to wait, e.g. the cluster is updating). */
export type AutoReencryptGate = boolean | { readonly wait: WaitReason; readonly message: string };

/** What a caller's `start` did: began the re-encrypt (its task id), or not, saying why. */
export type StartResult =
  | { readonly started: true; readonly taskId: string }
  | { readonly started: false; readonly reason: WaitReason; readonly message: string };

export interface AutoReencryptOptions {
  readonly intervalMs?: number;
  readonly settleMs?: number;
  /** The per-cluster setting; default on. */
  readonly enabled?: (clusterId: string) => AutoReencryptGate | Promise<AutoReencryptGate>;
  /**
   * Starts the re-encrypt another way than the engine here (the control plane: a task). Without it
   * the watcher runs `operations(startedBy).ops.start({type: "reencrypt"})` itself.
   */
  readonly start?: (
    target: WatchedCluster,
    decision: Extract<Decision, { action: "reencrypt" }>,
    startedBy: string,
  ) => Promise<StartResult>;
  /** Each start and end (the control plane records them as cluster events). */
  readonly onEvent?: (event: AutoReencryptEvent) => void;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Watch {
  readonly target: WatchedCluster;
  timer: Timer | undefined;
  /** The apiservers' key_ids when the cluster was last found up to date: skip the status scan while equal. */
  upToDate: string | undefined;
  /** The converged key_id hash and since when (the settle period). */
  converged: { hash: string; sinceMs: number } | undefined;
  running: Promise<OperationRecord | undefined> | undefined;
  ticking: Promise<Decision> | undefined;
}

export const STARTED_BY_PREFIX = "atrest control plane: automatic re-encryption";

export class AutoReencrypt {
  readonly #watches = new Map<string, Watch>();
  readonly #intervalMs: number;
  readonly #settleMs: number;
  readonly #enabled: (clusterId: string) => AutoReencryptGate | Promise<AutoReencryptGate>;
  readonly #start: AutoReencryptOptions["start"];
  readonly #onEvent: (event: AutoReencryptEvent) => void;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #closed = false;

  constructor(options: AutoReencryptOptions = {}) {
    this.#intervalMs = options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    this.#settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.#enabled = options.enabled ?? (() => true);
    this.#start = options.start;
    this.#onEvent = options.onEvent ?? (() => undefined);
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger();
  }

  /** Watches a cluster (replacing an earlier watch of the same id); the first check runs after one interval. */
  watch(target: WatchedCluster): void {
    this.unwatch(target.clusterId);
    const w: Watch = {
      target,
      timer: undefined,
      upToDate: undefined,
      converged: undefined,
      running: undefined,
      ticking: undefined,
    };
    this.#watches.set(target.clusterId, w);
    this.#schedule(w);
  }

  unwatch(clusterId: string): void {
    const w = this.#watches.get(clusterId);
    if (w?.timer !== undefined) this.#clock.clearTimeout(w.timer);
    this.#watches.delete(clusterId);
  }

  /** One check now (shared with one in flight); starts the re-encrypt when due. */
  checkNow(clusterId: string): Promise<Decision> {
    const w = this.#watches.get(clusterId);
    if (w === undefined)
      return Promise.resolve({ action: "wait", reason: "AutoReencryptDisabled", message: "not watched" });
    return (w.ticking ??= this.#check(w).finally(() => (w.ticking = undefined)));
  }

  /** The re-encrypt this watcher started and that still runs (tests, shutdown). */
  running(clusterId: string): Promise<OperationRecord | undefined> | undefined {
    return this.#watches.get(clusterId)?.running;
  }

  /** Stops watching; a running re-encrypt is left to finish (its lease lapses if the process ends). */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#watches.keys()]) this.unwatch(id);
  }

  #schedule(w: Watch): void {
    if (this.#closed) return;
    w.timer = this.#clock.setTimeout(() => {
      void this.checkNow(w.target.clusterId)
        .catch((err: unknown) =>
          this.#logger.warn(
            { cluster: w.target.clusterId, err: err instanceof Error ? err.message : String(err) },
            "auto-reencrypt: check failed",
          ),
        )
        .finally(() => {
          if (this.#watches.get(w.target.clusterId) === w) this.#schedule(w);
        });
    }, this.#intervalMs);
    w.timer.unref?.();
  }

  async #check(w: Watch): Promise<Decision> {
    const { target } = w;
    const gate = await this.#enabled(target.clusterId);
    if (gate === false)
      return { action: "wait", reason: "AutoReencryptDisabled", message: "automatic re-encryption is off" };
    if (gate !== true) return { action: "wait", reason: gate.wait, message: gate.message };
    if (w.running !== undefined)
      return { action: "wait", reason: "OperationInProgress", message: "the automatic re-encrypt runs" };
    const observations = await observeAll(target.kube, target.cluster.apiservers);
    const fingerprint = JSON.stringify(
      observations.map((o) => [o.url, o.healthy, [...latestKeyIds(o)].sort()]),
    );
    if (w.upToDate === fingerprint)
      return { action: "wait", reason: "UpToDate", message: "nothing changed since the last check" };
    const reader = target.operations(STARTED_BY_PREFIX);
    let status;
    try {
      status = await reader.ops.status();
    } finally {
      reader.close();
    }
    const nowMs = this.#clock.now();
    const converged = Object.values(status.resources)[0]?.keyIdHash ?? undefined;
    if (converged !== undefined && w.converged?.hash !== converged)
      w.converged = { hash: converged, sinceMs: nowMs };
    const decision = decide({
      status,
      observations,
      settleMs: this.#settleMs,
      convergedSinceMs: w.converged?.sinceMs,
      nowMs,
    });
    if (decision.action === "wait") {
      if (decision.reason === "UpToDate") w.upToDate = fingerprint;
      else if (decision.reason === "KeyIdNotConverged") w.converged = undefined;
      return decision;
    }
    w.upToDate = undefined;
    const startedBy = `${STARTED_BY_PREFIX} (key rotated to ${decision.keyIdHash})`;
    if (this.#start !== undefined) {
      const r = await this.#start(target, decision, startedBy);
      if (!r.started) return { action: "wait", reason: r.reason, message: r.message };
      this.#logger.info(
        { cluster: target.clusterId, keyIdHash: decision.keyIdHash, taskId: r.taskId },
        "auto-reencrypt: task started",
      );
      this.#onEvent({
        type: "AutoReencryptStarted",
        clusterId: target.clusterId,
        startedBy,
        keyIdHash: decision.keyIdHash,
        stale: decision.stale,
        message: `${decision.message} (task ${r.taskId})`,
      });
      return decision;
    }
    this.#logger.info(
      { cluster: target.clusterId, keyIdHash: decision.keyIdHash },
      "auto-reencrypt: starting",
    );
    this.#onEvent({
      type: "AutoReencryptStarted",
      clusterId: target.clusterId,
      startedBy,
      keyIdHash: decision.keyIdHash,
      stale: decision.stale,
      message: decision.message,
    });
    const engine = target.operations(startedBy);
    w.running = engine.ops
      .start({ type: "reencrypt" })
      .then(
        (record) => {
          this.#onEvent({
            type: record.state === "Succeeded" ? "AutoReencryptSucceeded" : "AutoReencryptFailed",
            clusterId: target.clusterId,
            operationId: record.id,
            message: `re-encrypt ${record.id}: ${record.state}`,
          });
          return record;
        },
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          this.#logger.warn({ cluster: target.clusterId, err: message }, "auto-reencrypt: failed");
          this.#onEvent({ type: "AutoReencryptFailed", clusterId: target.clusterId, message });
          return undefined;
        },
      )
      .finally(() => {
        engine.close();
        w.running = undefined;
      });
    return decision;
  }
}
