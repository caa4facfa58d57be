/**
 * The operation record and its lease in the cluster: one ConfigMap (kube-system/atrest-encryption-operation)
 * read and written with compare-and-swap on its resourceVersion, so two machines can never both think
 * they run the operation. Every write re-reads and checks that this process still holds the lease; a
 * process whose lease was taken over (`--force`) stops at its next checkpoint.
 */
import { hostname, userInfo } from "node:os";
import { AtrestError, isAtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import type { Random } from "../common/random.js";
import type { KubeClient } from "./kube-client.js";
import { RECORD_CONFIGMAP, RECORD_NAMESPACE, type Lease, type OperationRecord } from "./operation-record.js";

const PATH = `/api/v1/namespaces/${RECORD_NAMESPACE}/configmaps`;
const MAX_CAS_ATTEMPTS = 20;

interface ConfigMap {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

export interface RecordSnapshot {
  readonly record: OperationRecord | undefined;
  readonly lease: Lease | undefined;
  /** Finished operations, newest first (summaries: type, state, timings, measured rate). */
  readonly history: readonly HistoryEntry[];
  readonly resourceVersion: string | undefined;
}

export interface HistoryEntry {
  readonly id: string;
  readonly type: string;
  readonly state: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly rewriteRatePerSecond?: number;
  readonly failure?: string;
}

const HISTORY_KEEP = 10;

export function whoAmI(): string {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers)
  }
  return `${user}@${hostname()} pid ${process.pid}`;
}

function parseJson<T>(text: string | undefined, what: string): T | undefined {
  if (text === undefined || text === "") return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new AtrestError(
      "data-corrupt",
      `the ${what} in ${RECORD_NAMESPACE}/${RECORD_CONFIGMAP} is not JSON; fix or delete that ConfigMap`,
      { cause: err },
    );
  }
}

/** What the record store needs of the Kubernetes API (a port: KubeClient in production). */
export type RecordApi = Pick<KubeClient, "getJson" | "putJson" | "postJson">;

export class RecordStore {
  constructor(
    private readonly kube: RecordApi,
    private readonly clock: Clock,
    private readonly retryForMs: number,
  ) {}

  async read(): Promise<RecordSnapshot> {
    let cm: ConfigMap;
    try {
      cm = await this.kube.getJson<ConfigMap>(`${PATH}/${RECORD_CONFIGMAP}`, { retryForMs: this.retryForMs });
    } catch (err) {
      if (isAtrestError(err, "not-found"))
        return { record: undefined, lease: undefined, history: [], resourceVersion: undefined };
      throw err;
    }
    const data = cm.data ?? {};
    return {
      record: parseJson<OperationRecord>(data["operation.json"], "operation record"),
      lease: parseJson<Lease>(data["lease.json"], "lease"),
      history: parseJson<HistoryEntry[]>(data["history.json"], "history") ?? [],
      resourceVersion: cm.metadata.resourceVersion,
    };
  }

  /**
   * Read-modify-write with compare-and-swap: `mutate` sees the current snapshot and returns the new
   * record/lease/history (or throws to abort). Retries on conflicts; creates the ConfigMap when absent.
   */
  async update(
    mutate: (s: RecordSnapshot) => {
      record: OperationRecord | undefined;
      lease: Lease | undefined;
      history?: readonly HistoryEntry[];
    },
  ): Promise<RecordSnapshot> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.read();
      const next = mutate(current);
      const history = next.history ?? current.history;
      const body: ConfigMap = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: RECORD_CONFIGMAP,
          namespace: RECORD_NAMESPACE,
          labels: { "app.kubernetes.io/managed-by": "atrest" },
          ...(current.resourceVersion === undefined ? {} : { resourceVersion: current.resourceVersion }),
        },
        data: {
          ...(next.record === undefined ? {} : { "operation.json": JSON.stringify(next.record) }),
          ...(next.lease === undefined ? {} : { "lease.json": JSON.stringify(next.lease) }),
          "history.json": JSON.stringify(history.slice(0, HISTORY_KEEP)),
        },
      };
      try {
        const written =
          current.resourceVersion === undefined
            ? await this.kube.postJson<ConfigMap>(PATH, body, { retryForMs: this.retryForMs })
            : await this.kube.putJson<ConfigMap>(`${PATH}/${RECORD_CONFIGMAP}`, body, {
                retryForMs: this.retryForMs,
              });
        return {
          record: next.record,
          lease: next.lease,
          history,
          resourceVersion: written.metadata.resourceVersion,
        };
      } catch (err) {
        const lost = isAtrestError(err, "conflict") || isAtrestError(err, "already-exists");
        if (!lost || attempt >= MAX_CAS_ATTEMPTS) throw err;
      }
    }
  }

  now(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

/** True when nobody holds the lease, or its holder stopped renewing it. */
export function leaseIsLive(lease: Lease | undefined, nowMs: number): lease is Lease {
  return lease !== undefined && Date.parse(lease.expiresAt) > nowMs;
}

/**
 * This process's hold on the cluster's one operation slot: acquired with CAS, renewed in the
 * background every third of its duration, released when the operation ends. `check()` throws once
 * the lease was lost (another process took it with --force, or renewals failed past expiry).
 */
export class LeaseHolder {
  readonly holder: string;
  private timer: ReturnType<Clock["setTimeout"]> | undefined;
  private lostReason: string | undefined;
  private expiresAtMs = 0;

  constructor(
    private readonly records: RecordStore,
    private readonly clock: Clock,
    random: Random,
    private readonly durationMs: number,
    readonly owner: string = whoAmI(),
  ) {
    this.holder = random.uuid();
  }

  /** A lease for this holder from now; `held()` once it is written. */
  lease(operationId: string, acquiredAt?: string): Lease {
    const now = this.clock.now();
    return {
      holder: this.holder,
      owner: this.owner,
      operationId,
      acquiredAt: acquiredAt ?? new Date(now).toISOString(),
      renewedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.durationMs).toISOString(),
    };
  }

  /** The lease `l` is in the cluster now (its compare-and-swap succeeded). */
  held(l: Lease): void {
    this.expiresAtMs = Date.parse(l.expiresAt);
  }

  /**
   * Throws (conflict) once the lease is known to be lost. A lease that merely expired locally (renewals
   * could not reach the apiserver) is not lost yet: `confirm()` and every record write (a
   * compare-and-swap that checks the holder) find out whether anyone took it meanwhile.
   */
  check(): void {
    if (this.lostReason !== undefined)
      throw new AtrestError("conflict", `the operation's lease was lost: ${this.lostReason}`);
  }

  /**
   * Renews now, by compare-and-swap: resolves when this process still holds the lease (even after an
   * outage let it expire — nobody took it), throws conflict when another did. Called right before a
   * change outside the record (a configuration delivered, a key tagged, a key version made).
   */
  async confirm(): Promise<void> {
    this.check();
    if (this.clock.now() + this.durationMs / 2 < this.expiresAtMs) return; // renewed recently
    await this.renew(true);
    this.check();
  }

  ownsIn(snapshot: RecordSnapshot): boolean {
    return snapshot.lease?.holder === this.holder;
  }

  /** Starts renewing in the background. */
  startRenewing(): void {
    const tick = (): void => {
      this.timer = this.clock.setTimeout(
        () => {
          void this.renew().finally(() => {
            if (this.lostReason === undefined && this.timer !== undefined) tick();
          });
        },
        Math.max(50, Math.floor(this.durationMs / 3)),
      );
      this.timer.unref?.();
    };
    tick();
  }

  private async renew(propagate = false): Promise<void> {
    try {
      const written = await this.records.update((s) => {
        if (s.lease?.holder !== this.holder) {
          throw new AtrestError(
            "conflict",
            `taken over by ${s.lease?.owner ?? "nobody"} (${s.lease === undefined ? "released" : "lease replaced"})`,
          );
        }
        return { record: s.record, lease: this.lease(s.lease.operationId, s.lease.acquiredAt) };
      });
      if (written.lease !== undefined) this.held(written.lease);
    } catch (err) {
      if (isAtrestError(err, "conflict")) this.lostReason = err.message;
      // Other failures (the apiserver restarting) are retried at the next tick, or, for confirm(),
      // reported: the change it guards waits until the lease is known to be ours.
      else if (propagate) throw err;
    }
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
