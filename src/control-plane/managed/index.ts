/** CreateCluster's managed clusters: apiserver + plugin per cluster, run by the control plane. */
export {
  ManagedClusters,
  type ManagedClustersOptions,
  type CreateManagedClusterRequest,
  type ManagedClusterInfo,
  type StartAllResult,
} from "./managed-clusters.js";
export type { ServiceRoleAccess, ClusterRuntime } from "./cluster-runtime.js";
export { CLUSTER_ID_PATTERN } from "./cluster-paths.js";
