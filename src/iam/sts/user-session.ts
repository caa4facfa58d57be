import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import type { UserCaller } from "../caller.js";
import { iamError } from "../iam-error.js";
import { newStsAccessKey } from "../ids.js";
import type { SecretSealer } from "../sealer.js";
import type { IamDatabase, PrincipalsTable } from "../store/schema.js";
import { sealUserSessionToken, type UserSessionTokenPayload } from "./session-token.js";

/**
 * A user's console session credential: what a password sign-in gives the console to sign the user's
 * calls with (a password is no key pair). It is an STS credential like AssumeRole's — an `STS.` access
 * key, its secret and a SecurityToken (format 0x02, session-token.ts) — but for the *user*: its own
 * policies apply, and every service that accepts AssumeRole's credentials (the KMS, the identity
 * services, the control plane) accepts it, with the user as the caller. It is refused once
 *  - it expires (at most the console session's 12 hours),
 *  - it is ended (sign-out, or the console session timing out): a row of `iam_user_sessions` says so,
 *    in the database every service reads,
 *  - the user is deleted (or replaced by a new user of the same name), or
 *  - the user's login profile is deleted or its password changed (the token carries a digest of the
 *    stored hash it was issued against).
 */
export const USER_SESSION_MIN_SECONDS = 900;
export const USER_SESSION_MAX_SECONDS = 43_200;

export interface UserSessionCredentials {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly securityToken: string;
  readonly expiresAt: number;
}

/** A digest of the login profile (its stored scrypt hash): changes whenever the password does. */
export function loginProfileDigest(passwordHash: string): string {
  return createHash("sha256").update("atrest-iam/login-profile\0").update(passwordHash).digest("base64url");
}

export async function issueUserSession(
  deps: { db: Kysely<IamDatabase>; sealer: SecretSealer },
  user: PrincipalsTable,
  options: { now: number; durationSeconds: number },
): Promise<UserSessionCredentials> {
  const d = options.durationSeconds;
  if (!Number.isInteger(d) || d < USER_SESSION_MIN_SECONDS || d > USER_SESSION_MAX_SECONDS)
    throw iamError(
      "InvalidParameter.DurationSeconds",
      `DurationSeconds: must be ${USER_SESSION_MIN_SECONDS}-${USER_SESSION_MAX_SECONDS}`,
    );
  if (user.principal_type !== "user" || user.password_hash === null)
    throw iamError("EntityNotExist.User.LoginProfile", `${user.principal_name} has no login profile`);
  const { accessKeyId, accessKeySecret } = newStsAccessKey();
  const expiresAt = options.now + d * 1000;
  const payload: UserSessionTokenPayload = {
    sk: accessKeySecret,
    userName: user.principal_name,
    userId: user.principal_id,
    issuedAt: options.now,
    expiresAt,
    lp: loginProfileDigest(user.password_hash),
  };
  // Rows of sessions long expired are of no use to anyone: drop them as new ones come.
  await deps.db.deleteFrom("iam_user_sessions").where("expires_at", "<", options.now).execute();
  await deps.db
    .insertInto("iam_user_sessions")
    .values({
      access_key_id: accessKeyId,
      principal_name: user.principal_name,
      created_at: options.now,
      expires_at: expiresAt,
      ended_at: null,
    })
    .execute();
  return {
    accessKeyId,
    accessKeySecret,
    securityToken: sealUserSessionToken(deps.sealer, accessKeyId, payload),
    expiresAt,
  };
}

/** Ends a session (idempotent): its credential is refused from now on. */
export async function endUserSession(
  db: Kysely<IamDatabase>,
  accessKeyId: string,
  now: number,
): Promise<void> {
  await db
    .updateTable("iam_user_sessions")
    .set({ ended_at: now })
    .where("access_key_id", "=", accessKeyId)
    .where("ended_at", "is", null)
    .execute();
}

/** Whether the session's row says it is still open (not ended, not forgotten). */
export async function userSessionOpen(db: Kysely<IamDatabase>, accessKeyId: string): Promise<boolean> {
  const row = await db
    .selectFrom("iam_user_sessions")
    .select(["ended_at"])
    .where("access_key_id", "=", accessKeyId)
    .executeTakeFirst();
  return row !== undefined && row.ended_at === null;
}

const ended = (why: string) =>
  iamError("InvalidSecurityToken.Expired", `This console session has ended: ${why}.`);

/**
 * The caller behind an opened user-session token, checked against the user as it is now (the
 * session's row is checked by the caller of this, with its cache).
 */
export function userSessionCaller(
  accessKeyId: string,
  p: UserSessionTokenPayload,
  user: PrincipalsTable | undefined,
): UserCaller {
  if (user === undefined || user.principal_type !== "user" || user.principal_id !== p.userId)
    throw ended("the user no longer exists");
  if (user.password_hash === null || loginProfileDigest(user.password_hash) !== p.lp)
    throw ended("the user's console password was changed or removed");
  return {
    type: "ram-user",
    accessKeyId,
    principal: p.userName,
    principalId: p.userId,
    userName: p.userName,
    sessionCreatedAt: p.issuedAt,
    expiresAt: p.expiresAt,
  };
}

export const userSessionEnded = () => ended("the user signed out or the session timed out");
