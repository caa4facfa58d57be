import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { sessionOf } from "./api-context.js";
import type { SessionStore } from "./session-store.js";

/** The pages the console's router knows (src/console/routes.ts); each needs a session. */
export const APP_PAGES = ["/", "/clusters", "/clusters/*", "/kms", "/kms/*", "/events", "/ram", "/ram/*"];

/**
 * Every HTML answer: no caching, no framing, scripts and styles from this origin only (the build puts
 * none inline), no referrer leaving the console.
 */
const HTML_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** The console's pages: the app for a session, the sign-in page without one; built assets from `dir`. */
export async function registerPages(
  app: FastifyInstance,
  options: { dir: string; sessions: SessionStore; prefix: string },
): Promise<void> {
  const { dir, sessions, prefix } = options;
  const html = (name: string): string | undefined => {
    const file = join(dir, name);
    return existsSync(file) ? readFileSync(file, "utf8") : undefined;
  };
  const notBuilt = `the console is not built (no ${dir}): run npm run console:build`;
  if (existsSync(join(dir, "assets")))
    await app.register(fastifyStatic, {
      root: join(dir, "assets"),
      prefix: "/assets/",
      decorateReply: false,
      index: false,
      // Content-hashed file names: each name always means the same bytes.
      immutable: true,
      maxAge: "365d",
    });
  else app.log.warn({ dir }, "console: not built; pages answer 503");

  for (const page of APP_PAGES)
    app.get(page, async (req, reply) => {
      if (sessionOf(req, sessions) === undefined) {
        const next = req.url.startsWith(`${prefix}/`) ? req.url : `${prefix}/`;
        return reply
          .header("cache-control", "no-store")
          .redirect(`${prefix}/signin?next=${encodeURIComponent(next)}`, 303);
      }
      const body = html("index.html");
      return body === undefined ? reply.code(503).send(notBuilt) : reply.headers(HTML_HEADERS).send(body);
    });
  app.get("/signin", async (req, reply) => {
    if (sessionOf(req, sessions) !== undefined) return reply.redirect(`${prefix}/`, 303);
    const body = html("signin.html");
    return body === undefined ? reply.code(503).send(notBuilt) : reply.headers(HTML_HEADERS).send(body);
  });
}
