import type { FastifyRequest } from "fastify";
import { timingSafeEqual } from "node:crypto";
import { consoleRefusal } from "./console-error.js";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const CSRF_HEADER = "x-csrf-token";

/** The origin the browser shows for this server, from the Host header the browser sent. */
function ownOrigin(req: FastifyRequest): string | undefined {
  const host = req.headers.host;
  return host === undefined ? undefined : `https://${host}`;
}

/**
 * Cross-site request forgery, refused three ways (any one suffices in today's browsers; together
 * they cover older ones and misconfigured proxies):
 *  - the session cookie is SameSite=Strict, so a cross-site request carries no session;
 *  - a state-changing request must come from this origin: `Sec-Fetch-Site: same-origin` when the
 *    browser sends it, and an `Origin` equal to ours (a request with neither is refused);
 *  - it must carry the session's CSRF token in X-CSRF-Token, which only a page of this origin can read
 *    (from GET /console/api/session), and a JSON body, which an HTML form cannot send.
 * Sign-in has no session yet, so it gets the origin checks only.
 */
export function assertSameOriginWrite(req: FastifyRequest): void {
  if (!UNSAFE.has(req.method)) return;
  const site = req.headers["sec-fetch-site"];
  const origin = req.headers.origin;
  if (site !== undefined && site !== "same-origin")
    throw consoleRefusal("permission-denied", "Forbidden.CrossSite", "cross-site requests are refused");
  if (origin === undefined ? site === undefined : origin !== ownOrigin(req))
    throw consoleRefusal("permission-denied", "Forbidden.CrossSite", "cross-site requests are refused");
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/json\b/i.test(type))
    throw consoleRefusal("invalid-argument", "InvalidContentType", "the console API takes JSON bodies");
}

export function assertCsrfToken(req: FastifyRequest, expected: string): void {
  if (!UNSAFE.has(req.method)) return;
  const got = req.headers[CSRF_HEADER];
  const a = Buffer.from(typeof got === "string" ? got : "", "utf8");
  const b = Buffer.from(expected, "utf8");
  if (a.length !== b.length || !timingSafeEqual(a, b))
    throw consoleRefusal(
      "permission-denied",
      "Forbidden.CsrfToken",
      "the request lacks this session's CSRF token: reload the page",
    );
}
