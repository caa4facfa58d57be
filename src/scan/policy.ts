/**
 * What a scan expects of each resource: whether its objects should be encrypted (so plaintext is a
 * finding) and which provider writes it. With an EncryptionConfiguration that is its first provider for
 * the resource (kube's matching: exact, `*.<group>`, `*.*`, else identity); without one, Secrets — the
 * thing this whole system exists for — are expected to be encrypted and nothing else is.
 */
import { indexRules, matchResource } from "../encryption-config/matching.js";
import { providerLabel } from "../encryption-config/provider-label.js";
import type { EncryptionConfiguration } from "../encryption-config/types.js";

export interface ResourcePolicy {
  /** Plaintext objects of this resource are findings. */
  readonly encryptionExpected: boolean;
  /** The provider that writes new objects (`identity`, `aesgcm:<key>`, `kms:v2:<name>`); undefined without a configuration. */
  readonly writer?: string;
  /** The configuration's pattern that matched (`secrets`, `*.apps`, `*.*`); undefined when none did. */
  readonly rule?: string;
}

export interface ScanPolicy {
  /** True when the policy comes from an EncryptionConfiguration. */
  readonly fromConfiguration: boolean;
  forResource(resource: string): ResourcePolicy;
}

/** Without a configuration: Secrets should be encrypted; other resources may be in the clear. */
export const defaultScanPolicy: ScanPolicy = Object.freeze({
  fromConfiguration: false,
  forResource: (resource: string): ResourcePolicy => ({ encryptionExpected: resource === "secrets" }),
});

/** A provider element as the scan reports it: `identity`, `aesgcm:<first key>`, `kms:v2:<name>`. */
export const writerLabel = providerLabel;

export function policyFromConfiguration(config: EncryptionConfiguration): ScanPolicy {
  const index = indexRules(config);
  const cache = new Map<string, ResourcePolicy>();
  return {
    fromConfiguration: true,
    forResource(resource: string): ResourcePolicy {
      const cached = cache.get(resource);
      if (cached !== undefined) return cached;
      const match = matchResource(index, resource);
      const first = match === undefined ? undefined : config.resources[match.ruleIndexes[0]!]?.providers[0];
      const policy: ResourcePolicy =
        match === undefined || first === undefined
          ? { encryptionExpected: false, writer: "identity" }
          : {
              encryptionExpected: first.type !== "identity",
              writer: writerLabel(first),
              rule: match.pattern,
            };
      cache.set(resource, policy);
      return policy;
    },
  };
}
