import type { UserInfo } from "../authn.js";
import { negotiate, type ResponseFormat } from "../media.js";
import { authorize } from "./authenticate.js";
import type { GroupVersion } from "../resources.js";
import type { HandlerContext } from "./context.js";
import type { Request } from "./request.js";
import { methodNotAllowed } from "../status.js";
import { sendError } from "./respond.js";
import { serveVerb } from "./resource-verbs.js";
import { boolParam, nameFromFieldSelector } from "./query.js";
import { metricsVerbOf, pageNotFound, parseRoute, verbOf } from "./route.js";

/** A request for a resource: route, verb, authorization, content negotiation, then the verb's handler. */
export async function handleResource(
  ctx: HandlerContext,
  r: Request,
  user: UserInfo,
  gv: GroupVersion,
  segments: string[],
): Promise<void> {
  const method = r.method;
  // kube's RequestInfo: `/watch/` after the group version (deprecated, still served) makes any request a
  // watch, of a collection or of one named object.
  const watchPath = segments[0] === "watch";
  const route = parseRoute(gv, watchPath ? segments.slice(1) : segments);
  let format: ResponseFormat = { kind: "json" };
  try {
    if (route === undefined) {
      r.verb = method;
      throw pageNotFound();
    }
    const { info, namespace, name } = route;
    r.resource = info.resource;
    r.verb = method; // what a 405 is counted as
    // kube's RequestInfo: a GET of a collection is a watch when `watch` converts to true; a named GET is a get.
    const isWatch =
      method === "GET" && (watchPath || (name === undefined && boolParam(r.query, "watch") === true));
    if (watchPath && !isWatch)
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    const verb = verbOf(method, name, isWatch);
    if (!info.verbs.includes(verb))
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    r.verb = metricsVerbOf(verb);
    authorize(ctx, {
      user,
      verb,
      isResourceRequest: true,
      path: r.path,
      // kube's request info: /api/v1/namespaces/{name} is "in" the namespace it names.
      namespace: info.namespaced ? (namespace ?? "") : info.kind === "Namespace" ? (name ?? "") : "",
      resource: info.resource,
      subresource: "",
      apiGroup: info.group,
      apiVersion: info.version,
      name: name ?? (verb === "list" || verb === "watch" ? (nameFromFieldSelector(r.query) ?? "") : ""),
    });
    format = negotiate(r.req.headers.accept, {
      tableAllowed: verb === "get" || verb === "list" || verb === "watch",
      protobufAllowed: !isWatch,
    });
    await serveVerb(ctx, r, user, verb, route, format);
  } catch (err) {
    sendError(ctx, r, err, format);
  }
}
