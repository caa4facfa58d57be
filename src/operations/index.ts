/**
 * Staged encryption operations (enable, disable, rotate, migrate, re-encrypt) on a cluster, as a
 * library: the CLI (src/cli/encryption.ts) and the control plane drive the same engine. They use the
 * Kubernetes API and the KMS API as any client would; the store is only read, for verify.
 */
export {
  loadClusterFile,
  parseClusterFile,
  renderClusterFile,
  OPERATION_DEFAULTS,
  type ClusterSpec,
  type ClusterFileInput,
} from "./cluster-file.js";
export { loadKubeconfig, parseKubeconfig, type KubeCredentials } from "./kubeconfig.js";
export { KubeClient } from "./kube-client.js";
export { EncryptionOperations, type EngineOptions, type OperationFaults } from "./engine.js";
export type { OperationRequest, Blocker } from "./preflight.js";
export type { Plan } from "./plan.js";
export type { ClusterStatus } from "./status.js";
export {
  STAGES,
  RECORD_NAMESPACE,
  RECORD_CONFIGMAP,
  CONFIG_SECRET,
  phaseOf,
  type OperationRecord,
  type OperationType,
  type StageName,
  type ClusterPhase,
} from "./operation-record.js";
export {
  jsonProgress,
  ttyProgress,
  silentProgress,
  type ProgressEvent,
  type ProgressSink,
} from "./progress.js";
export { EncryptionConfigAgent, type AgentOptions, type SyncOutcome } from "./agent.js";
export {
  clusterTagKey,
  protectionDescription,
  describeKey,
  assertUsable,
  protectKey,
  releaseKey,
  clusterTags,
  kmsKeyOfKeyId,
  type KeyInfo,
} from "./key-checks.js";
export { continueTokenAfter } from "./rewrite.js";
export { observeAll, type ApiserverObservation } from "./convergence.js";
