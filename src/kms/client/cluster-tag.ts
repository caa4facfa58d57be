/**
 * The contract between atrest's encryption operations and atrest kms, on the wire: a key that a
 * cluster needs carries the tag `atrest:cluster:<clusterName>` = `write` (the cluster's current key) or
 * `read` (a key still needed to read stored data). The operations set it through TagResource; the KMS
 * refuses DisableKey, ScheduleKeyDeletion and lifting deletion protection while it is there.
 */
export const CLUSTER_TAG_PREFIX = "atrest:cluster:";

export function clusterTagKey(cluster: string): string {
  return `${CLUSTER_TAG_PREFIX}${cluster}`;
}
