import { isAtrestError } from "../../common/errors.js";
import { encodeResponse, type ResponseFormat } from "../media.js";
import type { ResourceInfo } from "../resources.js";
import { statusFromError, type Status } from "../status.js";
import { toTable, type IncludeObject } from "../table.js";
import type { KubeObject } from "../../kube-object/types.js";
import type { HandlerContext } from "./context.js";
import type { Request } from "./request.js";

/** Responses: bodies in the negotiated format, errors as Status objects, one metrics + log line each. */

/** Counts the request in the metrics and logs it at debug (never a body or a query value). */
export function finish(ctx: HandlerContext, r: Request): void {
  const seconds = Number(process.hrtime.bigint() - r.started) / 1e9;
  ctx.metrics.observe(r.verb, r.resource, r.code, seconds);
  if (ctx.logger.isLevelEnabled("debug")) {
    // Never the body or query values: names in paths are not secret, values are.
    ctx.logger.debug(
      {
        method: r.req.method,
        path: r.path,
        contentType: r.req.headers["content-type"],
        verb: r.verb,
        resource: r.resource,
        code: r.code,
        ms: Math.round(seconds * 1000),
      },
      "request",
    );
  }
}

export function send(
  ctx: HandlerContext,
  r: Request,
  code: number,
  contentType: string,
  body: Buffer | string,
  headers: Record<string, string | string[]> = {},
): void {
  r.code = code;
  if (!r.res.headersSent) {
    r.res.writeHead(code, {
      "Content-Type": contentType,
      "Cache-Control": "no-cache, private",
      "Content-Length": Buffer.byteLength(body),
      ...headers,
    });
  }
  r.res.end(body);
  finish(ctx, r);
}

export function sendObject(
  ctx: HandlerContext,
  r: Request,
  code: number,
  obj: KubeObject,
  format: ResponseFormat,
  warnings: readonly string[] = [],
): void {
  const encoded = encodeResponse(obj, format, isPrettyPrint(r));
  const headers: Record<string, string | string[]> = {};
  if (warnings.length > 0) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  send(ctx, r, code, encoded.contentType, encoded.body, headers);
}

/** Go's strconv.ParseBool. */
const GO_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);

/**
 * kube's isPrettyPrint: `?pretty=` when it parses as a Go bool, else pretty for curl, wget and browsers
 * (kube's user-agent rule), compact otherwise.
 */
export function isPrettyPrint(r: Request): boolean {
  const pretty = r.query.get("pretty");
  if (pretty !== null && pretty !== "") return GO_TRUE.has(pretty);
  const agent = r.req.headers["user-agent"] ?? "";
  return agent.startsWith("curl") || agent.startsWith("Wget") || agent.startsWith("Mozilla/5.0");
}

/** The one place an error becomes a response: a Status (JSON for tables), or a cut connection mid-body. */
export function sendError(ctx: HandlerContext, r: Request, err: unknown, format: ResponseFormat): void {
  const status: Status = statusFromError(err);
  if (status.code >= 500)
    ctx.logger.error(
      { err: isAtrestError(err) ? err.message : String(err), path: r.path, verb: r.verb },
      "request failed",
    );
  if (r.res.headersSent) {
    r.res.destroy();
    finish(ctx, r);
    return;
  }
  sendObject(
    ctx,
    r,
    status.code,
    status as unknown as KubeObject,
    format.kind === "table" ? { kind: "json" } : format,
  );
}

/** Items of a JSON list carry no apiVersion/kind of their own (kube's list encoding). */
export function stripTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

/** A meta.k8s.io/v1 Table of the objects, with `?includeObject=` honoured. */
export function tableOf(
  ctx: HandlerContext,
  info: ResourceInfo,
  items: KubeObject[],
  listMeta: Record<string, unknown>,
  q: URLSearchParams,
  noHeaders = false,
): KubeObject {
  const include = q.get("includeObject");
  const includeObject: IncludeObject = include === "None" || include === "Object" ? include : "Metadata";
  return toTable(info, items, listMeta, { includeObject, noHeaders, nowMs: ctx.clock.now() });
}
