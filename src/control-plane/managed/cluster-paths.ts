import { join, resolve } from "node:path";
import { AtrestError } from "../../common/errors.js";

/**
 * A managed cluster's id: it names the cluster's folder, its KMS tag `atrest:cluster:<id>` and its
 * plugin's STS session, so it must be a DNS label (the KMS's and the cluster file's rule for names).
 */
export const CLUSTER_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** sun_path is 108 bytes on Linux, one of them the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export function assertClusterId(clusterId: string): void {
  if (!CLUSTER_ID_PATTERN.test(clusterId))
    throw new AtrestError(
      "invalid-argument",
      `cluster id ${JSON.stringify(clusterId.slice(0, 80))} must be a DNS label: 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit`,
      { details: { reason: "InvalidClusterId" } },
    );
}

/** Everything of one managed cluster lives in `<dataDir>/clusters/<id>/`; all paths absolute. */
export function clusterPaths(dataDir: string, clusterId: string) {
  assertClusterId(clusterId);
  const root = join(resolve(dataDir), "clusters", clusterId);
  return {
    root,
    /** What the control plane recorded about the cluster (managed-record.ts). */
    record: join(root, "managed.json"),
    apiserverDir: join(root, "apiserver"),
    apiserverDb: join(root, "apiserver.db"),
    encryptionConfig: join(root, "encryption-config.yaml"),
    kubeconfig: join(root, "kubeconfig"),
    /** For `atrest encryption … --cluster` and the control plane's operations. */
    clusterFile: join(root, "cluster.yaml"),
    /** The plugin of the n-th key (short: the socket path must fit sun_path). */
    pluginSocket: (n: number): string => join(root, `p${n}.sock`),
  };
}

export type ClusterPaths = ReturnType<typeof clusterPaths>;

export function clustersRoot(dataDir: string): string {
  return join(resolve(dataDir), "clusters");
}

/** Refuses a data dir so deep that a plugin socket path would not fit (checked before anything is made). */
export function assertSocketFits(paths: ClusterPaths): void {
  const longest = paths.pluginSocket(999);
  if (Buffer.byteLength(longest) > MAX_SOCKET_PATH_BYTES)
    throw new AtrestError(
      "invalid-argument",
      `the control plane's data dir is too deep for managed clusters: ${longest} exceeds ${MAX_SOCKET_PATH_BYTES} bytes (a unix socket path)`,
    );
}
