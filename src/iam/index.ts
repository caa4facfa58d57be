/**
 * Identity shared by atrest kms and the control plane (DESIGN.md §2, `kms → iam ← control-plane`):
 * principals (users, roles, services), access keys, RAM-grammar policies, trust policies, STS
 * sessions, console passwords, the authentication of signed requests, and the event trail.
 */
export {
  IdentityStore,
  MAX_SESSION_DURATION_RANGE,
  type PrincipalRow,
  type PolicyRow,
} from "./identity-store.js";
export type { CallerIdentity, AssumedRoleCaller, UserCaller, ResolvedCredential } from "./caller.js";
export { callerArn } from "./caller.js";
export {
  IAM_ERROR_CODES,
  SIGNED_API_ERROR_CODES,
  iamError,
  acsErrors,
  acsCodeOf,
  toIamWireError,
  type IamErrorCode,
} from "./iam-error.js";
export { sealAccessKeySecret, openAccessKeySecret, type SecretSealer } from "./sealer.js";
export { nonceDigest } from "./nonce-digest.js";
export { STS_ACCESS_KEY_PREFIX, newPrincipalId as newPrincipalIdFor } from "./ids.js";
export { migrateIamDatabase, iamMigrations, type IamDb, type DialectName } from "./store/migrations.js";
export type { IamDatabase, PrincipalType, TrailEventsTable } from "./store/schema.js";
export {
  authenticateRpc,
  TIMESTAMP_WINDOW_MS,
  type AuthenticatedRpc,
  type RpcAuthenticationDeps,
} from "./rpc/authenticate.js";
export { mergeRpcParams, header as rpcHeader, type RpcHttpRequest } from "./rpc/rpc-request.js";
export * from "./policy/index.js";
export type { TrailEvent, TrailUserIdentity } from "./events/trail-event.js";
export { isoSecondsUtc, userKeyOf } from "./events/trail-event.js";
export {
  afterCursor,
  lookupEvents,
  type EventSource,
  type EventFilters,
  type EventCursor,
  type SourceQuery,
  type SourcedEvent,
  type LookupResult,
} from "./events/event-query.js";
export { recordTrailEvent, trailEventSource, newEventId } from "./events/trail-store.js";
export {
  IdentityApi,
  TRAIL_TABLE_RANK,
  MAX_IDENTITY_PARAM_BYTES,
  type IdentityApiOptions,
  type IdentityApiResponse,
} from "./api/identity-api.js";
export type { StsOptions } from "./api/action.js";
export { identityRoutes, startIdentityServer, type IdentityServer } from "./http/identity-routes.js";
export {
  assumeRole,
  STS_MIN_DURATION_SECONDS,
  type AssumeRoleRequest,
  type AssumedRole,
} from "./sts/assume-role.js";
export { hashPassword, verifyPassword, checkPasswordRules } from "./passwords.js";
export {
  CS_SERVICE_PRINCIPAL,
  CS_SERVICE_ROLE,
  CS_SERVICE_ROLE_POLICY,
  CS_SERVICE_ROLE_TRUST_POLICY,
  serviceRoleArn,
  ensureServiceRole,
  ensureServicePrincipal,
} from "./service-role.js";
export {
  consoleSignIn,
  WRONG_USER_OR_PASSWORD,
  type ConsoleSignInRequest,
  type ConsoleSignInResult,
} from "./console-signin.js";
export {
  USER_SESSION_MAX_SECONDS,
  USER_SESSION_MIN_SECONDS,
  type UserSessionCredentials,
} from "./sts/user-session.js";
