/** The Kubernetes KMS plugin (DESIGN.md §3): what the CLI, `atrest up` and tests use. */
export {
  startPlugin,
  DEFAULT_STATUS_REFRESH_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type PluginOptions,
  type RunningPlugin,
} from "./plugin.js";
export { createBackend, readKeyFile, type BackendConfig, type LocalKekConfig } from "./backend-config.js";
export type { KmsBackend, BackendCiphertext, BackendDecryptRequest, CallContext } from "./backend.js";
export {
  createAlibabaBackend,
  alibabaKeyId,
  UID_HEADER,
  type AlibabaBackendOptions,
  type AlibabaCredentials,
} from "./alibaba-backend.js";
export { createLocalBackend, localKeyId } from "./local-backend.js";
export { KEY_ID_ANNOTATION, KEY_VERSION_ANNOTATION } from "./annotations.js";
export {
  readConfigFile,
  resolvePluginOptions,
  validateSettings,
  loadCredentials,
  type PluginSettings,
} from "./options.js";
export type { HealthSnapshot } from "./status-check.js";
export { AssumedRoleCredentials, type AssumeRoleSettings } from "./assumed-role-credentials.js";
export { waitForPluginHealthy } from "./plugin-ready.js";
