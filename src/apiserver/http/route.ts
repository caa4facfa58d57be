import { AtrestError } from "../../common/errors.js";
import { groupVersion, type GroupVersion, type ResourceInfo } from "../resources.js";
import { badRequest, methodNotAllowed } from "../status.js";

/**
 * Resource paths under /api/v1 and /apis/<group>/<version>, and the verb a request is, as kube's
 * RequestInfo resolves them.
 */

export interface Route {
  readonly info: ResourceInfo;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

export type ResourceVerb =
  "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "deletecollection";

export function pageNotFound(): Error {
  return new AtrestError("not-found", "the server could not find the requested resource", {
    details: { status: {} },
  });
}

/** The path's segments, percent-decoded; 400 for bad percent-encoding. */
export function pathSegments(path: string): string[] {
  try {
    return path
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s));
  } catch {
    throw badRequest("the request path is not valid percent-encoding");
  }
}

/**
 * The served group version a path names and the segments after it: `/api/v1/…` or
 * `/apis/<group>/<version>/…` (undefined for anything else, or a group version not served).
 */
export function groupVersionOf(
  segments: readonly string[],
): { gv: GroupVersion; rest: string[] } | undefined {
  if (segments[0] === "api" && segments[1] === "v1" && segments.length > 2) {
    const gv = groupVersion("", "v1");
    return gv === undefined ? undefined : { gv, rest: segments.slice(2) };
  }
  if (segments[0] === "apis" && segments.length > 3) {
    const gv = groupVersion(segments[1] ?? "", segments[2] ?? "");
    return gv === undefined ? undefined : { gv, rest: segments.slice(3) };
  }
  return undefined;
}

/** `namespaces/{ns}/{resource}[/{name}]` or `{resource}[/{name}]` (the segments after the group version). */
export function parseRoute(gv: GroupVersion, segments: string[]): Route | undefined {
  const route = matchRoute(gv, segments);
  if (route !== undefined) {
    checkPathSegment("namespace", route.namespace);
    checkPathSegment("name", route.name);
  }
  return route;
}

function matchRoute(gv: GroupVersion, segments: string[]): Route | undefined {
  const resourceByName = (name: string): ResourceInfo | undefined =>
    gv.resources.find((r) => r.resource === name);
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

/** kube's path segment rule for names and namespaces in URLs. */
function checkPathSegment(what: string, value: string | undefined): void {
  if (value === undefined) return;
  if (value === "." || value === "..") throw badRequest(`${what} may not be '${value}'`);
  for (const bad of ["/", "%"]) if (value.includes(bad)) throw badRequest(`${what} may not contain '${bad}'`);
}

/** The verb of a method on a route; 405 for a method the route does not take. */
export function verbOf(method: string, name: string | undefined, isWatch: boolean): ResourceVerb {
  if (method === "GET") return isWatch ? "watch" : name === undefined ? "list" : "get";
  if (method === "POST" && name === undefined) return "create";
  if (method === "PUT" && name !== undefined) return "update";
  if (method === "PATCH" && name !== undefined) return "patch";
  if (method === "DELETE") return name === undefined ? "deletecollection" : "delete";
  throw methodNotAllowed(`the server does not allow this method on the requested resource`);
}

/** The verb as kube's request metrics label it. */
export function metricsVerbOf(verb: ResourceVerb): string {
  return verb === "create" ? "POST" : verb === "update" ? "PUT" : verb.toUpperCase();
}
