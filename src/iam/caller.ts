import type { PolicyDocument } from "./policy/index.js";

/**
 * Who made a signed request, as every service sees it after authentication — and as ActionTrail's
 * `userIdentity` records it (type, principalId, userName, accessKeyId).
 */
export type CallerIdentity = UserCaller | AssumedRoleCaller;

interface CallerBase {
  readonly accessKeyId: string;
  /** The principal whose attached policies apply: the user, service or (for a session) the role. */
  readonly principal: string;
  /** ActionTrail's principalId: the UserId, or `<RoleId>:<RoleSessionName>`. */
  readonly principalId: string;
  /** ActionTrail's userName: the user, or `<RoleName>:<RoleSessionName>`. */
  readonly userName: string;
}

export interface UserCaller extends CallerBase {
  /** `ram-user` (ActionTrail's name for a RAM user), or `service` for a service's own identity. */
  readonly type: "ram-user" | "service";
  /**
   * A user's console session (a password sign-in, src/iam/sts/user-session.ts): when it was issued
   * and when it expires. Absent for a permanent access key.
   */
  readonly sessionCreatedAt?: number;
  readonly expiresAt?: number;
}

export interface AssumedRoleCaller extends CallerBase {
  readonly type: "assumed-role";
  readonly roleName: string;
  readonly roleId: string;
  readonly sessionName: string;
  /** When AssumeRole issued the session (ActionTrail's sessionContext.attributes.creationDate). */
  readonly sessionCreatedAt: number;
  readonly expiresAt: number;
  /** The Policy passed to AssumeRole: narrows the role's policies (both must allow). */
  readonly sessionPolicy?: PolicyDocument;
  /** Who assumed the role (the caller of AssumeRole). */
  readonly assumedBy: string;
}

/** A credential a verifier resolved: the secret to check the signature with, and whose it is. */
export interface ResolvedCredential {
  readonly secret: string;
  readonly caller: CallerIdentity;
}

/** The ARN of a caller, as trust policies and ActionTrail name it. */
export function callerArn(caller: CallerIdentity, accountId: string): string {
  if (caller.type === "assumed-role")
    return `acs:ram::${accountId}:assumed-role/${caller.roleName}/${caller.sessionName}`;
  if (caller.type === "service") return `acs:ram::${accountId}:service/${caller.principal}`;
  return `acs:ram::${accountId}:user/${caller.principal}`;
}
