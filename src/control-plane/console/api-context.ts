import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodType } from "zod";
import { consoleError, consoleRefusal } from "./console-error.js";
import { assertCsrfToken, assertSameOriginWrite } from "./request-guard.js";
import type { ConsoleSession, SessionStore } from "./session-store.js";
import type { Upstream, UpstreamEndpoints, UpstreamPool } from "./upstream.js";

export const SESSION_COOKIE = "__Host-atrest-console";

export interface ApiContext {
  readonly session: ConsoleSession;
  readonly upstream: Upstream;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly body: unknown;
}

export interface ApiScope {
  readonly app: FastifyInstance;
  readonly sessions: SessionStore;
  readonly endpoints: UpstreamEndpoints;
  readonly upstreams: UpstreamPool;
}

export function sessionOf(req: FastifyRequest, sessions: SessionStore): ConsoleSession | undefined {
  return sessions.get(req.cookies[SESSION_COOKIE]);
}

/** Parses a body with its schema; a bad one is refused naming the fields (never their values). */
export function parseBody<T>(schema: ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map(
    (i) => `${i.path.length === 0 ? "(body)" : i.path.join(".")}: ${i.message}`,
  );
  throw consoleRefusal("invalid-argument", "InvalidParameter", problems.join("; "));
}

export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body } = consoleError(err);
  return reply.code(status).header("cache-control", "no-store").send(body);
}

/**
 * One console API route: refused without a live session (401) or, when it changes anything, without
 * the same-origin and CSRF checks; then `handler` calls the services as the session's principal.
 */
export function apiRoute(
  scope: ApiScope,
  method: "GET" | "POST" | "DELETE",
  path: string,
  handler: (ctx: ApiContext, req: FastifyRequest) => Promise<unknown>,
): void {
  scope.app.route({
    method,
    url: `/api${path}`,
    handler: async (req, reply) => {
      try {
        const session = sessionOf(req, scope.sessions);
        if (session === undefined)
          throw consoleRefusal(
            "unauthenticated",
            "SessionExpired",
            "not signed in, or the session ended: sign in again",
          );
        assertSameOriginWrite(req);
        assertCsrfToken(req, session.csrfToken);
        const upstream = scope.upstreams.for(session.id, session.credentials);
        const result = await handler(
          {
            session,
            upstream,
            params: (req.params ?? {}) as Record<string, string>,
            query: (req.query ?? {}) as Record<string, string | undefined>,
            body: req.body,
          },
          req,
        );
        return await reply.header("cache-control", "no-store").send(result ?? {});
      } catch (err) {
        return sendError(reply, err);
      }
    },
  });
}
