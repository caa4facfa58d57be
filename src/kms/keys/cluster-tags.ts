import { kmsError } from "../kms-error.js";
import { CLUSTER_TAG_PREFIX } from "../client/cluster-tag.js";
import type { KeyTag } from "./key-types.js";

export { CLUSTER_TAG_PREFIX, clusterTagKey } from "../client/cluster-tag.js";

/**
 * The KMS's side of the cluster tag (src/kms/client/cluster-tag.ts): while a key carries one,
 * DisableKey, ScheduleKeyDeletion and turning deletion protection off are refused (Rejected.KeyInUse)
 * unless the caller passes Force=true.
 * Pure: parsing and validation only.
 */
/** The tag-key prefix atrest reserves; only cluster tags may use it. */
export const ATREST_TAG_PREFIX = "atrest:";
/** A cluster name: a DNS-1123 label. */
export const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type ClusterKeyUse = "write" | "read";

export interface ClusterUse {
  readonly cluster: string;
  readonly use: ClusterKeyUse;
}

/**
 * Checks a tag a caller wants to set: a key in atrest's reserved `atrest:` namespace must be a valid
 * cluster tag. `path` names the parameter in the error (`Tags[0]`).
 */
export function checkAtrestTag(tagKey: string, tagValue: string, path: string): void {
  if (!tagKey.startsWith(ATREST_TAG_PREFIX)) return;
  if (!tagKey.startsWith(CLUSTER_TAG_PREFIX)) {
    throw kmsError(
      "InvalidParameter",
      `${path}.TagKey: the prefix ${ATREST_TAG_PREFIX} is reserved for ${CLUSTER_TAG_PREFIX}<clusterName> tags`,
    );
  }
  const cluster = tagKey.slice(CLUSTER_TAG_PREFIX.length);
  if (!CLUSTER_NAME.test(cluster)) {
    throw kmsError(
      "InvalidParameter",
      `${path}.TagKey: ${CLUSTER_TAG_PREFIX}<clusterName> needs a cluster name of 1-63 lower-case letters, digits and -, starting and ending with a letter or digit`,
    );
  }
  if (tagValue !== "write" && tagValue !== "read")
    throw kmsError("InvalidParameter", `${path}.TagValue: a cluster tag's value must be write or read`);
}

/** The clusters that a key's tags say need it, sorted by name (tags that are not cluster tags are ignored). */
export function clusterUsesOf(tags: readonly KeyTag[]): ClusterUse[] {
  const uses: ClusterUse[] = [];
  for (const t of tags) {
    if (!t.tag_key.startsWith(CLUSTER_TAG_PREFIX)) continue;
    const cluster = t.tag_key.slice(CLUSTER_TAG_PREFIX.length);
    if (!CLUSTER_NAME.test(cluster)) continue;
    // A value other than write/read cannot be set through TagResource; treat it as needed all the same.
    uses.push({ cluster, use: t.tag_value === "write" ? "write" : "read" });
  }
  return uses.sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
}

/** "demo (write), staging (read)". */
export function describeClusterUses(uses: readonly ClusterUse[]): string {
  return uses.map((u) => `${u.cluster} (${u.use})`).join(", ");
}
