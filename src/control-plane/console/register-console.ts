import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import type { FastifyInstance } from "fastify";
import type { ApiScope } from "./api-context.js";
import { registerAuthRoutes } from "./auth-routes.js";
import { registerEventRoutes } from "./events-routes.js";
import { registerKmsRoutes } from "./kms-routes.js";
import { registerPages } from "./pages.js";
import { registerRamRoutes } from "./ram-routes.js";
import { SessionStore, type SessionStoreOptions } from "./session-store.js";
import type { UpstreamEndpoints } from "./upstream.js";

/** Where `npm run console:build` (scripts/build-console.mjs) writes the built console. */
export const DEFAULT_CONSOLE_ASSETS_DIR = fileURLToPath(new URL("../../../dist-console/", import.meta.url));
export const CONSOLE_PREFIX = "/console";

export interface ConsoleDeps extends UpstreamEndpoints {
  /** The built console (index.html, signin.html, assets/); default DEFAULT_CONSOLE_ASSETS_DIR. */
  readonly assetsDir?: string;
  readonly sessions?: SessionStoreOptions;
  /**
   * Secure cookies (default true). The session cookie is `__Host-` prefixed, which browsers accept
   * only with Secure over HTTPS: serve the console over HTTPS.
   */
  readonly secureCookies?: boolean;
}

export interface RegisteredConsole {
  readonly sessions: SessionStore;
  readonly prefix: string;
}

/**
 * Mounts the web console under /console on a fastify app (the control plane's server): the built
 * pages and assets, sign-in and sessions, and a JSON API that calls the services as the signed-in
 * principal.
 */
export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<RegisteredConsole> {
  const sessions = new SessionStore(deps.sessions);
  await app.register(
    async (scope) => {
      if (!scope.hasRequestDecorator("cookies")) await scope.register(fastifyCookie);
      const api: ApiScope = { app: scope, sessions, endpoints: deps };
      registerAuthRoutes(api, { secure: deps.secureCookies ?? true });
      registerKmsRoutes(api);
      registerEventRoutes(api);
      registerRamRoutes(api);
      await registerPages(scope, {
        dir: deps.assetsDir ?? DEFAULT_CONSOLE_ASSETS_DIR,
        sessions,
        prefix: CONSOLE_PREFIX,
      });
    },
    { prefix: CONSOLE_PREFIX },
  );
  return { sessions, prefix: CONSOLE_PREFIX };
}
