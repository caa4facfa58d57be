/** EncryptionConfiguration (DESIGN.md §5): load and validate, build transformers, health checks, automatic reload. */
export type {
  EncryptionConfiguration,
  ResourceRule,
  ProviderConfig,
  KmsProviderConfig,
  KeyConfig,
  KmsApiVersion,
} from "./types.js";
export { DEFAULT_KMS_TIMEOUT_MS, DEFAULT_KMS_V1_CACHE_SIZE } from "./types.js";
export type { ConfigIssue } from "./field-error.js";
export {
  parseEncryptionConfiguration,
  loadEncryptionConfigurationFile,
  configIssuesOf,
  contentHashOf,
  type LoadOptions,
  type LoadedEncryptionConfiguration,
} from "./load.js";
export { parseGroupResource, groupResourceString, type GroupResource } from "./group-resource.js";
export { indexRules, matchResource, type RuleMatch } from "./matching.js";
export {
  buildEncryptionState,
  type BuildDeps,
  type KmsClientFactories,
  type KmsClientOptions,
} from "./build.js";
export { DynamicEncryptionState, type EncryptionState } from "./encryption-state.js";
export { KMS_RELOAD_HEALTH_CHECK_NAME, type HealthCheck } from "./health.js";
export {
  EncryptionConfigReloadController,
  DEFAULT_RELOAD_INTERVAL_MS,
  type ReloadControllerOptions,
  type ReloadEvent,
  type ReloadOutcome,
  type ReloadStats,
} from "./reload-controller.js";
export { grpcKmsClients } from "./grpc-clients.js";
export { resourceFromStorageKey } from "./storage-key.js";
export { decodeStoredValue, decodedValueJson, type DecodedValue } from "./decode-value.js";
export { EnvelopeProviders, envelopeProviders, type EnvelopeProviderOptions } from "./envelope-providers.js";
export { startEncryptionRuntime, type EncryptionRuntime, type EncryptionRuntimeOptions } from "./runtime.js";
