/**
 * The KMS key an operation switches to, checked and protected through the KMS's public API (the
 * Alibaba Cloud KMS 2016-01-20 actions, here via atrest's signed client): Enabled, `Aliyun_AES_256`,
 * ENCRYPT/DECRYPT, in the cluster's region; then deletion protection on and the cluster recorded on the
 * key as a tag `atrest:cluster:<name>` = `write` | `read`, which atrest kms reads to refuse DisableKey,
 * ScheduleKeyDeletion and turning protection off while a cluster still needs the key.
 */
import { AtrestError, isAtrestError } from "../common/errors.js";
import { CLUSTER_TAG_PREFIX, clusterTagKey, type KmsClient } from "../kms/client/index.js";

export { CLUSTER_TAG_PREFIX, clusterTagKey };

/** The description atrest writes with deletion protection; a protection with another is not ours to lift. */
export function protectionDescription(cluster: string): string {
  return `in use by atrest cluster ${cluster}`;
}

export interface KeyInfo {
  readonly keyId: string;
  readonly arn: string;
  /** From the ARN `acs:kms:<region>:<account>:key/<id>`. */
  readonly region: string;
  readonly state: string;
  readonly spec: string;
  readonly usage: string;
  readonly deletionProtection: "Enabled" | "Disabled";
  readonly deletionProtectionDescription?: string;
  readonly primaryKeyVersion?: string;
  /** PendingDeletion: when the KMS deletes the key. */
  readonly deleteDate?: string;
}

/** DescribeKey; an unknown key is `not-found` with a message naming it. */
export async function describeKey(kms: KmsClient, keyIdOrAlias: string): Promise<KeyInfo> {
  let r: Record<string, unknown>;
  try {
    r = await kms.call("DescribeKey", { KeyId: keyIdOrAlias });
  } catch (err) {
    if (isAtrestError(err, "not-found"))
      throw new AtrestError(
        "not-found",
        `KMS key ${keyIdOrAlias} does not exist (DescribeKey: ${err.message})`,
        {
          cause: err,
          details: { reason: "KmsKeyNotFound", keyId: keyIdOrAlias },
        },
      );
    throw err;
  }
  const md = (r["KeyMetadata"] ?? {}) as Record<string, unknown>;
  const text = (k: string, fallback: string): string => (typeof md[k] === "string" ? md[k] : fallback);
  const arn = text("Arn", "");
  return {
    keyId: text("KeyId", keyIdOrAlias),
    arn,
    region: /^acs:kms:([^:]*):/.exec(arn)?.[1] ?? "",
    state: text("KeyState", ""),
    spec: text("KeySpec", ""),
    usage: text("KeyUsage", "ENCRYPT/DECRYPT"),
    deletionProtection: md["DeletionProtection"] === "Enabled" ? "Enabled" : "Disabled",
    ...(typeof md["DeletionProtectionDescription"] === "string"
      ? { deletionProtectionDescription: md["DeletionProtectionDescription"] }
      : {}),
    ...(typeof md["PrimaryKeyVersion"] === "string" ? { primaryKeyVersion: md["PrimaryKeyVersion"] } : {}),
    ...(typeof md["DeleteDate"] === "string" && md["DeleteDate"] !== ""
      ? { deleteDate: md["DeleteDate"] }
      : {}),
  };
}

/**
 * Throws `failed-precondition` (with EKS-style reasons) when the key cannot be switched to; the first
 * problem names the rule that broke and how to fix it.
 */
export function assertUsable(key: KeyInfo, region: string): void {
  const fail = (reason: string, message: string): never => {
    throw new AtrestError("failed-precondition", message, { details: { reason, keyId: key.keyId } });
  };
  if (key.state === "PendingDeletion")
    fail(
      "KmsKeyMarkedForDeletion",
      `KMS key ${key.keyId} is pending deletion; CancelKeyDeletion and EnableKey it first`,
    );
  if (key.state !== "Enabled")
    fail(
      "KmsKeyDisabled",
      `KMS key ${key.keyId} is ${key.state || "not enabled"}; only an Enabled key can encrypt (EnableKey)`,
    );
  if (key.spec !== "Aliyun_AES_256")
    fail(
      "KmsKeySpecInvalid",
      `KMS key ${key.keyId} has KeySpec ${key.spec}; Secret encryption needs Aliyun_AES_256`,
    );
  if (key.usage !== "ENCRYPT/DECRYPT")
    fail("KmsKeyUsageInvalid", `KMS key ${key.keyId} has KeyUsage ${key.usage}; it must be ENCRYPT/DECRYPT`);
  if (key.region !== region)
    fail(
      "KmsKeyWrongRegion",
      `KMS key ${key.keyId} is in region ${key.region || "(unknown)"}, the cluster in ${region}; use a key in the cluster's region`,
    );
}

/** Tags the key for the cluster and turns deletion protection on (idempotent). */
export async function protectKey(
  kms: KmsClient,
  key: KeyInfo,
  cluster: string,
  use: "write" | "read",
): Promise<void> {
  await kms.call("TagResource", {
    KeyId: key.keyId,
    Tags: JSON.stringify([{ TagKey: clusterTagKey(cluster), TagValue: use }]),
  });
  if (key.deletionProtection !== "Enabled")
    await kms.call("SetDeletionProtection", {
      ProtectedResourceArn: key.arn,
      EnableDeletionProtection: true,
      DeletionProtectionDescription: protectionDescription(cluster),
    });
}

/** The atrest:cluster:* tags on a key: cluster name → use. */
export async function clusterTags(kms: KmsClient, keyId: string): Promise<Map<string, string>> {
  const r = await kms.call("ListResourceTags", { KeyId: keyId });
  const tags = ((r["Tags"] as { Tag?: unknown } | undefined)?.Tag ?? []) as Array<{
    TagKey?: string;
    TagValue?: string;
  }>;
  const out = new Map<string, string>();
  for (const t of tags)
    if (typeof t.TagKey === "string" && t.TagKey.startsWith(CLUSTER_TAG_PREFIX))
      out.set(t.TagKey.slice(CLUSTER_TAG_PREFIX.length), t.TagValue ?? "");
  return out;
}

/**
 * Releases the key for this cluster once no stored object depends on it: the tag goes, and so does
 * the deletion protection when atrest turned it on and no other cluster still tags the key.
 */
export async function releaseKey(
  kms: KmsClient,
  keyId: string,
  cluster: string,
): Promise<{ protectionLifted: boolean }> {
  let key: KeyInfo;
  try {
    key = await describeKey(kms, keyId);
  } catch (err) {
    if (isAtrestError(err, "not-found")) return { protectionLifted: false };
    throw err;
  }
  await kms.call("UntagResource", { KeyId: key.keyId, TagKeys: JSON.stringify([clusterTagKey(cluster)]) });
  const others = await clusterTags(kms, key.keyId);
  others.delete(cluster);
  const ours = key.deletionProtectionDescription?.startsWith("in use by atrest cluster ") === true;
  if (key.deletionProtection === "Enabled" && ours && others.size === 0) {
    await kms.call("SetDeletionProtection", {
      ProtectedResourceArn: key.arn,
      EnableDeletionProtection: false,
    });
    return { protectionLifted: true };
  }
  return { protectionLifted: false };
}

/** The KMS key behind an atrest plugin's KMS v2 key_id (`<keyId>:<keyVersionId>`); undefined for other plugins. */
export function kmsKeyOfKeyId(keyId: string): string | undefined {
  const at = keyId.lastIndexOf(":");
  return at > 0 && at < keyId.length - 1 ? keyId.slice(0, at) : undefined;
}
