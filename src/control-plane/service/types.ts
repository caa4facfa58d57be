import type { CallerIdentity } from "../../iam/index.js";

/**
 * The service layer's types: what the cs routes and the console (src/control-plane/console) both hand
 * to and get from `ClusterService`, so both are authorized and recorded the same way.
 */

/** Who asks, from where; `via` says which door they came through (recorded on every event). */
export interface Caller {
  readonly identity: CallerIdentity;
  readonly sourceIp: string;
  /** The request's id (the answer's requestId; recorded with the event). */
  readonly requestId: string;
  readonly userAgent?: string;
  readonly via: "cs-api" | "console" | "cli";
}

/** ACK's cluster states (DescribeClusterDetailResponseBody.state). */
export const CLUSTER_STATES = [
  "initial",
  "failed",
  "running",
  "updating",
  "upgrading",
  "removing",
  "draining",
  "scaling",
  "inactive",
  "unavailable",
  "deleting",
  "deleted",
  "delete_failed",
  "waiting",
  "disconnected",
] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

/** ACK's predefined cluster roles: administrator, O&M engineer, developer, restricted user. */
export const CLUSTER_ROLES = ["admin", "ops", "dev", "restricted"] as const;
export type ClusterRole = (typeof CLUSTER_ROLES)[number];

export interface ClusterView {
  readonly clusterId: string;
  readonly name: string;
  readonly regionId: string;
  readonly state: ClusterState;
  /** The key encrypting Secrets ("" when encryption is off). */
  readonly kmsKeyId: string;
  readonly encryptionEnabled: boolean;
  /** Why the last change failed (state failed). */
  readonly failureReason: string;
  readonly currentTaskId: string | undefined;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the last change finished (0: never). */
  readonly lastChangeAt: number;
  /** Until when UpdateKMSEncryption answers 409 (0: no cool-down now). */
  readonly coolDownUntil: number;
  /** ACK's tags (ModifyClusterTags), in the order given. */
  readonly tags: ReadonlyArray<{ readonly key: string; readonly value: string }>;
  /** Re-encrypt on its own after the key rotates (the `atrest.io/auto-reencrypt` tag; default on). */
  readonly autoReencrypt: boolean;
  /** The key's health as the last check found it (EKS's `health.issues`); undefined before one. */
  readonly health: ClusterHealth | undefined;
}

/** EKS's ClusterHealth: `issues[{code, message, resourceIds}]` (KmsKeyDisabled, KmsKeyNotFound, …). */
export interface ClusterHealth {
  readonly issues: ReadonlyArray<{
    readonly code: string;
    readonly message: string;
    readonly resourceIds: readonly string[];
  }>;
  /** The checked key's state (Enabled, Disabled, PendingDeletion; "" when it could not be read). */
  readonly keyState: string;
  readonly checkedAt: number;
}

export type TaskState = "running" | "success" | "fail";

export interface TaskStage {
  readonly name: string;
  readonly state: "pending" | "running" | "succeeded" | "failed" | "skipped";
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly message?: string;
  /** The rewrite's count and pace (the engine's progress events), for the console's progress bar. */
  readonly progress?: TaskProgress;
}

/** The rewrite's count and pace, persisted at most once a second while it runs (progress-writer.ts). */
export interface TaskProgress {
  readonly total: number;
  /** Objects handled so far (rewritten, already current, or deleted meanwhile). */
  readonly done: number;
  /** Of those, the ones the apiserver really rewrote. */
  readonly rewritten: number;
  readonly remaining: number;
  /** Objects per second observed since this run of the rewrite began. */
  readonly ratePerSecond: number;
  /** From the observed rate; null until there is one. */
  readonly etaSeconds: number | null;
}

export interface TaskView {
  readonly taskId: string;
  readonly clusterId: string;
  readonly type: string;
  readonly state: TaskState;
  readonly currentStage: string;
  readonly stages: readonly TaskStage[];
  readonly error: { readonly code: string; readonly message: string } | undefined;
  /** The rewrite stage's progress, when it has begun. */
  readonly progress?: TaskProgress;
  /** What was asked (UpdateKMSEncryption's body), so a failed change can be asked for again. */
  readonly change: UpdateKmsEncryptionRequest;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | undefined;
  /** The control-plane instance that drives it (or drove it last): its lease owner. */
  readonly owner: string;
  /** What happened to it, oldest first: asked for, taken over by another instance, finished. */
  readonly events: readonly ClusterEvent[];
}

export interface ClusterEvent {
  readonly eventId: string;
  readonly clusterId: string;
  readonly taskId: string;
  readonly time: number;
  readonly type: string;
  readonly level: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
  readonly source: string;
}

export interface UpdateKmsEncryptionRequest {
  readonly disableEncryption: boolean;
  /** Required to enable; ignored when disabling. */
  readonly kmsKeyId?: string;
}

export interface Page {
  readonly pageSize: number;
  readonly pageNumber: number;
}

/** The one service both doors (cs API, console) call. */
export interface ClusterService {
  listClusters(
    caller: Caller,
    q: Page & { readonly name?: string; readonly clusterId?: string; readonly regionId?: string },
  ): Promise<{ clusters: ClusterView[]; totalCount: number }>;
  describeCluster(caller: Caller, clusterId: string): Promise<ClusterView>;
  /** Starts the change in the background and answers once it is accepted (state updating). */
  updateKmsEncryption(
    caller: Caller,
    clusterId: string,
    req: UpdateKmsEncryptionRequest,
  ): Promise<{ taskId: string }>;
  listEvents(
    caller: Caller,
    clusterId: string,
    q: Page & { readonly taskId?: string },
  ): Promise<{ events: ClusterEvent[]; totalCount: number }>;
  describeTask(caller: Caller, taskId: string): Promise<TaskView>;
  /** CreateCluster: a managed cluster (apiserver + plugin), encrypted from the first write with a key. */
  createCluster(
    caller: Caller,
    req: { readonly name: string; readonly regionId?: string; readonly kmsKeyId?: string },
  ): Promise<ClusterView>;
  /** DeleteCluster: a managed cluster stopped and removed, its keys released; a registered one forgotten. */
  deleteCluster(caller: Caller, clusterId: string): Promise<void>;
  /** Registers an existing cluster from its cluster file; the caller becomes its administrator. */
  registerCluster(caller: Caller, req: { readonly clusterFile: string }): Promise<ClusterView>;
  grantRole(caller: Caller, clusterId: string, principal: string, role: ClusterRole): Promise<void>;
  /** ModifyClusterTags: the cluster's tags replaced by `tags` (a full update, as ACK's). */
  modifyClusterTags(
    caller: Caller,
    clusterId: string,
    tags: ReadonlyArray<{ readonly key: string; readonly value?: string }>,
  ): Promise<void>;
  listRoles(
    caller: Caller,
    clusterId: string,
  ): Promise<Array<{ principal: string; role: ClusterRole; grantedBy: string; grantedAt: number }>>;
}
