import type { IncomingMessage, ServerResponse } from "node:http";
import type { UserInfo } from "../authn.js";
import { authenticate } from "./authenticate.js";
import type { HandlerContext } from "./context.js";
import { admit } from "./inflight.js";
import { handleNonResource } from "./non-resource.js";
import { Request } from "./request.js";
import { handleResource } from "./resource.js";
import { sendError } from "./respond.js";
import { groupVersionOf, pathSegments } from "./route.js";

/**
 * The HTTP surface: authentication first, then the in-flight limit (429 when full), then resources
 * under /api/v1 and /apis/<group>/<version>, or everything else; one place (respond.ts) turns errors
 * into Status responses.
 */
export function createRequestHandler(
  ctx: HandlerContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const r = new Request(req, res);
    handle(ctx, r).catch((err: unknown) => sendError(ctx, r, err, { kind: "json" }));
  };
}

async function handle(ctx: HandlerContext, r: Request): Promise<void> {
  let user: UserInfo;
  let segments: string[];
  try {
    user = authenticate(ctx, r);
    segments = pathSegments(r.path);
  } catch (err) {
    r.verb = r.method;
    return sendError(ctx, r, err, { kind: "json" });
  }
  if (!admit(ctx, r, segments, user)) return;
  const target = groupVersionOf(segments);
  if (target !== undefined) return handleResource(ctx, r, user, target.gv, target.rest);
  return handleNonResource(ctx, r, user, segments);
}
