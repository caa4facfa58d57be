import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import type { FastifyInstance } from "fastify";
import type { ApiScope } from "./api-context.js";
import { registerClusterRoutes } from "./cluster-routes.js";
import type { ConsoleClusters, ConsoleIdentityResolver } from "./clusters-port.js";
import { registerAuthRoutes } from "./auth-routes.js";
import { registerEventRoutes } from "./events-routes.js";
import { registerKmsRoutes } from "./kms-routes.js";
import { registerPages } from "./pages.js";
import { registerRamRoutes } from "./ram-routes.js";
import type { ConsolePasswords } from "./passwords-port.js";
import type { SignInLimits } from "./signin-limiter.js";
import { SessionStore, type SessionStoreOptions } from "./session-store.js";
import { UpstreamPool, type UpstreamEndpoints } from "./upstream.js";

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
  /**
   * The control plane's cluster service and the identity store that resolves a session's key to its
   * Caller; without them the console has no Clusters pages (a console beside a bare KMS).
   */
  readonly clusters?: { readonly service: ConsoleClusters; readonly identity: ConsoleIdentityResolver };
  /** Console password sign-in (the identity service's); without it, access key sign-in only. */
  readonly passwords?: ConsolePasswords;
  readonly signInLimits?: SignInLimits;
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
  const passwords = deps.passwords;
  const sessions = new SessionStore({
    ...deps.sessions,
    // A password session's credential ends with the console session (idle, aged out, evicted).
    ...(passwords === undefined
      ? {}
      : {
          onEnd: (s) => {
            if (s.via === "password")
              passwords.endSession(s.credentials.accessKeyId).catch((err: unknown) => {
                app.log.warn({ err: String(err) }, "console: could not end a session's credential");
              });
          },
        }),
  });
  await app.register(
    async (scope) => {
      if (!scope.hasRequestDecorator("cookies")) await scope.register(fastifyCookie);
      const upstreams = new UpstreamPool(deps, { max: 1_000, idleMs: sessions.idleTimeoutMs });
      scope.addHook("onClose", (_instance, done) => {
        upstreams.closeAll();
        done();
      });
      const api: ApiScope = { app: scope, sessions, endpoints: deps, upstreams };
      registerAuthRoutes(api, {
        secure: deps.secureCookies ?? true,
        clusters: deps.clusters !== undefined,
        ...(passwords === undefined ? {} : { passwords }),
        ...(deps.signInLimits === undefined ? {} : { limits: deps.signInLimits }),
      });
      if (deps.clusters !== undefined)
        registerClusterRoutes(api, deps.clusters.service, deps.clusters.identity);
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
