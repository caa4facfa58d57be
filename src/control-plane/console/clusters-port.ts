import type { CallerIdentity } from "../../iam/index.js";

/**
 * What the console needs of the control plane's cluster service (a port belongs to its consumer):
 * the same methods, taking the same Caller, that the cs API's routes call — so the console is
 * authorized (RAM on the cluster ARN, the cluster roles) and recorded exactly as the API is.
 * ControlPlaneService satisfies it structurally.
 */
export interface ConsoleCaller {
  readonly identity: CallerIdentity;
  readonly sourceIp: string;
  readonly requestId: string;
  readonly userAgent?: string;
  readonly via: "console";
}

export interface ConsoleClusterView {
  readonly clusterId: string;
  readonly name: string;
  readonly regionId: string;
  readonly state: string;
  readonly kmsKeyId: string;
  readonly encryptionEnabled: boolean;
  readonly failureReason: string;
  readonly currentTaskId: string | undefined;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastChangeAt: number;
  readonly coolDownUntil: number;
}

export interface ConsoleTaskView {
  readonly taskId: string;
  readonly clusterId: string;
  readonly type: string;
  readonly state: string;
  readonly currentStage: string;
  readonly stages: ReadonlyArray<{
    readonly name: string;
    readonly state: string;
    readonly startedAt?: number;
    readonly finishedAt?: number;
    readonly message?: string;
    readonly progress?: ConsoleTaskView["progress"];
  }>;
  readonly error: { readonly code: string; readonly message: string } | undefined;
  /** The rewrite's count and pace, when the service reports it. */
  readonly progress?: {
    readonly total: number;
    readonly done: number;
    readonly rewritten: number;
    readonly remaining: number;
    readonly ratePerSecond: number;
    readonly etaSeconds: number | null;
  };
  /** What was asked, so a failed change can be asked for again (Retry / Resume). */
  readonly change: { readonly disableEncryption: boolean; readonly kmsKeyId?: string };
  readonly createdBy: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | undefined;
}

export interface ConsoleClusterEvent {
  readonly eventId: string;
  readonly time: number;
  readonly type: string;
  readonly level: string;
  readonly reason: string;
  readonly message: string;
  readonly source: string;
}

export interface ConsoleClusters {
  listClusters(
    caller: ConsoleCaller,
    q: { readonly pageSize: number; readonly pageNumber: number },
  ): Promise<{ clusters: ConsoleClusterView[]; totalCount: number }>;
  describeCluster(caller: ConsoleCaller, clusterId: string): Promise<ConsoleClusterView>;
  updateKmsEncryption(
    caller: ConsoleCaller,
    clusterId: string,
    req: { readonly disableEncryption: boolean; readonly kmsKeyId?: string },
  ): Promise<{ taskId: string }>;
  listEvents(
    caller: ConsoleCaller,
    clusterId: string,
    q: { readonly pageSize: number; readonly pageNumber: number },
  ): Promise<{ events: ConsoleClusterEvent[]; totalCount: number }>;
  describeTask(caller: ConsoleCaller, taskId: string): Promise<ConsoleTaskView>;
  /** CreateCluster (a managed cluster; with a key, its Secrets encrypted from the first write). */
  createCluster(
    caller: ConsoleCaller,
    req: {
      readonly name: string;
      readonly regionId?: string;
      readonly kmsKeyId?: string;
      readonly etcd?: { readonly endpoints: readonly string[] };
    },
  ): Promise<ConsoleClusterView>;
  deleteCluster(caller: ConsoleCaller, clusterId: string): Promise<void>;
  grantRole(
    caller: ConsoleCaller,
    clusterId: string,
    principal: string,
    role: ConsoleClusterRole,
  ): Promise<void>;
  listRoles(
    caller: ConsoleCaller,
    clusterId: string,
  ): Promise<Array<{ principal: string; role: ConsoleClusterRole; grantedBy: string; grantedAt: number }>>;
}

/** ACK's predefined cluster roles: administrator, O&M engineer, developer, restricted user. */
export const CONSOLE_CLUSTER_ROLES = ["admin", "ops", "dev", "restricted"] as const;
export type ConsoleClusterRole = (typeof CONSOLE_CLUSTER_ROLES)[number];

/** Resolves the session's access key to the identity the services see (as their authentication does). */
export interface ConsoleIdentityResolver {
  /** The account the identity store serves (RAM ARNs name it). */
  readonly accountId: string;
  /** RAM's decision for `caller` doing `action` on any of `arns` (the evaluator RAM's API uses). */
  allows(caller: CallerIdentity, action: string, arns: readonly string[]): Promise<boolean>;
  resolveAccessKey(
    accessKeyId: string,
    securityToken?: string,
  ): Promise<{ readonly secret: string; readonly caller: CallerIdentity } | undefined>;
  assertSessionLive(caller: CallerIdentity): void;
}
