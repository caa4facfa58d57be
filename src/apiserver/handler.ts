import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Logger } from "../common/logger.js";
import type { Clock } from "../common/clock.js";
import { AtrestError, isAtrestError } from "../common/errors.js";
import { forbiddenMessage, type Authorizer, type RequestAttributes } from "./abac.js";
import type { Authenticator, UserInfo } from "./authn.js";
import {
  aggregatedDiscovery,
  aggregatedDiscoveryType,
  apiGroupList,
  apiVersions,
  coreResourceList,
  versionInfo,
} from "./discovery.js";
import { runHealth, type HealthCheck } from "./health.js";
import {
  checkPatchedObject,
  decodeBody,
  encodeResponse,
  negotiate,
  parseFieldValidation,
  type ResponseFormat,
} from "./media.js";
import type { ApiMetrics } from "./metrics.js";
import type { OpenApiDocuments } from "./openapi.js";
import { OPENAPI_V2_PROTOBUF, OPENAPI_V2_PROTOBUF_RESPONSE } from "./openapi-v2.js";
import { applyPatch, patchTypeOf } from "./patch.js";
import type { Registry, WatchEventType, WatchHandle } from "./registry/index.js";
import { resourceByName, type ResourceInfo } from "./resources.js";
import {
  badRequest,
  entityTooLarge,
  forbidden,
  methodNotAllowed,
  statusFromError,
  successStatus,
  unauthorized,
  unsupportedMediaType,
  type Status,
} from "./status.js";
import { toTable, type IncludeObject } from "./table.js";
import { isPlainObject, metaOf, type KubeObject } from "./types.js";

/** The HTTP surface: authentication, authorization, routing, content negotiation, one place for errors. */

export const MAX_BODY_BYTES = 3 * 1024 * 1024; // kube-apiserver's request body limit (3 MiB)

export interface HandlerContext {
  readonly registry: Registry;
  readonly authenticator: Authenticator | undefined;
  readonly authorizer: Authorizer;
  readonly openapi: OpenApiDocuments;
  readonly metrics: ApiMetrics;
  readonly healthChecks: readonly HealthCheck[];
  readonly logger: Logger;
  readonly clock: Clock;
  /** host:port as clients reach it (for /api's serverAddressByClientCIDRs). */
  serverAddress: string;
  readonly maxBodyBytes: number;
  readonly watchTimeoutMs: number;
  /** How often a watch that allows bookmarks gets one (kube: about a minute); 0 disables. */
  readonly watchBookmarkIntervalMs: number;
  /** Open watch responses, ended on shutdown. */
  readonly openWatches: Set<() => void>;
}

interface Route {
  readonly info: ResourceInfo;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

const PUBLIC_PATHS = new Set(["/version", "/version/", "/livez", "/readyz", "/healthz"]);
const ANONYMOUS: UserInfo = { name: "system:anonymous", uid: "", groups: ["system:unauthenticated"] };

class Request {
  verb = "GET";
  resource = "";
  code = 200;
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly path: string,
    readonly query: URLSearchParams,
    readonly started: bigint,
  ) {}
}

function splitUrl(url: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf("?");
  return q < 0
    ? { path: url, query: new URLSearchParams() }
    : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

export function createRequestHandler(
  ctx: HandlerContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const { path, query } = splitUrl(req.url ?? "/");
    const r = new Request(req, res, path, query, process.hrtime.bigint());
    handle(ctx, r).catch((err: unknown) => sendError(ctx, r, err, { kind: "json" }));
  };
}

function finish(ctx: HandlerContext, r: Request): void {
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

function send(
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

function sendObject(
  ctx: HandlerContext,
  r: Request,
  code: number,
  obj: KubeObject,
  format: ResponseFormat,
  warnings: readonly string[] = [],
): void {
  const encoded = encodeResponse(obj, format);
  const headers: Record<string, string | string[]> = {};
  if (warnings.length > 0) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  send(ctx, r, code, encoded.contentType, encoded.body, headers);
}

function sendError(ctx: HandlerContext, r: Request, err: unknown, format: ResponseFormat): void {
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

async function readBody(ctx: HandlerContext, r: Request): Promise<Buffer> {
  const declared = Number(r.req.headers["content-length"] ?? "0");
  if (declared > ctx.maxBodyBytes) {
    r.req.resume();
    throw entityTooLarge(ctx.maxBodyBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of r.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > ctx.maxBodyBytes) {
      r.req.resume();
      throw entityTooLarge(ctx.maxBodyBytes);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

function authenticate(ctx: HandlerContext, r: Request): UserInfo {
  if (ctx.authenticator === undefined)
    return { name: "system:admin", uid: "", groups: ["system:masters", "system:authenticated"] };
  const user = ctx.authenticator.authenticate(r.req.headers.authorization, r.req.socket as TLSSocket);
  if (user === undefined) {
    if (
      PUBLIC_PATHS.has(r.path) ||
      r.path.startsWith("/livez/") ||
      r.path.startsWith("/readyz/") ||
      r.path.startsWith("/healthz/")
    )
      return ANONYMOUS;
    throw unauthorized();
  }
  return user;
}

function authorize(ctx: HandlerContext, attrs: RequestAttributes): void {
  const decision = ctx.authorizer.authorize(attrs);
  if (!decision.allowed) {
    const details = attrs.isResourceRequest
      ? { ...(attrs.name !== "" ? { name: attrs.name } : {}), kind: attrs.resource }
      : undefined;
    throw forbidden(forbiddenMessage(attrs, decision.reason), details);
  }
}

async function handle(ctx: HandlerContext, r: Request): Promise<void> {
  let user: UserInfo;
  try {
    user = authenticate(ctx, r);
  } catch (err) {
    r.verb = r.req.method ?? "GET";
    return sendError(ctx, r, err, { kind: "json" });
  }
  let segments: string[];
  try {
    segments = r.path
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s));
  } catch {
    r.verb = r.req.method ?? "GET";
    return sendError(ctx, r, badRequest("the request path is not valid percent-encoding"), { kind: "json" });
  }
  if (segments[0] === "api" && segments[1] === "v1" && segments.length > 2)
    return handleResource(ctx, r, user, segments.slice(2));
  return handleNonResource(ctx, r, user);
}

async function handleNonResource(ctx: HandlerContext, r: Request, user: UserInfo): Promise<void> {
  const method = r.req.method ?? "GET";
  r.verb = method;
  const verb = method === "GET" || method === "HEAD" ? "get" : method.toLowerCase();
  const path = r.path.length > 1 && r.path.endsWith("/") ? r.path.slice(0, -1) : r.path;
  const isPublic = PUBLIC_PATHS.has(path) || /^\/(livez|readyz|healthz)\//.test(path);
  if (!isPublic)
    authorize(ctx, {
      user,
      verb,
      isResourceRequest: false,
      path,
      namespace: "",
      resource: "",
      apiGroup: "",
      name: "",
    });
  const json = (obj: unknown): void => send(ctx, r, 200, "application/json", JSON.stringify(obj));
  if (method !== "GET" && method !== "HEAD")
    throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  const health = /^\/(livez|readyz|healthz)(?:\/(.+))?$/.exec(path);
  if (health) {
    const endpoint = health[1] as "livez" | "readyz" | "healthz";
    const result = await runHealth(endpoint, ctx.healthChecks, {
      ...(health[2] !== undefined ? { only: health[2] } : {}),
      verbose: r.query.has("verbose"),
      exclude: r.query.getAll("exclude"),
    });
    return send(ctx, r, result.status, "text/plain; charset=utf-8", result.body, {
      "X-Content-Type-Options": "nosniff",
    });
  }
  switch (path) {
    case "/version":
      return json(versionInfo());
    case "/api":
    case "/apis": {
      const aggregated = aggregatedDiscoveryType(r.req.headers.accept);
      if (aggregated !== undefined) {
        const doc = aggregatedDiscovery(aggregated.version, path === "/api");
        return send(ctx, r, 200, aggregated.contentType, JSON.stringify(doc), { Vary: "Accept" });
      }
      return json(path === "/api" ? apiVersions(ctx.serverAddress) : apiGroupList());
    }
    case "/api/v1":
      return json(coreResourceList());
    case "/openapi/v3":
      return send(ctx, r, 200, "application/json", ctx.openapi.index);
    case "/openapi/v3/api/v1":
      return send(
        ctx,
        r,
        200,
        "application/json",
        ctx.openapi.coreV1,
        r.query.has("hash")
          ? { "Cache-Control": "public, immutable", Etag: `"${ctx.openapi.coreV1Hash}"` }
          : {},
      );
    case "/openapi/v2": {
      const accept = r.req.headers.accept ?? "";
      if (accept.includes(OPENAPI_V2_PROTOBUF) || accept.includes(OPENAPI_V2_PROTOBUF_RESPONSE)) {
        return send(ctx, r, 200, OPENAPI_V2_PROTOBUF_RESPONSE, ctx.openapi.v2Protobuf);
      }
      return send(ctx, r, 200, "application/json", ctx.openapi.v2Json);
    }
    case "/metrics":
      return send(ctx, r, 200, ctx.metrics.registry.contentType, await ctx.metrics.registry.metrics());
    default:
      throw pageNotFound();
  }
}

function pageNotFound(): Error {
  return new AtrestError("not-found", "the server could not find the requested resource", {
    details: { status: {} },
  });
}

/** kube's path segment rule for names and namespaces in URLs. */
function checkPathSegment(what: string, value: string | undefined): void {
  if (value === undefined) return;
  if (value === "." || value === "..") throw badRequest(`${what} may not be '${value}'`);
  for (const bad of ["/", "%"]) if (value.includes(bad)) throw badRequest(`${what} may not contain '${bad}'`);
}

function parseRoute(segments: string[]): Route | undefined {
  const route = matchRoute(segments);
  if (route !== undefined) {
    checkPathSegment("namespace", route.namespace);
    checkPathSegment("name", route.name);
  }
  return route;
}

function matchRoute(segments: string[]): Route | undefined {
  // namespaces/{ns}/{resource}[/{name}] | {resource}[/{name}]
  if (segments[0] === "namespaces" && segments.length >= 3) {
    const info = resourceByName(segments[2] ?? "");
    if (info === undefined || !info.namespaced || segments.length > 4) return undefined;
    return { info, namespace: segments[1], name: segments[3] };
  }
  const info = resourceByName(segments[0] ?? "");
  if (info === undefined || segments.length > 2) return undefined;
  if (info.namespaced && segments.length === 2) return undefined;
  return { info, namespace: undefined, name: segments[1] };
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid ${name} "${v}": must be an integer`);
  return Number(v);
}

function isDryRun(query: URLSearchParams): boolean {
  const values = query.getAll("dryRun");
  for (const v of values)
    if (v !== "All") throw badRequest(`Invalid dryRun value: ${v}, valid values are: All`);
  return values.length > 0;
}

async function handleResource(
  ctx: HandlerContext,
  r: Request,
  user: UserInfo,
  segments: string[],
): Promise<void> {
  const method = r.req.method ?? "GET";
  const route = parseRoute(segments);
  let format: ResponseFormat = { kind: "json" };
  try {
    if (route === undefined) {
      r.verb = method;
      throw pageNotFound();
    }
    const { info, namespace, name } = route;
    r.resource = info.resource;
    const isWatch = method === "GET" && (r.query.get("watch") === "true" || r.query.get("watch") === "1");
    let verb: string;
    if (method === "GET") verb = isWatch ? "watch" : name === undefined ? "list" : "get";
    else if (method === "POST" && name === undefined) verb = "create";
    else if (method === "PUT" && name !== undefined) verb = "update";
    else if (method === "PATCH" && name !== undefined) verb = "patch";
    else if (method === "DELETE") verb = name === undefined ? "deletecollection" : "delete";
    else {
      r.verb = method;
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
    r.verb = verb === "create" ? "POST" : verb === "update" ? "PUT" : verb.toUpperCase();
    authorize(ctx, {
      user,
      verb,
      isResourceRequest: true,
      path: r.path,
      // kube's request info: /api/v1/namespaces/{name} is "in" the namespace it names.
      namespace: info.namespaced ? (namespace ?? "") : info.kind === "Namespace" ? (name ?? "") : "",
      resource: info.resource,
      apiGroup: "",
      name: name ?? "",
    });
    format = negotiate(r.req.headers.accept, {
      tableAllowed: verb === "get" || verb === "list" || verb === "watch",
      protobufAllowed: !isWatch,
    });
    const q = r.query;
    switch (verb) {
      case "get": {
        const obj = await ctx.registry.get(info, namespace, name ?? "");
        return sendObject(
          ctx,
          r,
          200,
          format.kind === "table"
            ? tableOf(ctx, info, [obj], { resourceVersion: metaOf(obj).resourceVersion ?? "" }, q)
            : obj,
          format,
        );
      }
      case "list": {
        const limit = intParam(q, "limit");
        const page = await ctx.registry.list(info, namespace, {
          ...(limit !== undefined ? { limit } : {}),
          ...(q.get("continue") !== null ? { continueToken: q.get("continue") ?? "" } : {}),
          ...(q.get("resourceVersion") !== null ? { resourceVersion: q.get("resourceVersion") ?? "" } : {}),
          ...(q.get("resourceVersionMatch") !== null
            ? { resourceVersionMatch: q.get("resourceVersionMatch") ?? "" }
            : {}),
          ...(q.get("labelSelector") !== null ? { labelSelector: q.get("labelSelector") ?? "" } : {}),
          ...(q.get("fieldSelector") !== null ? { fieldSelector: q.get("fieldSelector") ?? "" } : {}),
        });
        const listMeta: Record<string, unknown> = { resourceVersion: page.resourceVersion };
        if (page.continueToken !== undefined) listMeta.continue = page.continueToken;
        if (format.kind === "table")
          return sendObject(ctx, r, 200, tableOf(ctx, info, page.items, listMeta, q), format);
        const items = format.kind === "protobuf" ? page.items : page.items.map(stripTypeMeta);
        return sendObject(
          ctx,
          r,
          200,
          { kind: info.listKind, apiVersion: "v1", metadata: listMeta, items },
          format,
        );
      }
      case "watch":
        return await serveWatch(ctx, r, info, namespace, name, format);
      case "create": {
        const body = await readBody(ctx, r);
        const decoded = decodeBody(
          r.req.headers["content-type"],
          body,
          info.kind,
          parseFieldValidation(q.get("fieldValidation")),
        );
        const created = await ctx.registry.create(info, namespace, decoded.object, { dryRun: isDryRun(q) });
        return sendObject(ctx, r, 201, created, format, decoded.warnings);
      }
      case "update": {
        const body = await readBody(ctx, r);
        const decoded = decodeBody(
          r.req.headers["content-type"],
          body,
          info.kind,
          parseFieldValidation(q.get("fieldValidation")),
        );
        const updated = await ctx.registry.update(info, namespace, name ?? "", decoded.object, {
          dryRun: isDryRun(q),
        });
        return sendObject(ctx, r, 200, updated, format, decoded.warnings);
      }
      case "patch": {
        const contentType = r.req.headers["content-type"] ?? "";
        if (contentType.startsWith("application/apply-patch")) {
          throw unsupportedMediaType(
            `the server does not support server-side apply (${contentType.split(";")[0] ?? ""}); use client-side apply`,
          );
        }
        const patchType = patchTypeOf(contentType);
        const body = await readBody(ctx, r);
        const validation = parseFieldValidation(q.get("fieldValidation"));
        const warnings: string[] = [];
        const patched = await ctx.registry.patch(
          info,
          namespace,
          name ?? "",
          { dryRun: isDryRun(q) },
          (current) => {
            const rvBefore = metaOf(current).resourceVersion;
            const out = applyPatch(patchType, info.kind, current, body);
            const checked = checkPatchedObject(info.kind, out, validation);
            warnings.splice(0, warnings.length, ...checked.warnings);
            // An unchanged resourceVersion is not a precondition; a patched one is.
            if (
              isPlainObject(checked.object.metadata) &&
              checked.object.metadata.resourceVersion === rvBefore
            )
              delete checked.object.metadata.resourceVersion;
            return checked.object;
          },
        );
        return sendObject(ctx, r, 200, patched, format, warnings);
      }
      case "delete": {
        const opts = await deleteOptions(ctx, r);
        const deleted = await ctx.registry.delete(info, namespace, name ?? "", {
          dryRun: isDryRun(q) || opts.dryRun,
          ...(opts.preconditions !== undefined ? { preconditions: opts.preconditions } : {}),
        });
        const meta = metaOf(deleted);
        return sendObject(
          ctx,
          r,
          200,
          successStatus({
            name: meta.name ?? "",
            kind: info.resource,
            ...(meta.uid !== undefined ? { uid: meta.uid } : {}),
          }) as unknown as KubeObject,
          format,
        );
      }
      case "deletecollection": {
        const opts = await deleteOptions(ctx, r);
        const page = await ctx.registry.deleteCollection(
          info,
          namespace,
          {
            ...(q.get("labelSelector") !== null ? { labelSelector: q.get("labelSelector") ?? "" } : {}),
            ...(q.get("fieldSelector") !== null ? { fieldSelector: q.get("fieldSelector") ?? "" } : {}),
          },
          { dryRun: isDryRun(q) || opts.dryRun },
        );
        return sendObject(
          ctx,
          r,
          200,
          {
            kind: info.listKind,
            apiVersion: "v1",
            metadata: { resourceVersion: page.resourceVersion },
            items: page.items.map(stripTypeMeta),
          },
          format,
        );
      }
    }
  } catch (err) {
    return sendError(ctx, r, err, format);
  }
}

function stripTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

function tableOf(
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

async function deleteOptions(
  ctx: HandlerContext,
  r: Request,
): Promise<{ dryRun: boolean; preconditions?: { uid?: string; resourceVersion?: string } }> {
  const body = await readBody(ctx, r);
  if (body.length === 0) return { dryRun: false };
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw badRequest('DeleteOptions in version "v1" cannot be handled as a DeleteOptions: invalid JSON');
  }
  if (!isPlainObject(doc)) throw badRequest("DeleteOptions must be an object");
  const out: { dryRun: boolean; preconditions?: { uid?: string; resourceVersion?: string } } = {
    dryRun: Array.isArray(doc.dryRun) && doc.dryRun.includes("All"),
  };
  if (isPlainObject(doc.preconditions)) {
    const p: { uid?: string; resourceVersion?: string } = {};
    if (typeof doc.preconditions.uid === "string") p.uid = doc.preconditions.uid;
    if (typeof doc.preconditions.resourceVersion === "string")
      p.resourceVersion = doc.preconditions.resourceVersion;
    out.preconditions = p;
  }
  return out;
}

async function serveWatch(
  ctx: HandlerContext,
  r: Request,
  info: ResourceInfo,
  namespace: string | undefined,
  name: string | undefined,
  format: ResponseFormat,
): Promise<void> {
  const q = r.query;
  const timeoutSeconds = intParam(q, "timeoutSeconds");
  let fieldSelector = q.get("fieldSelector") ?? undefined;
  if (name !== undefined)
    fieldSelector = [fieldSelector, `metadata.name=${name}`]
      .filter((x) => x !== undefined && x !== "")
      .join(",");
  let headersSent = false;
  let first = true;
  let ended = false;
  const pending: string[] = [];
  const writeEvent = (type: string, object: unknown): void => {
    const line = JSON.stringify({ type, object }) + "\n";
    if (!headersSent) pending.push(line);
    else r.res.write(line);
  };
  const state: { watch?: WatchHandle | undefined; timer?: ReturnType<typeof setTimeout> } = {};
  const end = (): void => {
    if (ended) return;
    ended = true;
    if (state.timer !== undefined) clearTimeout(state.timer);
    ctx.openWatches.delete(end);
    void state.watch?.cancel().catch(() => undefined);
    if (headersSent) {
      if (!r.res.writableEnded) r.res.end();
      finish(ctx, r);
    }
  };
  const sink = {
    event: (type: WatchEventType, object: KubeObject): void => {
      if (ended) return;
      if (format.kind === "table") {
        writeEvent(
          type,
          tableOf(ctx, info, [object], { resourceVersion: metaOf(object).resourceVersion ?? "" }, q, !first),
        );
        first = false;
      } else writeEvent(type, object);
    },
    error: (err: Parameters<typeof statusFromError>[0]): void => {
      if (ended) return;
      writeEvent("ERROR", statusFromError(err));
      end();
    },
  };
  state.watch = await ctx.registry
    .watch(
      info,
      namespace,
      {
        ...(q.get("resourceVersion") !== null ? { resourceVersion: q.get("resourceVersion") ?? "" } : {}),
        ...(q.get("labelSelector") !== null ? { labelSelector: q.get("labelSelector") ?? "" } : {}),
        ...(fieldSelector !== undefined ? { fieldSelector } : {}),
      },
      sink,
    )
    .catch((err: unknown) => {
      // kube answers 200 and an ERROR event (410 Expired) for a compacted resourceVersion.
      if (isAtrestError(err, "gone")) {
        sink.error(err);
        return undefined;
      }
      throw err;
    });
  r.code = 200;
  r.res.writeHead(200, {
    "Content-Type": "application/json",
    "Cache-Control": "no-cache, private",
    "Transfer-Encoding": "chunked",
  });
  headersSent = true;
  r.res.flushHeaders();
  for (const line of pending.splice(0)) r.res.write(line);
  if (ended || state.watch === undefined) {
    ended = true;
    void state.watch?.cancel().catch(() => undefined);
    if (!r.res.writableEnded) r.res.end();
    finish(ctx, r);
    return;
  }
  r.res.on("close", end);
  ctx.openWatches.add(end);
  const ms = timeoutSeconds !== undefined && timeoutSeconds > 0 ? timeoutSeconds * 1000 : ctx.watchTimeoutMs;
  state.timer = setTimeout(end, ms);
  state.timer.unref();
  if (q.get("allowWatchBookmarks") === "true" && ctx.watchBookmarkIntervalMs > 0) {
    const handle = state.watch;
    let lastBookmark = -1;
    const bookmarks = setInterval(() => {
      const rv = handle.progressRevision();
      if (ended || rv === lastBookmark) return;
      lastBookmark = rv;
      // kube's BOOKMARK: only the kind and the resourceVersion everything before has been sent for.
      r.res.write(
        JSON.stringify({
          type: "BOOKMARK",
          object: { kind: info.kind, apiVersion: "v1", metadata: { resourceVersion: String(rv) } },
        }) + "\n",
      );
    }, ctx.watchBookmarkIntervalMs);
    bookmarks.unref();
    r.res.on("close", () => clearInterval(bookmarks));
  }
}
