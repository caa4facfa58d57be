/**
 * A cluster's KMS key health, as EKS reports cluster health issues (`ClusterIssue{code, message,
 * resourceIds}` with KmsKeyDisabled, KmsKeyMarkedForDeletion, KmsKeyNotFound, KmsGrantRevoked): one
 * DescribeKey through the KMS's public API signed as the service role the cluster's plugin works as,
 * so "access denied" means exactly what the plugin would meet — the role lost the key — and not what
 * an administrator may do. Nothing here changes anything; a KMS that does not answer is an `Other`
 * issue (the key's state is unknown, not bad).
 */
import { isAtrestError } from "../../common/errors.js";
import type { KmsClient } from "../../kms/client/index.js";
import { describeKey, type KeyInfo } from "../../operations/index.js";

/** EKS's ClusterIssue codes that concern the KMS key, spelled as EKS spells them. */
export type KeyIssueCode =
  "KmsKeyDisabled" | "KmsKeyMarkedForDeletion" | "KmsKeyNotFound" | "KmsGrantRevoked" | "Other";

export interface KeyIssue {
  readonly code: KeyIssueCode;
  readonly message: string;
  /** The key (as EKS's resourceIds). */
  readonly resourceIds: readonly string[];
}

export interface KeyHealth {
  readonly keyId: string;
  readonly healthy: boolean;
  readonly issues: readonly KeyIssue[];
  /** The key's state when DescribeKey answered (Enabled, Disabled, PendingDeletion). */
  readonly keyState?: string;
  /** PendingDeletion: when the KMS deletes the key (ISO 8601, as DescribeKey gives it). */
  readonly deleteDate?: string;
  readonly primaryKeyVersion?: string;
  readonly checkedAt: string;
}

function issue(code: KeyIssueCode, keyId: string, message: string): KeyIssue {
  return Object.freeze({ code, message, resourceIds: Object.freeze([keyId]) });
}

function issuesOfState(key: KeyInfo): KeyIssue[] {
  if (key.state === "Enabled") return [];
  if (key.state === "PendingDeletion")
    return [
      issue(
        "KmsKeyMarkedForDeletion",
        key.keyId,
        `KMS key ${key.keyId} is pending deletion${key.deleteDate === undefined ? "" : ` (deleted at ${key.deleteDate})`}: the cluster cannot read its Secrets once it is gone; CancelKeyDeletion and EnableKey it`,
      ),
    ];
  return [
    issue(
      "KmsKeyDisabled",
      key.keyId,
      `KMS key ${key.keyId} is ${key.state || "not enabled"}: the cluster can neither write nor read Secrets encrypted with it; EnableKey it`,
    ),
  ];
}

/**
 * The issue a failed check shows: not found, the role refused (also when it cannot be assumed: the
 * plugin could not either), or unknown.
 */
export function issueOfError(keyId: string, err: unknown): KeyIssue {
  if (isAtrestError(err, "not-found") && err.details["reason"] === "KmsKeyNotFound")
    return issue(
      "KmsKeyNotFound",
      keyId,
      `KMS key ${keyId} does not exist: the cluster cannot read Secrets encrypted with it (restore the KMS from a backup)`,
    );
  if (isAtrestError(err, "permission-denied") || isAtrestError(err, "unauthenticated"))
    return issue(
      "KmsGrantRevoked",
      keyId,
      `the service role may not use KMS key ${keyId} (${typeof err.details["kmsCode"] === "string" ? err.details["kmsCode"] : typeof err.details["acsCode"] === "string" ? err.details["acsCode"] : err.code}): quick-authorize AliyunCSManagedSecurityRole again or remove the policy that denies it`,
    );
  return issue(
    "Other",
    keyId,
    `KMS key ${keyId} could not be checked: ${err instanceof Error ? err.message : String(err)}`,
  );
}

/** DescribeKey as the service role (the caller's `kms` client signs so) and the issues it shows. */
export async function checkKeyHealth(
  kms: KmsClient,
  keyId: string,
  now: () => Date = () => new Date(),
): Promise<KeyHealth> {
  const checkedAt = now().toISOString();
  const done = (issues: KeyIssue[], extra: Partial<KeyHealth> = {}): KeyHealth =>
    Object.freeze({
      keyId,
      healthy: issues.length === 0,
      issues: Object.freeze(issues),
      checkedAt,
      ...extra,
    });
  let key: KeyInfo;
  try {
    key = await describeKey(kms, keyId);
  } catch (err) {
    return done([issueOfError(keyId, err)]);
  }
  return done(issuesOfState(key), {
    keyState: key.state,
    ...(key.deleteDate === undefined ? {} : { deleteDate: key.deleteDate }),
    ...(key.primaryKeyVersion === undefined ? {} : { primaryKeyVersion: key.primaryKeyVersion }),
  });
}
