import { z } from "zod";
import { parseBody, sendError, SESSION_COOKIE, sessionOf, type ApiScope } from "./api-context.js";
import { consoleRefusal } from "./console-error.js";
import { assertCsrfToken, assertSameOriginWrite } from "./request-guard.js";
import type { ConsoleIdentity } from "./session-store.js";
import { Upstream } from "./upstream.js";

const signInBody = z.strictObject({
  accessKeyId: z.string().min(1).max(128),
  accessKeySecret: z.string().min(1).max(256),
  securityToken: z.string().min(1).max(16_384).optional(),
});

/** The one answer to any wrong pair: it does not tell an unknown id from a wrong secret. */
const WRONG_PAIR = "the AccessKey ID or AccessKey Secret is not valid";

const text = (v: unknown): string => (typeof v === "string" ? v : "");

function displayName(arn: string): string {
  // acs:ram::<account>:user/<name>, …:assumed-role/<role>/<session>
  const tail = arn.split(":").slice(4).join(":");
  const [kind, ...rest] = tail.split("/");
  return kind === "assumed-role" ? rest.join(":") : rest.join("/") || tail;
}

/**
 * Sign-in with an access key pair: the pair is proven by calling STS GetCallerIdentity with it (the
 * identity service checks the signature, the key's state and, for an STS key, its token), and the
 * session keeps the pair in server memory to sign the user's calls. Sign-out ends the session.
 */
export function registerAuthRoutes(scope: ApiScope, options: { secure: boolean; clusters: boolean }): void {
  const { app, sessions } = scope;
  const cookieOptions = {
    path: "/",
    httpOnly: true,
    secure: options.secure,
    sameSite: "strict" as const,
  };
  app.post("/api/signin", async (req, reply) => {
    let upstream: Upstream | undefined;
    try {
      assertSameOriginWrite(req);
      const b = parseBody(signInBody, req.body);
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
        if (code === "unauthenticated" || code === "invalid-argument")
          throw consoleRefusal("unauthenticated", "InvalidCredentials", WRONG_PAIR);
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
      const session = sessions.create(identity, credentials);
      req.log.info({ principal: identity.arn }, "console: signed in");
      return await reply
        .setCookie(SESSION_COOKIE, session.id, cookieOptions)
        .header("cache-control", "no-store")
        .send({ identity });
    } catch (err) {
      return sendError(reply, err);
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
    });
  });
}
