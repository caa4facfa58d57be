/**
 * The control plane (issue 12): clusters, their Secret encryption, who may change it, and the events
 * that prove it — the cs API (2015-12-15) for the official SDK, the identity services beside it, one
 * service layer that the cs routes and the console both call.
 */
export {
  buildControlPlaneApp,
  listenControlPlane,
  type ControlPlaneAppOptions,
  type ControlPlaneDeps,
  type ControlPlaneMount,
  type ControlPlaneServer,
} from "./server.js";
export {
  ControlPlaneService,
  DEFAULT_UPDATE_COOLDOWN_MS,
  DEFAULT_TASK_LEASE_MS,
  taskView,
  type ControlPlaneServiceOptions,
} from "./service/control-plane-service.js";
export type { ClusterEngine, ClusterEngineFactory } from "./service/engine-port.js";
export {
  ClusterWatch,
  CLUSTER_WATCH_LEASE,
  HEALTH_SESSION_NAME,
  type ClusterWatchOptions,
} from "./service/cluster-watch.js";
export { AUTO_REENCRYPT_TAG, autoReencryptOf } from "./service/cluster-tags.js";
export * from "./service/types.js";
export { clusterArn } from "./service/arn.js";
export { CS_SERVICE_NAME, CS_API_VERSION } from "./service/audit.js";
export { CS_ERROR_CODES, csError, toCsWireError, type CsErrorCode } from "./cs/cs-error.js";
export { ClusterStore } from "./store/cluster-store.js";
export {
  controlPlaneMigrations,
  migrateControlPlaneDatabase,
  type ControlPlaneDb,
} from "./store/migrations.js";
export type { ControlPlaneDatabase } from "./store/schema.js";
export {
  startControlPlane,
  controlPlaneDbOf,
  type ControlPlaneOptions,
  type RunningControlPlane,
} from "./start.js";
export { CsClient, type CsClientOptions } from "./client/cs-client.js";
