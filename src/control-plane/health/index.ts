/** Cluster health from the KMS key's side (EKS-style issues). */
export { checkKeyHealth, type KeyHealth, type KeyIssue, type KeyIssueCode } from "./key-health.js";
