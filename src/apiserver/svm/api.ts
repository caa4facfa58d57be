import { isPlainObject, type KubeObject } from "../../kube-object/types.js";

/**
 * storagemigration.k8s.io: the names kube uses. The objects are stored in one form (v1beta1's, which
 * also keeps v1alpha1's `spec.resource.version` and `spec.continueToken` when a v1alpha1 client set
 * them) and served in both versions (conversion.ts).
 */

export const SVM_GROUP = "storagemigration.k8s.io";
export const STORAGE_API_VERSION = `${SVM_GROUP}/v1beta1`;

/** The field manager and actor of the migrations (kube-controller-manager's controller name). */
export const SVM_CONTROLLER = "storage-version-migrator-controller";

export type ConditionType = "Running" | "Succeeded" | "Failed";

/** kube's reasons (pkg/controller/storageversionmigrator). */
export const REASON_RUNNING = "StorageVersionMigrationInProgress";
export const REASON_SUCCEEDED = "StorageVersionMigrationSucceeded";
export const REASON_FAILED = "StorageVersionMigrationFailed";

/** kube's messages for a Failed migration. */
export const MESSAGE_NO_RESOURCE = "resource does not exist in discovery";
export const unhandledErrorMessage = (err: string): string => `migration encountered unhandled error: ${err}`;

/** A condition in the stored (metav1.Condition) form. */
export interface StoredCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** atrest's progress record (status.progress), also the checkpoint a restarted migration resumes from. */
export interface Progress {
  total: number;
  rewritten: number;
  unchanged: number;
  skipped: number;
  remaining: number;
  /** The relative key (`<ns>/<name>` or `<name>`) after which the migration resumes. */
  checkpoint: string;
  lastError?: string;
  updateTime: string;
}

export interface MigrationTarget {
  readonly group: string;
  readonly version?: string;
  readonly resource: string;
}

export function targetOf(svm: KubeObject): MigrationTarget {
  const spec = isPlainObject(svm.spec) ? svm.spec : {};
  const r = isPlainObject(spec.resource) ? spec.resource : {};
  const str = (v: unknown): string => (typeof v === "string" ? v : "");
  const version = str(r.version);
  return { group: str(r.group), resource: str(r.resource), ...(version !== "" ? { version } : {}) };
}

export function conditionsOf(svm: KubeObject): StoredCondition[] {
  const status = isPlainObject(svm.status) ? svm.status : {};
  return Array.isArray(status.conditions) ? (status.conditions as StoredCondition[]) : [];
}

export function isConditionTrue(svm: KubeObject, type: ConditionType): boolean {
  return conditionsOf(svm).some((c) => c.type === type && c.status === "True");
}

export function isTerminal(svm: KubeObject): boolean {
  return isConditionTrue(svm, "Succeeded") || isConditionTrue(svm, "Failed");
}

/**
 * kube's setStatusConditions: a condition already True stays as it is; a terminal one turns Running
 * to False; the new condition is appended as True.
 */
export function withCondition(
  conditions: readonly StoredCondition[],
  type: ConditionType,
  reason: string,
  message: string,
  now: string,
): StoredCondition[] {
  if (conditions.some((c) => c.type === type && c.status === "True")) return [...conditions];
  const out = conditions
    .filter((c) => c.type !== type)
    .map((c) =>
      (type === "Succeeded" || type === "Failed") && c.type === "Running"
        ? { ...c, status: "False" as const }
        : c,
    );
  out.push({ type, status: "True", lastTransitionTime: now, reason, message });
  return out;
}
