import type { PolicyDocument } from "./policy-document.js";
import { validatePolicyDocument } from "./policy-document.js";

/**
 * Built-in policies, named and shaped after Alibaba Cloud's KMS system policies (their KMS statements;
 * statements about other services, such as FullAccess's ram:CreateServiceLinkedRole, are left out).
 * They can be attached to principals but not changed or deleted.
 */
export const BUILTIN_POLICIES = Object.freeze({
  /** Everything, including principals, access keys and policies. */
  AliyunKMSFullAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*" }],
  }),
  /** Key administration: every action on keys and aliases (as Alibaba's policy, this includes their use). */
  AliyunKMSCryptoAdminAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: ["kms:*"], Resource: ["acs:kms:*:*:key*", "acs:kms:*:*:alias*"] }],
  }),
  /** Cryptographic use of keys only. */
  AliyunKMSCryptoUserAccess: validatePolicyDocument({
    Version: "1",
    Statement: [
      {
        Effect: "Allow",
        Action: [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:GenerateDataKey",
          "kms:GenerateDataKeyWithoutPlaintext",
          "kms:AsymmetricDecrypt",
          "kms:AsymmetricEncrypt",
          "kms:AsymmetricSign",
          "kms:AsymmetricVerify",
          "kms:GetPublicKey",
          "kms:GenerateMac",
          "kms:VerifyMac",
        ],
        Resource: "*",
      },
    ],
  }),
  /** Reading metadata: lists and descriptions. */
  AliyunKMSReadOnlyAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: ["kms:List*", "kms:Describe*"], Resource: "*" }],
  }),
  /** Managing users, roles, access keys, policies and their attachments (RAM's). */
  AliyunRAMFullAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: "ram:*", Resource: "*" }],
  }),
  AliyunRAMReadOnlyAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: ["ram:Get*", "ram:List*"], Resource: "*" }],
  }),
  /** Calling STS AssumeRole (each role's trust policy still decides who may assume it). */
  AliyunSTSAssumeRoleAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }],
  }),
  AliyunActionTrailFullAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: "actiontrail:*", Resource: "*" }],
  }),
  /** The Container Service (control plane): every cs action on every cluster. */
  AliyunCSFullAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: "cs:*", Resource: "*" }],
  }),
  /** The Container Service, reading only (describe clusters, events, tasks). */
  AliyunCSReadOnlyAccess: validatePolicyDocument({
    Version: "1",
    Statement: [{ Effect: "Allow", Action: ["cs:Get*", "cs:Describe*", "cs:Check*"], Resource: "*" }],
  }),
  AliyunActionTrailReadOnlyAccess: validatePolicyDocument({
    Version: "1",
    Statement: [
      {
        Effect: "Allow",
        Action: ["actiontrail:Describe*", "actiontrail:Get*", "actiontrail:Lookup*"],
        Resource: "*",
      },
    ],
  }),
  /**
   * The policy of ACK's service role AliyunCSManagedSecurityRole, action for action as Alibaba Cloud
   * publishes it (v1, 2024-10-18): what a cluster's KMS plugin needs, and SetDeletionProtection to
   * protect the key it uses. Never change the list: it is the published one.
   */
  AliyunCSManagedSecurityRolePolicy: validatePolicyDocument({
    Version: "1",
    Statement: [
      {
        Effect: "Allow",
        Action: [
          "kms:GetSecretValue",
          "kms:ListSecrets",
          "kms:ListKeys",
          "kms:ListSecretVersionIds",
          "kms:ListAliasesByKeyId",
          "kms:SetDeletionProtection",
          "kms:DescribeKey",
          "kms:Encrypt",
          "kms:Decrypt",
        ],
        Resource: "*",
      },
    ],
  }),
} satisfies Record<string, PolicyDocument>);

export type BuiltinPolicyName = keyof typeof BUILTIN_POLICIES;

export function isBuiltinPolicyName(name: string): name is BuiltinPolicyName {
  return Object.prototype.hasOwnProperty.call(BUILTIN_POLICIES, name);
}
