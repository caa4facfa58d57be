import type { Generated } from "kysely";

/**
 * The control plane's tables (Kysely types). They live in the database of the identity store (the
 * KMS's: SQLite in its data dir or PostgreSQL), so one transaction-capable store holds who may act
 * and what they did; every name starts with `cp_` so it never meets a KMS or identity table.
 */
export interface CpClustersTable {
  /** ACK's cluster id shape: `c` + 32 lower-case hex digits. */
  cluster_id: string;
  name: string;
  region_id: string;
  /** Absolute path of the cluster file (src/operations/cluster-file.ts) the operations run on. */
  cluster_file: string;
  /** ACK's state: initial, running, updating, failed, … (cluster-state.ts). */
  state: string;
  /** The KMS key encrypting Secrets now ("" when encryption is off). */
  kms_key_id: string;
  /** 1 when Secret encryption is off (ACK's meta_data DisableEncryption). */
  disable_encryption: number;
  /** The task driving the cluster now (state updating), or the last one. */
  current_task_id: string | null;
  /** Why the last change failed ("" when it did not). */
  failure_reason: string;
  /** When the last change finished (ms): UpdateKMSEncryption waits a cool-down after it. */
  last_change_at: number;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface CpTasksTable {
  /** ACK's task id shape: `T-` + 24 hex digits. */
  task_id: string;
  cluster_id: string;
  /** `kms_encryption_enable` | `kms_encryption_disable`. */
  task_type: string;
  /** ACK's task states: running | success | fail. */
  state: string;
  /** JSON: the operation request ({type, keyId}). */
  request: string;
  /** JSON: the stages (name, state, start/end time, message) as the operation record has them. */
  stages: string;
  current_stage: string;
  /** The operation engine's record id, once it started. */
  operation_id: string;
  error_code: string;
  error_message: string;
  created_by: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  /** The control-plane instance driving it, and until when (renewed while it runs). */
  lease_owner: string;
  lease_expires_at: number;
}

/** A cluster event (DescribeClusterEvents): who asked, what, the result. */
export interface CpClusterEventsTable {
  seq: Generated<number>;
  event_id: string;
  cluster_id: string;
  task_id: string;
  time: number;
  /** ACK's event types: cluster_modify, cluster_configuration_modify, … */
  type: string;
  level: string;
  reason: string;
  message: string;
  /** Who caused it (the caller's user name, or `atrest-control-plane`). */
  source: string;
}

/** A principal's role on a cluster, as ACK's RBAC authorization grants it. */
export interface CpClusterRolesTable {
  cluster_id: string;
  /** A user or role name of the identity store. */
  principal_name: string;
  /** admin | ops | dev | restricted (ACK's administrator, O&M engineer, developer, restricted user). */
  role: string;
  granted_by: string;
  granted_at: number;
}

/** A cluster's tags (ACK's `tags` of DescribeClusterDetail, set by ModifyClusterTags). */
export interface CpClusterTagsTable {
  cluster_id: string;
  tag_key: string;
  tag_value: string;
  /** Position in the caller's list (tags are shown in the order they were given). */
  position: number;
}

/** The last key health round's answer per cluster (DescribeClusterDetail's `health`). */
export interface CpClusterHealthTable {
  cluster_id: string;
  /** The key that was checked. */
  kms_key_id: string;
  /** JSON: the issues, EKS's ClusterIssue shape `[{code, message, resourceIds}]`. */
  issues: string;
  key_state: string;
  checked_at: number;
}

/** A named lease among control-plane instances (the cluster watch): one holder at a time. */
export interface CpLeasesTable {
  name: string;
  owner: string;
  expires_at: number;
}

export interface ControlPlaneDatabase {
  cp_clusters: CpClustersTable;
  cp_tasks: CpTasksTable;
  cp_cluster_events: CpClusterEventsTable;
  cp_cluster_roles: CpClusterRolesTable;
  cp_cluster_tags: CpClusterTagsTable;
  cp_cluster_health: CpClusterHealthTable;
  cp_leases: CpLeasesTable;
}
