import type { ClusterSpec, EncryptionOperations, ProgressSink } from "../../operations/index.js";

/**
 * How the control plane gets an operation engine for a cluster (the port belongs to its consumer):
 * `atrest control-plane serve` and `atrest up` hand one in (engine-factory.ts builds the real one:
 * the cluster's kubeconfig, KMS profile and a read-only store scanner).
 */
export interface ClusterEngine {
  readonly ops: EncryptionOperations;
  readonly close: () => void;
}

export type ClusterEngineFactory = (
  cluster: ClusterSpec,
  options: { readonly progress: ProgressSink; readonly owner: string },
) => ClusterEngine;
