/**
 * The operation record: one JSON document in the cluster (a ConfigMap in kube-system, so any machine
 * with the kubeconfig can see and resume it; it never holds key material — configurations are
 * referred to by hash). Every status view (CLI, control plane, console) is derived from it: the
 * cluster's phase and OpenShift-style `Encrypted` condition come from here.
 */
import type { ErrorCode } from "../common/errors.js";

export const RECORD_NAMESPACE = "kube-system";
export const RECORD_CONFIGMAP = "atrest-encryption-operation";
/** The rendered configurations (they may hold static keys of the base configuration: a Secret). */
export const CONFIG_SECRET = "atrest-encryption-config";
/** The key of the Secret's data that apiservers should load now (what agents deliver). */
export const CURRENT_CONFIG_KEY = "encryption-config.yaml";
export const RECORD_API_VERSION = "atrest.io/v1alpha1";

export type OperationType = "enable" | "disable" | "rotate" | "migrate" | "reencrypt";

export type StageName =
  | "preflight"
  | "add-read-provider"
  | "converge-read"
  | "switch-writer"
  | "converge-writer"
  | "rotate-key"
  | "converge-key"
  | "rewrite"
  | "verify"
  | "prune"
  | "converge-prune"
  | "release-key";

/**
 * Enable, disable and migrate change the writer: the old provider stays readable until verify passed,
 * then leaves the configuration.
 */
const WRITER_CHANGE_STAGES: readonly StageName[] = Object.freeze([
  "preflight",
  "add-read-provider",
  "converge-read",
  "switch-writer",
  "converge-writer",
  "rewrite",
  "verify",
  "prune",
  "converge-prune",
  "release-key",
]);

/** The stages of each operation type, in order. */
export const STAGES: Readonly<Record<OperationType, readonly StageName[]>> = Object.freeze({
  enable: WRITER_CHANGE_STAGES,
  disable: WRITER_CHANGE_STAGES,
  migrate: WRITER_CHANGE_STAGES,
  rotate: ["preflight", "rotate-key", "converge-key", "rewrite", "verify"],
  // converge-key: a KMS writer's key may have moved on (a rotation outside atrest): every apiserver
  // must write under the key_id the plugin serves now, or the rewrite would leave objects behind.
  reencrypt: ["preflight", "converge-key", "rewrite", "verify"],
});

export type StageState = "pending" | "running" | "succeeded" | "failed";

export interface StageRecord {
  readonly name: StageName;
  state: StageState;
  startedAt?: string;
  finishedAt?: string;
  message?: string;
}

export interface Progress {
  total: number;
  /** Objects the apiserver really rewrote (their resourceVersion changed). */
  rewritten: number;
  /** Objects already current: the no-op update wrote nothing. */
  unchanged: number;
  conflictsRetried: number;
  /** Objects deleted between the list and the update. */
  skippedDeleted: number;
  remaining: number;
  ratePerSecond: number;
  etaSeconds: number | null;
}

/** Where the rewrite is: the resource being listed and the last key done (`<ns>/<name>`), not a token. */
export interface Cursor {
  resourceIndex: number;
  lastKey: string | null;
  done: boolean;
}

export interface VerifyResult {
  passed: boolean;
  at: string;
  /** The store revision the scan read at. */
  revision: number;
  /** The configuration whose providers the objects were read with (the one that will remain). */
  configHash: string;
  total: number;
  underTarget: number;
  /** Objects that fail to decrypt with the remaining providers, are not under the target, or were unreadable. */
  problems: number;
  /** Of the problems: values that could not be read because a KMS plugin was unavailable. */
  unreadable: number;
  reason?: string;
}

export interface KeyUse {
  readonly keyId: string;
  /** `target`: the key the operation switches to; `old`: a key the previous writer used. */
  readonly role: "target" | "old";
  /** The tag on the key for this cluster now: `write`, `read`, or none (not tagged yet / released). */
  tag: "write" | "read" | "none";
}

export interface OperationError {
  readonly at: string;
  readonly stage: StageName;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface OperationTarget {
  /** `kms:v2:<name>` or `identity`. */
  provider: string;
  pluginName?: string;
  pluginEndpoint?: string;
  /** The KMS key (id, not alias) the target writes with. */
  keyId?: string;
  /** What the user asked for (`--key-id` as given: an id or an alias). */
  requestedKey?: string;
}

export interface OperationRecord {
  readonly apiVersion: typeof RECORD_API_VERSION;
  readonly kind: "EncryptionOperation";
  readonly id: string;
  readonly type: OperationType;
  readonly cluster: string;
  target: OperationTarget;
  state: "Running" | "Succeeded" | "Failed";
  stage: StageName;
  stages: StageRecord[];
  /** Hashes of the staged configurations (the bytes are in the Secret). */
  configs: { base: string; read?: string; write?: string; final?: string };
  progress: Progress;
  cursor: Cursor;
  verify?: VerifyResult;
  keys: KeyUse[];
  /** rotate: the key_id before, when CreateKeyVersion was asked for, and the key_id it made. */
  rotation?: { fromKeyId: string; requestedAt?: string; newKeyId?: string };
  readonly startedBy: string;
  readonly startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  failure?: { stage: StageName; code: ErrorCode; reason: string; message: string };
  errors: OperationError[];
}

export interface Lease {
  /** A fresh id per running process. */
  readonly holder: string;
  /** Who: user@host pid N. */
  readonly owner: string;
  readonly operationId: string;
  readonly acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
}

export type ClusterPhase = "Running" | "Updating" | "Failed";

export interface Condition {
  readonly type: "Encrypted";
  readonly status: "True" | "False";
  readonly reason:
    | "EncryptionCompleted"
    | "EncryptionInProgress"
    | "EncryptionDisabled"
    | "DecryptionInProgress"
    | "DecryptionCompleted";
  readonly message: string;
}

/** The cluster's phase as a managed cloud shows it: Updating while an operation runs, Failed when one stopped. */
export function phaseOf(record: OperationRecord | undefined): { phase: ClusterPhase; reason?: string } {
  if (record === undefined || record.state === "Succeeded") return { phase: "Running" };
  if (record.state === "Running")
    return { phase: "Updating", reason: `${record.type} at stage ${record.stage}` };
  const f = record.failure;
  return {
    phase: "Failed",
    reason:
      f === undefined ? `${record.type} failed` : `${record.type} failed at stage ${f.stage}: ${f.reason}`,
  };
}

/**
 * OpenShift's `Encrypted` condition (library-go condition_controller), from the configured writer and
 * what the store holds: `total` managed objects, `underWriter` of them stored by the writer (with its
 * current key), `encrypted` of them not in plaintext. `lastType` is the last operation's type.
 */
export function encryptedCondition(
  resources: readonly string[],
  writerIsIdentity: boolean,
  counts: { total: number; underWriter: number; encrypted: number },
  lastType: OperationType | undefined,
): Condition {
  const list = resources.join(", ");
  if (writerIsIdentity) {
    if (counts.encrypted > 0)
      return {
        type: "Encrypted",
        status: "False",
        reason: "DecryptionInProgress",
        message: "Encryption mode set to identity and decryption is not finished",
      };
    return lastType === "disable"
      ? {
          type: "Encrypted",
          status: "False",
          reason: "DecryptionCompleted",
          message: "Encryption mode set to identity and everything is decrypted",
        }
      : {
          type: "Encrypted",
          status: "False",
          reason: "EncryptionDisabled",
          message: "Encryption is not enabled",
        };
  }
  if (counts.underWriter === counts.total)
    return {
      type: "Encrypted",
      status: "True",
      reason: "EncryptionCompleted",
      message: `All resources encrypted: ${list}`,
    };
  return {
    type: "Encrypted",
    status: "False",
    reason: "EncryptionInProgress",
    message: `Resource ${list} is not encrypted`,
  };
}

export function emptyProgress(): Progress {
  return {
    total: 0,
    rewritten: 0,
    unchanged: 0,
    conflictsRetried: 0,
    skippedDeleted: 0,
    remaining: 0,
    ratePerSecond: 0,
    etaSeconds: null,
  };
}
