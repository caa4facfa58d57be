import type { TLSSocket } from "node:tls";
import type { UserInfo } from "../authn.js";
import { forbiddenMessage, type Attributes } from "../authz/index.js";
import { forbidden, unauthorized } from "../status.js";
import type { HandlerContext } from "./context.js";
import type { Request } from "./request.js";

/**
 * The authentication, impersonation and authorization steps every request passes first, in kube's
 * order (the handler chain: authentication → impersonation → authorization).
 */

const PUBLIC_PATHS = new Set(["/version", "/version/", "/livez", "/readyz", "/healthz"]);
const ANONYMOUS: UserInfo = { name: "system:anonymous", uid: "", groups: ["system:unauthenticated"] };

/** Paths anyone may read (version and health), as kube's system:public-info-viewer allows. */
export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.has(path) || /^\/(livez|readyz|healthz)\//.test(path);
}

/**
 * The user the request acts as: the one behind the bearer token or client certificate (anonymous on public
 * paths; 401 otherwise), or whom it impersonates, if it may (403 otherwise).
 */
export function authenticate(ctx: HandlerContext, r: Request): UserInfo {
  let user: UserInfo;
  if (ctx.authenticator === undefined)
    user = { name: "system:admin", uid: "", groups: ["system:masters", "system:authenticated"] };
  else {
    const found = ctx.authenticator.authenticate(r.req.headers.authorization, r.req.socket as TLSSocket);
    if (found === undefined) {
      if (isPublicPath(r.path)) return ANONYMOUS;
      throw unauthorized();
    }
    user = found;
  }
  return ctx.authz.actingUser(r.req.headersDistinct, user);
}

/** 403 with kube's message unless the authorizer allows the request. */
export function authorize(ctx: HandlerContext, attrs: Attributes): void {
  const decision = ctx.authz.authorizer.authorize(attrs);
  if (decision.decision === "Allow") return;
  const details = attrs.isResourceRequest
    ? {
        ...(attrs.name !== "" ? { name: attrs.name } : {}),
        ...(attrs.apiGroup !== "" ? { group: attrs.apiGroup } : {}),
        kind: attrs.resource,
      }
    : undefined;
  throw forbidden(forbiddenMessage(attrs, decision.reason), details);
}
