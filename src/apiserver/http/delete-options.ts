import type { DeleteOptions } from "../registry/index.js";
import { badRequest } from "../status.js";
import { isPlainObject } from "../../kube-object/types.js";
import type { HandlerContext } from "./context.js";
import { readBody, type Request } from "./request.js";
import { isDryRun } from "./query.js";

/** A DELETE's DeleteOptions body (dryRun, preconditions) joined with its `?dryRun=`. */
export async function deleteOptionsOf(ctx: HandlerContext, r: Request): Promise<DeleteOptions> {
  const body = await readBody(ctx, r);
  if (body.length === 0) return { dryRun: isDryRun(r.query) };
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw badRequest('DeleteOptions in version "v1" cannot be handled as a DeleteOptions: invalid JSON');
  }
  if (!isPlainObject(doc)) throw badRequest("DeleteOptions must be an object");
  const dryRun = isDryRun(r.query) || (Array.isArray(doc.dryRun) && doc.dryRun.includes("All"));
  if (!isPlainObject(doc.preconditions)) return { dryRun };
  const p: { uid?: string; resourceVersion?: string } = {};
  if (typeof doc.preconditions.uid === "string") p.uid = doc.preconditions.uid;
  if (typeof doc.preconditions.resourceVersion === "string")
    p.resourceVersion = doc.preconditions.resourceVersion;
  return { dryRun, preconditions: p };
}
