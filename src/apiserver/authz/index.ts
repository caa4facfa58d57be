/** Authorization: kube's modes (RBAC, ABAC, AlwaysAllow, AlwaysDeny), the access reviews, impersonation. */
export { Authorization, type AuthorizationOptions, type WriteGuard } from "./authorization.js";
export { parsePolicyFile, type PolicySpec } from "./abac.js";
export { AUTHORIZATION_MODES, parseAuthorizationModes, type AuthorizationMode } from "./modes.js";
export { forbiddenMessage, type Attributes, type Authorizer, type Decision } from "./types.js";
export {
  ACK_CLUSTER_ROLES,
  ACK_ENCRYPTION_ROLES,
  ACK_ROLES,
  ackClusterRoleName,
  ackGrantBinding,
  type AckGrant,
  type AckRole,
} from "./ack-cluster-roles.js";
export { serviceAccountUsername, serviceAccountGroups } from "./service-accounts.js";
