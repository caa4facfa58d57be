import { join, resolve } from "node:path";

/** The default data dir of `atrest up`, relative to the working directory. */
export const DEFAULT_UP_DATA_DIR = ".atrest";

/**
 * Where `atrest up` keeps everything. All paths are absolute: the encryption configuration and the
 * profile name them, and they must stay valid whatever the working directory of a later reader.
 */
export function upPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    root,
    kmsDir: join(root, "kms"),
    /** The KMS key `atrest up` created, so a second start reuses it. */
    keyFile: join(root, "kms-key.json"),
    kmsProfile: join(root, "kms-profile.json"),
    /** The access key of the service principal the plugin assumes its role with (service-role.ts), 0600. */
    pluginCredentials: join(root, "kms-plugin-credentials.json"),
    pluginSocket: join(root, "kms-plugin.sock"),
    encryptionConfig: join(root, "encryption-config.yaml"),
    apiserverDir: join(root, "apiserver"),
    apiserverDb: join(root, "apiserver.db"),
    kubeconfig: join(root, "kubeconfig"),
    /** `atrest encryption … --cluster` reads it: this cluster's apiserver, store, KMS and plugin. */
    clusterFile: join(root, "cluster.yaml"),
    /** The control plane's managed clusters (CreateCluster), one folder each. */
    managedDir: join(root, "managed"),
  };
}

export type UpPaths = ReturnType<typeof upPaths>;
