export {
  parsePolicyDocument,
  validatePolicyDocument,
  MAX_POLICY_DOCUMENT_CHARS,
  type PolicyDocument,
  type PolicyStatement,
  type PolicyEffect,
} from "./policy-document.js";
export { evaluatePolicies, kmsResourceArn, type PolicyDecision, type AccessRequest } from "./evaluate.js";
export { BUILTIN_POLICIES, isBuiltinPolicyName, type BuiltinPolicyName } from "./builtin-policies.js";
export { wildcardMatch } from "./wildcard.js";
export {
  parseTrustPolicy,
  trustAllows,
  type TrustPolicy,
  type TrustStatement,
  type TrustCaller,
} from "./trust-policy.js";
