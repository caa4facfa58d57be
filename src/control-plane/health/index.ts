/** Cluster health from the KMS key's side (EKS-style issues), once or watched. */
export {
  checkKeyHealth,
  issueOfError,
  type KeyHealth,
  type KeyIssue,
  type KeyIssueCode,
} from "./key-health.js";
export {
  KeyHealthWatch,
  DEFAULT_KEY_HEALTH_INTERVAL_MS,
  type KeyHealthWatchOptions,
  type WatchedKey,
} from "./key-health-watch.js";
