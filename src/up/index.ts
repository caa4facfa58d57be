/** `atrest up`: kms + plugin + apiserver on one machine, state in one data dir. */
export {
  startUp,
  DEFAULT_PLUGIN_READY_TIMEOUT_MS,
  type UpOptions,
  type UpSummary,
  type RunningUp,
} from "./up.js";
export { upPaths, DEFAULT_UP_DATA_DIR, type UpPaths } from "./paths.js";
export { UP_KEY_ALIAS } from "./kms-key.js";
export { UP_PLUGIN_PRINCIPAL } from "./plugin-principal.js";
export { UP_KMS_PROVIDER_NAME, renderUpEncryptionConfig } from "./encryption-config-file.js";
