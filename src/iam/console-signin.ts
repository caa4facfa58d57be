import type { Clock } from "../common/clock.js";
import type { UserCaller } from "./caller.js";
import { isoSecondsUtc, type TrailEvent } from "./events/trail-event.js";
import { newEventId, recordTrailEvent } from "./events/trail-store.js";
import { acsCodeOf, iamError } from "./iam-error.js";
import type { IdentityStore } from "./identity-store.js";
import { checkPasswordRules } from "./passwords.js";
import type { IamDb } from "./store/migrations.js";
import type { UserSessionCredentials } from "./sts/user-session.js";

export interface ConsoleSignInRequest {
  readonly userName: string;
  readonly password: string;
  /** The new password, when the user must (PasswordResetRequired) or wants to set one. */
  readonly newPassword?: string;
  readonly durationSeconds: number;
  readonly sourceIp: string;
  readonly userAgent?: string;
  readonly requestId: string;
}

export interface ConsoleSignInResult {
  readonly caller: UserCaller;
  readonly credentials: UserSessionCredentials;
  readonly passwordChanged: boolean;
}

/** The one answer to a wrong user name or a wrong password: it tells neither apart. */
export const WRONG_USER_OR_PASSWORD = "the user name or password is not valid";

const USER_NAME = /^[a-zA-Z0-9._@-]{1,64}$/;

/**
 * A console password sign-in (RAM login profiles): the password is checked (scrypt, the same cost for
 * an unknown user), a user whose profile says PasswordResetRequired must set a new one in the same
 * step, and the user gets a console session credential of its own (user-session.ts). Every attempt,
 * refused or not, is one ActionTrail `ConsoleSignin` event (service AasSub, as Alibaba Cloud records
 * console sign-ins), so LookupEvents finds it by user and by event name. The passwords are never
 * recorded. Throttling is the caller's (the console counts attempts per user and per address).
 */
export async function consoleSignIn(
  deps: { identity: IdentityStore; idb: IamDb; regionId: string; clock: Clock },
  req: ConsoleSignInRequest,
): Promise<ConsoleSignInResult> {
  const { identity } = deps;
  let caller: UserCaller | undefined;
  let passwordChanged = false;
  try {
    const checked = await identity.checkConsolePassword(req.userName, req.password);
    if (checked === undefined || checked.caller.type !== "ram-user")
      throw iamError("SignIn.InvalidCredentials", WRONG_USER_OR_PASSWORD);
    caller = checked.caller;
    if (req.newPassword !== undefined) {
      checkPasswordRules(req.newPassword);
      if (req.newPassword === req.password)
        throw iamError("InvalidParameter.Password", "the new password must differ from the current one");
      await identity.setPassword(req.userName, req.newPassword, { create: false, resetRequired: false });
      passwordChanged = true;
    } else if (checked.passwordResetRequired)
      throw iamError(
        "SignIn.PasswordResetRequired",
        "this user must set a new password before signing in: choose a new password",
      );
    const credentials = await identity.issueUserSession(req.userName, {
      durationSeconds: req.durationSeconds,
    });
    await record(deps, req, caller, { passwordChanged });
    return {
      caller: {
        ...caller,
        accessKeyId: credentials.accessKeyId,
        sessionCreatedAt: deps.clock.now(),
        expiresAt: credentials.expiresAt,
      },
      credentials,
      passwordChanged,
    };
  } catch (err) {
    await record(deps, req, caller, {
      passwordChanged,
      errorCode: acsCodeOf(err) ?? "InternalError",
      errorMessage: err instanceof Error ? err.message : String(err),
    });
    throw err;
  }
}

async function record(
  deps: { identity: IdentityStore; idb: IamDb; regionId: string; clock: Clock },
  req: ConsoleSignInRequest,
  caller: UserCaller | undefined,
  outcome: { passwordChanged: boolean; errorCode?: string; errorMessage?: string },
): Promise<void> {
  const now = deps.clock.now();
  // An attempt for a name that is no user is recorded under that name (when it is a possible name),
  // so the attempts against an account are found by its name whether it exists or not.
  const userName = caller?.userName ?? (USER_NAME.test(req.userName) ? req.userName : "");
  const event: TrailEvent = {
    eventId: newEventId(),
    eventVersion: "1",
    eventTime: isoSecondsUtc(now),
    eventName: "ConsoleSignin",
    eventType: "ConsoleSignin",
    eventRW: "Write",
    eventSource: `signin.${deps.regionId}.atrest.local`,
    serviceName: "AasSub",
    acsRegion: deps.regionId,
    sourceIpAddress: req.sourceIp,
    requestId: req.requestId,
    ...(req.userAgent === undefined ? {} : { userAgent: req.userAgent.slice(0, 256) }),
    userIdentity: {
      type: "ram-user",
      principalId: caller?.principalId ?? "",
      accountId: deps.identity.accountId,
      accessKeyId: "",
      userName,
    },
    additionalEventData: {
      loginAccount: userName === "" ? "" : `${userName}@${deps.identity.accountId}.onaliyun.com`,
      MFAChecked: "false",
      ...(outcome.passwordChanged ? { passwordChanged: "true" } : {}),
    },
    ...(outcome.errorCode === undefined
      ? {}
      : { errorCode: outcome.errorCode, errorMessage: outcome.errorMessage ?? "" }),
  };
  await recordTrailEvent(deps.idb, event, now);
}
