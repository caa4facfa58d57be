import { hostname } from "node:os";
import type { ManagedClustersPort } from "./managed-port.js";
import { systemClock, type Clock } from "../../common/clock.js";
import type { AtrestError } from "../../common/errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { systemRandom, type Random } from "../../common/random.js";
import type { IamDb, IdentityStore } from "../../iam/index.js";
import { ClusterStore, type EventRow } from "../store/cluster-store.js";
import type { ControlPlaneDb } from "../store/migrations.js";
import { ClusterTagStore } from "../store/tag-store.js";
import { WatchStore } from "../store/watch-store.js";
import type { ClusterWatchOptions } from "./cluster-watch.js";
import type { ClusterEngineFactory } from "./engine-port.js";

/** ACK: "wait at least 5 minutes before calling this API operation again". */
export const DEFAULT_UPDATE_COOLDOWN_MS = 5 * 60_000;
/** A task lease not renewed for this long is taken over by another instance (or the next start). */
export const DEFAULT_TASK_LEASE_MS = 30_000;

export interface ControlPlaneServiceOptions {
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly cdb: ControlPlaneDb;
  readonly accountId: string;
  /** The control plane's own region (clusters carry their own). */
  readonly regionId: string;
  readonly engines: ClusterEngineFactory;
  /** CreateCluster / DeleteCluster run managed clusters here; without it CreateCluster is refused. */
  readonly managed?: ManagedClustersPort;
  readonly cooldownMs?: number;
  readonly taskLeaseMs?: number;
  /** Who drives tasks here (lease owner); default host/pid/random. */
  readonly instanceId?: string;
  /**
   * Key health and automatic re-encryption of every cluster (service/cluster-watch.ts), started with
   * the tasks; its intervals, or false for none (tests of other parts).
   */
  readonly watch?: ClusterWatchOptions | false;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
}

/** What every part of the service shares: the options with their defaults filled in, and the store. */
export interface ServiceContext {
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly accountId: string;
  readonly regionId: string;
  readonly engines: ClusterEngineFactory;
  readonly managed: ManagedClustersPort | undefined;
  readonly store: ClusterStore;
  /** Cluster tags (ModifyClusterTags; the auto re-encrypt setting). */
  readonly tags: ClusterTagStore;
  /** Key health per cluster and the cluster watch's lease. */
  readonly watch: WatchStore;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly cooldownMs: number;
  readonly leaseMs: number;
  readonly instanceId: string;
}

export function serviceContext(o: ControlPlaneServiceOptions): ServiceContext {
  const random = o.random ?? systemRandom;
  return {
    identity: o.identity,
    idb: o.idb,
    accountId: o.accountId,
    regionId: o.regionId,
    engines: o.engines,
    managed: o.managed,
    store: new ClusterStore(o.cdb),
    tags: new ClusterTagStore(o.cdb),
    watch: new WatchStore(o.cdb),
    clock: o.clock ?? systemClock,
    random,
    logger: o.logger ?? silentLogger(),
    cooldownMs: o.cooldownMs ?? DEFAULT_UPDATE_COOLDOWN_MS,
    leaseMs: o.taskLeaseMs ?? DEFAULT_TASK_LEASE_MS,
    instanceId: o.instanceId ?? `${hostname()}/${process.pid}/${random.bytes(4).toString("hex")}`,
  };
}

export interface ClusterEventInput {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly source: string;
  readonly level?: "Normal" | "Warning";
}

/** The row of one DescribeClusterEvents entry for the cluster (and its task, "" for none), now. */
export function clusterEventRow(
  ctx: ServiceContext,
  clusterId: string,
  taskId: string,
  e: ClusterEventInput,
): EventRow {
  return {
    event_id: `E-${ctx.random.bytes(12).toString("hex")}`,
    cluster_id: clusterId,
    task_id: taskId,
    time: ctx.clock.now(),
    type: e.type,
    level: e.level ?? "Normal",
    reason: e.reason,
    message: e.message,
    source: e.source,
  };
}

/** Records one DescribeClusterEvents entry for the cluster (and its task, "" for none). */
export async function recordClusterEvent(
  ctx: ServiceContext,
  clusterId: string,
  taskId: string,
  e: ClusterEventInput,
): Promise<void> {
  await ctx.store.addEvent(clusterEventRow(ctx, clusterId, taskId, e));
}

/** The engine's `details.reason` (OperationInProgress, KeyDisabled, …), or `fallback`. */
export function reasonOf(err: AtrestError, fallback: string): string {
  const r = err.details["reason"];
  return typeof r === "string" ? r : fallback;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
