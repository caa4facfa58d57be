import type { UserInfo } from "../authn.js";
import {
  aggregatedDiscovery,
  aggregatedDiscoveryType,
  apiGroupDocument,
  apiGroupList,
  apiResourceList,
  apiVersions,
  versionInfo,
} from "../discovery.js";
import { groupVersion } from "../resources.js";
import { runHealth } from "../health.js";
import type { OpenApiDocument } from "../openapi.js";
import { OPENAPI_V2_PROTOBUF, OPENAPI_V2_PROTOBUF_RESPONSE } from "../openapi-v2.js";
import { methodNotAllowed } from "../status.js";
import { authorize, isPublicPath } from "./authenticate.js";
import type { HandlerContext } from "./context.js";
import type { Request } from "./request.js";
import { send } from "./respond.js";
import { pageNotFound } from "./route.js";

/** Everything that is not a resource: version, health, discovery, OpenAPI, metrics. */
export async function handleNonResource(
  ctx: HandlerContext,
  r: Request,
  user: UserInfo,
  segments: readonly string[],
): Promise<void> {
  const method = r.method;
  r.verb = method;
  const path = r.path.length > 1 && r.path.endsWith("/") ? r.path.slice(0, -1) : r.path;
  if (!isPublicPath(r.path))
    // kube authorizes a non-resource request by its path as sent and its method, lowercased.
    authorize(ctx, {
      user,
      verb: method.toLowerCase(),
      isResourceRequest: false,
      path: r.path,
      namespace: "",
      resource: "",
      subresource: "",
      apiGroup: "",
      apiVersion: "",
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
    case "/openapi/v3":
      return send(ctx, r, 200, "application/json", ctx.openapi.index);
    case "/openapi/v2": {
      const accept = r.req.headers.accept ?? "";
      if (accept.includes(OPENAPI_V2_PROTOBUF) || accept.includes(OPENAPI_V2_PROTOBUF_RESPONSE)) {
        return send(ctx, r, 200, OPENAPI_V2_PROTOBUF_RESPONSE, ctx.openapi.v2Protobuf);
      }
      return send(ctx, r, 200, "application/json", ctx.openapi.v2Json);
    }
    case "/metrics":
      return send(ctx, r, 200, ctx.metrics.registry.contentType, await ctx.metrics.registry.metrics());
  }
  const found = discoveryOrOpenApi(ctx, segments);
  if (found === undefined) throw pageNotFound();
  if (found.kind === "json") return json(found.doc);
  return send(
    ctx,
    r,
    200,
    "application/json",
    found.doc.body,
    r.query.has("hash") ? { "Cache-Control": "public, immutable", Etag: `"${found.doc.hash}"` } : {},
  );
}

/** `/api/v1`, `/apis/<group>[/<version>]` and `/openapi/v3/api[s]/…` for the served group versions. */
function discoveryOrOpenApi(
  ctx: HandlerContext,
  segments: readonly string[],
): { kind: "json"; doc: Record<string, unknown> } | { kind: "openapi"; doc: OpenApiDocument } | undefined {
  if (segments[0] === "openapi" && segments[1] === "v3") {
    const doc = ctx.openapi.groupVersions.get(segments.slice(2).join("/"));
    return doc === undefined ? undefined : { kind: "openapi", doc };
  }
  if (segments[0] === "api" && segments.length === 2) {
    const gv = groupVersion("", segments[1] ?? "");
    return gv === undefined ? undefined : { kind: "json", doc: apiResourceList(gv) };
  }
  if (segments[0] === "apis" && segments.length === 2) {
    const doc = apiGroupDocument(segments[1] ?? "");
    return doc === undefined ? undefined : { kind: "json", doc };
  }
  if (segments[0] === "apis" && segments.length === 3) {
    const gv = groupVersion(segments[1] ?? "", segments[2] ?? "");
    return gv === undefined || gv.group === "" ? undefined : { kind: "json", doc: apiResourceList(gv) };
  }
  return undefined;
}
