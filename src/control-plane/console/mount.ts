import { consoleSignIn } from "../../iam/index.js";
import type { ControlPlaneMount } from "../server.js";
import type { SignInLimits } from "./signin-limiter.js";
import { CONSOLE_PREFIX, registerConsole } from "./register-console.js";
import type { UpstreamEndpoints } from "./upstream.js";

/**
 * The console as a mount of the control plane's server: its cluster pages call the server's own
 * ControlPlaneService with the Caller the identity store resolves, its KMS, RAM, STS and ActionTrail
 * pages call those endpoints signed as the user.
 */
export function consoleMount(
  endpoints: UpstreamEndpoints,
  options: { assetsDir?: string; signInLimits?: SignInLimits } = {},
): ControlPlaneMount {
  return async (app, deps) => {
    await registerConsole(app, {
      ...endpoints,
      ...(options.assetsDir === undefined ? {} : { assetsDir: options.assetsDir }),
      clusters: { service: deps.service, identity: deps.identity },
      passwords: {
        accountId: deps.accountId,
        signIn: (req) =>
          consoleSignIn(
            { identity: deps.identity, idb: deps.idb, regionId: deps.regionId, clock: deps.clock },
            req,
          ),
        endSession: (accessKeyId) => deps.identity.endUserSession(accessKeyId),
      },
      ...(options.signInLimits === undefined ? {} : { signInLimits: options.signInLimits }),
    });
  };
}

/** The console's address on a control plane listening at `controlPlaneUrl`. */
export const consoleUrlOf = (controlPlaneUrl: string): string =>
  `${controlPlaneUrl.replace(/\/$/, "")}${CONSOLE_PREFIX}/`;
