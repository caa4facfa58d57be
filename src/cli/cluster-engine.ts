import { readFileSync } from "node:fs";
import { AtrestError } from "../common/errors.js";
import type { ClusterEngine } from "../control-plane/index.js";
import { KmsClient, clientOptionsFromProfile, loadKmsProfile } from "../kms/client/index.js";
import {
  EncryptionOperations,
  KubeClient,
  loadKubeconfig,
  type ClusterSpec,
  type ProgressSink,
} from "../operations/index.js";
import { storeScanner } from "../scan/index.js";
import type { StoreEndpoint } from "../storage/open-store.js";

export type { ClusterEngine };

/** Where the cluster file says the store is, with its TLS files read (for the read-only verify scan). */
function storeEndpointOf(cluster: ClusterSpec): StoreEndpoint {
  const s = cluster.store;
  if (s.kind === "sqlite") return { sqlitePath: s.path };
  const read = (f: string | undefined, what: string): Buffer | undefined => {
    if (f === undefined) return undefined;
    try {
      return readFileSync(f);
    } catch (err) {
      throw new AtrestError(
        "invalid-argument",
        `cluster file ${cluster.source}: store.etcd.${what}: cannot read ${f}`,
        {
          cause: err,
        },
      );
    }
  };
  const ca = read(s.caFile, "caFile");
  const cert = read(s.certFile, "certFile");
  const key = read(s.keyFile, "keyFile");
  return {
    etcdServers: s.endpoints,
    ...(ca === undefined
      ? {}
      : {
          tls: {
            caCertPem: ca,
            ...(cert === undefined ? {} : { clientCertPem: cert }),
            ...(key === undefined ? {} : { clientKeyPem: key }),
          },
        }),
  };
}

/**
 * The operation engine for one cluster, as `atrest encryption` and the control plane (its
 * ClusterEngineFactory) both build it: the cluster's kubeconfig, its KMS profile and a read-only
 * scanner of its store. `close()` frees the connections.
 */
export function openClusterEngine(
  cluster: ClusterSpec,
  options: { readonly progress: ProgressSink; readonly owner?: string },
): ClusterEngine {
  const scanner = storeScanner({
    endpoint: storeEndpointOf(cluster),
    prefix: cluster.store.prefix,
    resources: cluster.resources,
  });
  const kube = new KubeClient(loadKubeconfig(cluster.kubeconfig), {
    maxSockets: cluster.tunables.concurrency + 4,
  });
  const kms = new KmsClient(clientOptionsFromProfile(loadKmsProfile(cluster.kmsProfile)));
  const ops = new EncryptionOperations({
    cluster,
    kube,
    kms,
    scanner,
    progress: options.progress,
    ...(options.owner === undefined ? {} : { owner: options.owner }),
  });
  return {
    ops,
    close: () => {
      kube.close();
      kms.close();
    },
  };
}
