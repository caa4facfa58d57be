import type { PolicyDocument, PolicyStatement } from "./policy-document.js";
import { wildcardMatch } from "./wildcard.js";

export type PolicyDecision = "allow" | "deny" | "implicit-deny";

export interface AccessRequest {
  /** `kms:<ApiName>`, e.g. `kms:Encrypt`. */
  readonly action: string;
  /** The resource ARN, e.g. `acs:kms:cn-hangzhou:123:key/key-abc`; use `kmsResourceArn`. */
  readonly resource: string;
}

function statementMatches(s: PolicyStatement, req: AccessRequest): boolean {
  // Action names are case-insensitive in RAM (`kms:encrypt` = `kms:Encrypt`); resource ids are not.
  return (
    s.Action.some((p) => wildcardMatch(p, req.action, { caseInsensitive: true })) &&
    s.Resource.some((p) => wildcardMatch(p, req.resource))
  );
}

/**
 * RAM's evaluation: an explicit Deny in any matching statement wins; otherwise a matching Allow
 * allows; with no matching statement the request is implicitly denied.
 */
export function evaluatePolicies(policies: readonly PolicyDocument[], req: AccessRequest): PolicyDecision {
  let allowed = false;
  for (const doc of policies) {
    for (const s of doc.Statement) {
      if (!statementMatches(s, req)) continue;
      if (s.Effect === "Deny") return "deny";
      allowed = true;
    }
  }
  return allowed ? "allow" : "implicit-deny";
}

/**
 * Builds a KMS resource ARN: `acs:kms:<region>:<account>:key/<keyId>`, `…:alias/<AliasName>` (so
 * `…:alias/alias/app`; the AliasName may be given with or without its `alias/` prefix), or the
 * containers `…:key` / `…:alias` (for ListKeys, CreateKey, ListAliases).
 */
export function kmsResourceArn(
  regionId: string,
  accountId: string,
  resource: { keyId: string } | { alias: string } | "key" | "alias",
): string {
  const base = `acs:kms:${regionId}:${accountId}:`;
  if (resource === "key" || resource === "alias") return base + resource;
  if ("keyId" in resource) return `${base}key/${resource.keyId}`;
  // An AliasName always carries its `alias/` prefix (`alias/app`), and the ARN is `alias/<AliasName>`.
  const aliasName = resource.alias.startsWith("alias/") ? resource.alias : `alias/${resource.alias}`;
  return `${base}alias/${aliasName}`;
}
