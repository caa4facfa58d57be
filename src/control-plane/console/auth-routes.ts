import { randomUUID } from "node:crypto";
import type { FastifyReply } from "fastify";
import { z } from "zod";
import { AtrestError } from "../../common/errors.js";
import { USER_SESSION_MAX_SECONDS, USER_SESSION_MIN_SECONDS } from "../../iam/index.js";
import { parseBody, sendError, SESSION_COOKIE, sessionOf, type ApiScope } from "./api-context.js";
import { consoleRefusal } from "./console-error.js";
import { assertCsrfToken, assertSameOriginWrite } from "./request-guard.js";
import type { ConsolePasswords } from "./passwords-port.js";
import type { ConsoleCredentials, ConsoleIdentity } from "./session-store.js";
import { SignInLimiter, type SignInLimits } from "./signin-limiter.js";
import { Upstream } from "./upstream.js";

const keyPairBody = z.strictObject({
  accessKeyId: z.string().min(1).max(128),
  accessKeySecret: z.string().min(1).max(256),
  securityToken: z.string().min(1).max(16_384).optional(),
});
const passwordBody = z.strictObject({
  /** The user name, or the user principal `<name>@<account>.onaliyun.com`. */
  userName: z.string().min(1).max(128),
  password: z.string().min(1).max(128),
  newPassword: z.string().min(1).max(128).optional(),
});

/** The one answer to any wrong pair: it does not tell an unknown id from a wrong secret. */
const WRONG_PAIR = "the AccessKey ID or AccessKey Secret is not valid";

/** `alice` from `alice` or `alice@<account>.onaliyun.com` (this account's suffix only). */
function userNameOf(principal: string, accountId: string): string {
  const at = principal.lastIndexOf("@");
  if (at < 0) return principal;
  const suffix = principal.slice(at + 1).toLowerCase();
  return suffix === `${accountId}.onaliyun.com` ? principal.slice(0, at) : principal;
}

const text = (v: unknown): string => (typeof v === "string" ? v : "");

function displayName(arn: string): string {
  // acs:ram::<account>:user/<name>, …:assumed-role/<role>/<session>
  const tail = arn.split(":").slice(4).join(":");
  const [kind, ...rest] = tail.split("/");
  return kind === "assumed-role" ? rest.join(":") : rest.join("/") || tail;
}

/**
 * Sign-in, two ways, each throttled (SignInLimiter: failures per user name and per address):
 *  - a RAM user's console password (`userName` / `password`, and `newPassword` when the login profile
 *    says PasswordResetRequired): the identity service checks it and issues the user's own session
 *    credential (src/iam/console-signin.ts), which the session signs the user's calls with;
 *  - an access key pair: proven by calling STS GetCallerIdentity with it (the identity service checks
 *    the signature, the key's state and, for an STS key, its token), kept in server memory.
 * Either way one answer for any wrong input. Sign-out ends the session (and a password session's
 * credential, everywhere).
 */
export function registerAuthRoutes(
  scope: ApiScope,
  options: {
    secure: boolean;
    clusters: boolean;
    passwords?: ConsolePasswords;
    limits?: SignInLimits;
  },
): void {
  const { app, sessions } = scope;
  const cookieOptions = {
    path: "/",
    httpOnly: true,
    secure: options.secure,
    sameSite: "strict" as const,
  };
  const limiter = new SignInLimiter(options.limits);
  const startSession = (
    reply: FastifyReply,
    identity: ConsoleIdentity,
    credentials: ConsoleCredentials,
    via: "password" | "access-key",
    extra: Record<string, unknown> = {},
  ) => {
    const session = sessions.create(identity, credentials, via);
    return reply
      .setCookie(SESSION_COOKIE, session.id, cookieOptions)
      .header("cache-control", "no-store")
      .send({ identity, ...extra });
  };
  const refuse = (reply: FastifyReply, err: unknown) => {
    const retry = err instanceof AtrestError ? err.details["retryAfterSeconds"] : undefined;
    if (typeof retry === "number") void reply.header("retry-after", String(retry));
    return sendError(reply, err);
  };

  app.post("/api/signin", async (req, reply) => {
    let upstream: Upstream | undefined;
    let userName: string | undefined;
    try {
      assertSameOriginWrite(req);
      const raw = (req.body ?? {}) as Record<string, unknown>;
      if (typeof raw === "object" && raw !== null && "userName" in raw) {
        const passwords = options.passwords;
        if (passwords === undefined)
          throw consoleRefusal(
            "unimplemented",
            "SignIn.PasswordUnavailable",
            "this console signs in with access keys only (it runs beside no identity service)",
          );
        const b = parseBody(passwordBody, raw);
        userName = userNameOf(b.userName.trim(), passwords.accountId);
        limiter.check(userName, req.ip);
        const ua = req.headers["user-agent"];
        let r: Awaited<ReturnType<typeof passwords.signIn>>;
        try {
          r = await passwords.signIn({
            userName,
            password: b.password,
            ...(b.newPassword === undefined ? {} : { newPassword: b.newPassword }),
            durationSeconds: Math.min(
              USER_SESSION_MAX_SECONDS,
              Math.max(USER_SESSION_MIN_SECONDS, Math.ceil(sessions.maxAgeMs / 1000)),
            ),
            sourceIp: req.ip,
            requestId: randomUUID().toUpperCase(),
            ...(typeof ua === "string" ? { userAgent: ua } : {}),
          });
        } catch (err) {
          if ((err as AtrestError).details?.["acsCode"] === "SignIn.InvalidCredentials")
            limiter.failed(userName, req.ip);
          throw err;
        }
        limiter.succeeded(userName);
        const identity: ConsoleIdentity = {
          accountId: passwords.accountId,
          arn: `acs:ram::${passwords.accountId}:user/${r.caller.userName}`,
          principalId: r.caller.principalId,
          identityType: "RAMUser",
          displayName: r.caller.userName,
        };
        req.log.info({ principal: identity.arn, via: "password" }, "console: signed in");
        const { accessKeyId, accessKeySecret, securityToken } = r.credentials;
        return await startSession(
          reply,
          identity,
          { accessKeyId, accessKeySecret, securityToken },
          "password",
          { passwordChanged: r.passwordChanged },
        );
      }
      const b = parseBody(keyPairBody, raw);
      limiter.check(undefined, req.ip);
      const credentials = {
        accessKeyId: b.accessKeyId,
        accessKeySecret: b.accessKeySecret,
        ...(b.securityToken === undefined ? {} : { securityToken: b.securityToken }),
      };
      upstream = new Upstream(scope.endpoints, credentials);
      let who: Record<string, unknown>;
      try {
        who = await upstream.call("sts", "GetCallerIdentity");
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "unauthenticated" || code === "invalid-argument") {
          limiter.failed(undefined, req.ip);
          throw consoleRefusal("unauthenticated", "InvalidCredentials", WRONG_PAIR);
        }
        throw err;
      }
      const arn = text(who["Arn"]);
      const identity: ConsoleIdentity = {
        accountId: text(who["AccountId"]),
        arn,
        principalId: text(who["PrincipalId"]),
        identityType: text(who["IdentityType"]),
        displayName: displayName(arn),
      };
      req.log.info({ principal: identity.arn, via: "access-key" }, "console: signed in");
      return await startSession(reply, identity, credentials, "access-key");
    } catch (err) {
      return refuse(reply, err);
    } finally {
      upstream?.close();
    }
  });
  app.post("/api/signout", async (req, reply) => {
    try {
      assertSameOriginWrite(req);
      const session = sessionOf(req, sessions);
      if (session !== undefined) {
        assertCsrfToken(req, session.csrfToken);
        // A password session's credential ends now, everywhere (not only in this console).
        if (session.via === "password") await options.passwords?.endSession(session.credentials.accessKeyId);
        sessions.delete(session.id);
        scope.upstreams.end(session.id);
      }
      return await reply
        .clearCookie(SESSION_COOKIE, cookieOptions)
        .header("cache-control", "no-store")
        .send({});
    } catch (err) {
      return sendError(reply, err);
    }
  });
  // What the sign-in page offers (no session needed; nothing about any account).
  app.get("/api/signin-options", async (_req, reply) =>
    reply
      .header("cache-control", "no-store")
      .send({ password: options.passwords !== undefined, accessKey: true }),
  );
  app.get("/api/session", async (req, reply) => {
    const session = sessionOf(req, sessions);
    if (session === undefined)
      return sendError(reply, consoleRefusal("unauthenticated", "SessionExpired", "not signed in"));
    return reply.header("cache-control", "no-store").send({
      identity: session.identity,
      csrfToken: session.csrfToken,
      regionId: scope.endpoints.regionId,
      idleTimeoutMs: sessions.idleTimeoutMs,
      clusters: options.clusters,
      via: session.via,
    });
  });
}
