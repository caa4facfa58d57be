/** The Kubernetes-compatible API server: what the CLI, `atrest up` and tests use. */
export {
  MANAGED_ENCRYPTION_RELOAD_INTERVAL_MS,
  startApiServer,
  type ApiServer,
  type ApiServerOptions,
} from "./server.js";
export { identityTransformerFor, type TransformerForKey } from "../storage/transforming-store.js";
export { parseTokenFile, type TokenEntry, type UserInfo } from "./authn.js";
export {
  ACK_CLUSTER_ROLES,
  ACK_ENCRYPTION_ROLES,
  ACK_ROLES,
  ackClusterRoleName,
  ackGrantBinding,
  AUTHORIZATION_MODES,
  parseAuthorizationModes,
  parsePolicyFile,
  type AckGrant,
  type AckRole,
  type AuthorizationMode,
} from "./authz/index.js";
export { renderKubeconfig, writeKubeconfig } from "./kubeconfig.js";
export type { HealthCheck } from "./health.js";
export { RESOURCES, storageKey, type ResourceInfo } from "./resources.js";
