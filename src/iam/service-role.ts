import { isAtrestError } from "../common/errors.js";
import { iamError } from "./iam-error.js";
import type { IdentityStore, PrincipalRow } from "./identity-store.js";

/**
 * ACK's service role for Secret encryption, as its console's "quick authorization" creates it: the
 * role `AliyunCSManagedSecurityRole`, trusting the container service `cs.aliyuncs.com`, with the
 * system policy `AliyunCSManagedSecurityRolePolicy`. atrest's control plane signs as the service
 * principal of that same name, so the role document ACK's console writes works unchanged.
 */
export const CS_SERVICE_PRINCIPAL = "cs.aliyuncs.com";
export const CS_SERVICE_ROLE = "AliyunCSManagedSecurityRole";
export const CS_SERVICE_ROLE_POLICY = "AliyunCSManagedSecurityRolePolicy";
/** The trust policy, byte for byte as written here (compared as JSON values when checking a role). */
export const CS_SERVICE_ROLE_TRUST_POLICY = JSON.stringify({
  Statement: [{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: [CS_SERVICE_PRINCIPAL] } }],
  Version: "1",
});

export function serviceRoleArn(accountId: string): string {
  return `acs:ram::${accountId}:role/${CS_SERVICE_ROLE}`;
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

/**
 * Quick authorization, idempotent: creates the role (or checks the one there trusts the service) and
 * attaches its policy. A role of that name with another trust policy is refused, not overwritten:
 * someone changed it on purpose, and the message says how to put it back.
 */
export async function ensureServiceRole(identity: IdentityStore): Promise<PrincipalRow> {
  let role = await identity.findRole(CS_SERVICE_ROLE);
  if (role === undefined) {
    try {
      role = await identity.createPrincipal(CS_SERVICE_ROLE, "role", {
        trustPolicy: CS_SERVICE_ROLE_TRUST_POLICY,
        description:
          "atrest's control plane (cs.aliyuncs.com) assumes this role to call the KMS for a cluster",
      });
    } catch (err) {
      if (!isAtrestError(err, "already-exists")) throw err;
      role = await identity.findRole(CS_SERVICE_ROLE);
      if (role === undefined) throw err; // a user or service holds the name
    }
  } else if (!sameJson(role.trust_policy ?? "", CS_SERVICE_ROLE_TRUST_POLICY)) {
    throw iamError(
      "InvalidParameter.PolicyDocument",
      `the role ${role.principal_name} does not trust ${CS_SERVICE_PRINCIPAL} as quick authorization sets it; restore its trust policy (UpdateRole) to ${CS_SERVICE_ROLE_TRUST_POLICY}`,
    );
  }
  await identity.attachPolicy(CS_SERVICE_ROLE_POLICY, role.principal_name, "role");
  return role;
}

/** The control plane's own principal (a service), created when missing. */
export async function ensureServicePrincipal(identity: IdentityStore): Promise<PrincipalRow> {
  try {
    return await identity.getPrincipal(CS_SERVICE_PRINCIPAL, "service");
  } catch (err) {
    if (!isAtrestError(err, "not-found")) throw err;
    return identity.createPrincipal(CS_SERVICE_PRINCIPAL, "service", {
      description: "atrest's control plane: assumes the roles that trust cs.aliyuncs.com",
    });
  }
}
