/** Re-encryption after a KMS key rotation, started by the control plane on its own. */
export {
  AutoReencrypt,
  DEFAULT_SETTLE_MS,
  DEFAULT_WATCH_INTERVAL_MS,
  STARTED_BY_PREFIX,
  type AutoReencryptEvent,
  type AutoReencryptGate,
  type StartResult,
  type AutoReencryptOptions,
  type WatchedCluster,
} from "./watcher.js";
export { decide, type Decision, type WaitReason } from "./decide.js";
