import type { TLSSocket } from "node:tls";
import { forbiddenMessage, type RequestAttributes } from "../abac.js";
import type { UserInfo } from "../authn.js";
import { forbidden, unauthorized } from "../status.js";
import type { HandlerContext } from "./context.js";
import type { Request } from "./request.js";

/** The authentication and authorization step every request passes first. */

const PUBLIC_PATHS = new Set(["/version", "/version/", "/livez", "/readyz", "/healthz"]);
const ANONYMOUS: UserInfo = { name: "system:anonymous", uid: "", groups: ["system:unauthenticated"] };

/** Paths anyone may read (version and health), as kube's system:public-info-viewer allows. */
export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.has(path) || /^\/(livez|readyz|healthz)\//.test(path);
}

/** The user behind the bearer token or client certificate; anonymous on public paths; 401 otherwise. */
export function authenticate(ctx: HandlerContext, r: Request): UserInfo {
  if (ctx.authenticator === undefined)
    return { name: "system:admin", uid: "", groups: ["system:masters", "system:authenticated"] };
  const user = ctx.authenticator.authenticate(r.req.headers.authorization, r.req.socket as TLSSocket);
  if (user === undefined) {
    if (isPublicPath(r.path)) return ANONYMOUS;
    throw unauthorized();
  }
  return user;
}

/** 403 with kube's message unless the authorizer allows the request. */
export function authorize(ctx: HandlerContext, attrs: RequestAttributes): void {
  const decision = ctx.authorizer.authorize(attrs);
  if (!decision.allowed) {
    const details = attrs.isResourceRequest
      ? { ...(attrs.name !== "" ? { name: attrs.name } : {}), kind: attrs.resource }
      : undefined;
    throw forbidden(forbiddenMessage(attrs, decision.reason), details);
  }
}
