import type { CallerIdentity } from "../caller.js";
import { iamError } from "../iam-error.js";
import type { IdentityStore, PrincipalRow } from "../identity-store.js";
import { newStsAccessKey } from "../ids.js";
import { parsePolicyDocument, parseTrustPolicy, trustAllows, type TrustCaller } from "../policy/index.js";
import { isoSecondsUtc } from "../events/trail-event.js";
import { sealSessionToken } from "./session-token.js";

/** STS's bounds and defaults (AssumeRole, 2015-04-01). */
export const STS_MIN_DURATION_SECONDS = 900;
export const STS_DEFAULT_DURATION_SECONDS = 3600;
const MAX_SESSION_POLICY_CHARS = 2048;
const ROLE_ARN = /^acs:ram::([0-9]{1,32}):role\/([a-zA-Z0-9._@-]{1,64})$/;
const SESSION_NAME = /^[A-Za-z0-9.@_-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const SOURCE_IDENTITY = /^[\w+=,.@-]{2,64}$/;

export interface AssumeRoleRequest {
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly durationSeconds?: number;
  readonly policy?: string;
  readonly externalId?: string;
  readonly sourceIdentity?: string;
}

export interface AssumedRole {
  readonly role: PrincipalRow;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly securityToken: string;
  readonly expiresAt: number;
  /** AssumeRole's response body (RequestId added by the caller), exactly STS's shape. */
  readonly body: Record<string, unknown>;
}

const noPermission = () =>
  iamError("NoPermission", "You are not authorized to do this action. You should be authorized by RAM.");

/** Validates the request's parameters (every rule named), before anything is looked up. */
export function checkAssumeRoleRequest(r: AssumeRoleRequest): void {
  if (!ROLE_ARN.test(r.roleArn))
    throw iamError("InvalidParameter.RoleArn", "RoleArn: must be acs:ram::<account id>:role/<role name>");
  if (!SESSION_NAME.test(r.roleSessionName))
    throw iamError(
      "InvalidParameter.RoleSessionName",
      "RoleSessionName: 2-64 characters of letters, digits, '.', '@', '-' and '_'",
    );
  if (r.policy !== undefined && (r.policy.length < 1 || r.policy.length > MAX_SESSION_POLICY_CHARS))
    throw iamError("InvalidParameter.PolicyGrammar", `Policy: 1-${MAX_SESSION_POLICY_CHARS} characters`);
  if (r.externalId !== undefined && !EXTERNAL_ID.test(r.externalId))
    throw iamError(
      "InvalidParameter.ExternalId",
      "ExternalId: 2-1224 characters of letters, digits and +=,.@:/-_",
    );
  if (r.sourceIdentity !== undefined && !SOURCE_IDENTITY.test(r.sourceIdentity))
    throw iamError("InvalidParameter", "SourceIdentity: 2-64 characters of letters, digits and +=,.@-_");
}

function trustCallerOf(caller: CallerIdentity, accountId: string): TrustCaller {
  if (caller.type === "service") return { kind: "service", service: caller.principal };
  const arn =
    caller.type === "assumed-role"
      ? `acs:ram::${accountId}:role/${caller.roleName}`
      : `acs:ram::${accountId}:user/${caller.principal}`;
  return { kind: "ram", accountId, arn };
}

/**
 * STS AssumeRole: the role must exist in this account; the caller needs `sts:AssumeRole` on the
 * role's ARN (a service principal, as a cloud service assuming its service role, needs no policy)
 * and the role's trust policy must name it (explicit Deny wins; an ExternalId condition must match);
 * DurationSeconds within the role's MaxSessionDuration; a Policy, when given, narrows the session.
 * The credentials are an `STS.` key, its secret and a sealed SecurityToken carrying both.
 */
export async function assumeRole(
  identity: IdentityStore,
  caller: CallerIdentity,
  request: AssumeRoleRequest,
  options: { now: number; minDurationSeconds: number },
): Promise<AssumedRole> {
  checkAssumeRoleRequest(request);
  const [, account, roleName] = ROLE_ARN.exec(request.roleArn)!;
  const role = account === identity.accountId ? await identity.findRole(roleName!) : undefined;
  if (role === undefined || role.trust_policy === null)
    throw iamError("EntityNotExist.Role", `The role not exists: ${request.roleArn}.`);
  const maxDuration = Number(role.max_session_duration_s ?? STS_DEFAULT_DURATION_SECONDS);
  const duration = request.durationSeconds ?? Math.min(STS_DEFAULT_DURATION_SECONDS, maxDuration);
  if (!Number.isInteger(duration) || duration < options.minDurationSeconds || duration > maxDuration)
    throw iamError(
      "InvalidParameter.DurationSeconds",
      `DurationSeconds: must be ${options.minDurationSeconds}-${maxDuration} (the role's MaxSessionDuration)`,
    );
  let policyText: string | undefined;
  if (request.policy !== undefined) {
    try {
      parsePolicyDocument(request.policy);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw iamError("InvalidParameter.PolicyGrammar", `Policy: ${message}`, { cause: err });
    }
    policyText = request.policy;
  }
  const roleArn = `acs:ram::${identity.accountId}:role/${role.principal_name}`;
  if (
    caller.type !== "service" &&
    !(await identity.allows(caller, "sts:AssumeRole", [roleArn, request.roleArn]))
  )
    throw noPermission();
  if (
    !trustAllows(
      parseTrustPolicy(role.trust_policy),
      trustCallerOf(caller, identity.accountId),
      request.externalId,
    )
  )
    throw noPermission();

  const { accessKeyId, accessKeySecret } = newStsAccessKey();
  const expiresAt = options.now + duration * 1000;
  const securityToken = sealSessionToken(identity.sealer, accessKeyId, {
    sk: accessKeySecret,
    roleName: role.principal_name,
    roleId: role.principal_id,
    session: request.roleSessionName,
    issuedAt: options.now,
    expiresAt,
    by: caller.userName,
    ...(policyText === undefined ? {} : { policy: policyText }),
    ...(request.sourceIdentity === undefined ? {} : { sourceIdentity: request.sourceIdentity }),
  });
  return {
    role,
    accessKeyId,
    accessKeySecret,
    securityToken,
    expiresAt,
    body: {
      AssumedRoleUser: {
        Arn: `${roleArn}/${request.roleSessionName}`,
        AssumedRoleId: `${role.principal_id}:${request.roleSessionName}`,
      },
      Credentials: {
        AccessKeyId: accessKeyId,
        AccessKeySecret: accessKeySecret,
        SecurityToken: securityToken,
        Expiration: isoSecondsUtc(expiresAt),
      },
      ...(request.sourceIdentity === undefined ? {} : { SourceIdentity: request.sourceIdentity }),
    },
  };
}
