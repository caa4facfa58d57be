/**
 * What the service needs of CreateCluster's managed clusters (the port belongs to its consumer;
 * src/control-plane/managed's ManagedClusters implements it): run one, add a key's plugin before
 * UpdateKMSEncryption switches to that key, delete one.
 */
export interface ManagedClustersPort {
  create(req: {
    readonly clusterId: string;
    readonly name?: string;
    readonly kmsKeyId?: string;
    /** The caller's etcd instead of embedded SQLite. */
    readonly etcd?: { readonly endpoints: readonly string[]; readonly prefix?: string };
  }): Promise<{ readonly clusterFile: string; readonly plugins: ReadonlyArray<{ readonly keyId: string }> }>;
  info(clusterId: string): { readonly clusterFile: string } | undefined;
  addKeyPlugin(clusterId: string, kmsKeyId: string): Promise<unknown>;
  delete(clusterId: string): Promise<{ readonly keysReleased: readonly string[] }>;
}
