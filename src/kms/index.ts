/** atrest kms: a self-hosted KMS speaking Alibaba Cloud KMS's OpenAPI 2016-01-20 (DESIGN.md §7). */
export { startKmsServer, parseListen, type KmsServer, type KmsServerOptions } from "./server.js";
export { initKmsDataDir, ADMIN_POLICY, ADMIN_PRINCIPAL, type InitResult } from "./init.js";
export { kmsPaths, readKmsConfig, type KmsDirConfig } from "./kms-files.js";
export { openKmsDatabase, type KmsDb, type DialectName } from "./store/database.js";
export {
  queryAuditEvents,
  verifyAuditChain,
  auditUsage,
  type AuditQuery,
  type AuditRecord,
  type AuditRow,
  type AuditVerification,
  type UsageRow,
} from "./audit-log.js";
export { KMS_ERROR_CODES, kmsError, toKmsWireError, type KmsErrorCode } from "./kms-error.js";
export { decodeBlob, type ParsedBlob } from "./ciphertext-blob.js";
export { KeyService, MAX_PLAINTEXT_BYTES } from "./keys/index.js";
export { KmsScheduler, type SchedulerRun } from "./scheduler.js";
/** The contract with atrest's encryption operations: a cluster's tag marks the key it needs. */
export {
  CLUSTER_NAME,
  CLUSTER_TAG_PREFIX,
  clusterTagKey,
  clusterUsesOf,
  type ClusterKeyUse,
  type ClusterUse,
} from "./keys/cluster-tags.js";
export { identityDbOf } from "./store/database.js";
export { kmsAuditEventSource, auditRowToTrailEvent } from "./audit-events.js";
export { READ_ONLY_ACTIONS } from "./actions/index.js";
export { identityApiFor, startKmsIdentityEndpoint } from "./identity-endpoint.js";
export { openSharedIdentity, type SharedIdentity } from "./shared-identity.js";
