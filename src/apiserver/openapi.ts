import { createHash } from "node:crypto";
import { openApiV2Json, openApiV2Protobuf } from "./openapi-v2.js";
import { GROUP_VERSIONS, type GroupVersion, type ResourceInfo } from "./resources.js";
import { SCHEMAS, schemaNameForKind, type FieldSchema } from "./schemas.js";

/**
 * OpenAPI v3, one document per group version (`/openapi/v3` index, `/openapi/v3/api/v1`,
 * `/openapi/v3/apis/<group>/<version>`). kubectl reads them before `create -f`, `replace` and `apply`: it
 * looks for a `fieldValidation` query parameter on each kind's PATCH operation (tagged with
 * x-kubernetes-group-version-kind) to decide that the server validates.
 */

function fieldToOpenApi(f: FieldSchema): Record<string, unknown> {
  const desc = f.d === undefined ? {} : { description: f.d };
  if ("t" in f) {
    if (f.t === "byte") return { type: "string", format: "byte", ...desc };
    if (f.t === "date-time") return { type: "string", format: "date-time", ...desc };
    if (f.t === "integer") return { type: "integer", format: "int64", ...desc };
    return { type: f.t, ...desc };
  }
  if ("map" in f) {
    return {
      type: "object",
      additionalProperties:
        f.map === "byte" ? { type: "string", format: "byte", default: "" } : { type: "string", default: "" },
      ...desc,
    };
  }
  if ("list" in f) {
    const out: Record<string, unknown> = { type: "array", items: fieldToOpenApi(f.list), ...desc };
    if (f.mergeKey !== undefined) out["x-kubernetes-patch-merge-key"] = f.mergeKey;
    if (f.strategy !== undefined) out["x-kubernetes-patch-strategy"] = f.strategy;
    if (f.listType !== undefined) out["x-kubernetes-list-type"] = f.listType;
    if (f.listType === "map" && f.mergeKey !== undefined) out["x-kubernetes-list-map-keys"] = [f.mergeKey];
    return out;
  }
  if ("ref" in f) return { allOf: [{ $ref: `#/components/schemas/${f.ref}` }], default: {}, ...desc };
  return { type: "object", ...desc };
}

function schemasDocument(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    if (name.endsWith(".Time")) {
      out[name] = { description: schema.description, type: "string", format: "date-time" };
      continue;
    }
    if (name.endsWith(".FieldsV1")) {
      out[name] = { description: schema.description, type: "object" };
      continue;
    }
    const properties: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(schema.properties)) properties[k] = fieldToOpenApi(f);
    const doc: Record<string, unknown> = { description: schema.description, type: "object", properties };
    if (schema.required !== undefined) doc.required = [...schema.required];
    if (schema.gvk !== undefined) doc["x-kubernetes-group-version-kind"] = [schema.gvk];
    if (schema.structType === "atomic") doc["x-kubernetes-map-type"] = "atomic";
    out[name] = doc;
  }
  return out;
}

const q = (name: string, description: string, type = "string"): Record<string, unknown> => ({
  name,
  in: "query",
  description,
  schema: { type, uniqueItems: true },
});
const DRY_RUN = q("dryRun", "When present, indicates that modifications should not be persisted.");
const FIELD_MANAGER = q(
  "fieldManager",
  "fieldManager is a name associated with the actor or entity that is making these changes.",
);
const FIELD_VALIDATION = q(
  "fieldValidation",
  "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
);
const PRETTY = q("pretty", "If 'true', then the output is pretty printed.");
const LIST_PARAMS = [
  q("allowWatchBookmarks", 'allowWatchBookmarks requests watch events with type "BOOKMARK".', "boolean"),
  q("continue", "The continue option should be set when retrieving more results from the server."),
  q("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
  q("labelSelector", "A selector to restrict the list of returned objects by their labels."),
  q("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
  q(
    "resourceVersion",
    "resourceVersion sets a constraint on what resource versions a request may be served from.",
  ),
  q("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
  q(
    "watch",
    "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
    "boolean",
  ),
];

function ref(kind: string, apiVersion: string): Record<string, unknown> {
  const schema = { $ref: `#/components/schemas/${schemaNameForKind(kind, apiVersion)}` };

  return {
    content: {
      "application/json": { schema },
      "application/yaml": { schema },
      "application/vnd.kubernetes.protobuf": { schema },
    },
  };
}

/** kube's operation id stem of a group version: `CoreV1`, `RbacAuthorizationV1`, `AuthorizationV1`. */
function groupWords(group: string): string[] {
  return group === "" ? ["core"] : group.replace(/\.k8s\.io$/, "").split(/[.-]/);
}

const capital = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1);

function groupStem(gv: { group: string; version: string }): string {
  return groupWords(gv.group).map(capital).join("") + capital(gv.version);
}

/** kube's tag of a group version: `core_v1`, `rbacAuthorization_v1`. */
function tagOf(gv: { group: string; version: string }): string {
  const [first = "", ...rest] = groupWords(gv.group);
  return `${first}${rest.map(capital).join("")}_${gv.version}`;
}

function op(
  info: ResourceInfo,
  verb: string,
  action: string,
  id: string,
  params: Record<string, unknown>[],
  body?: string,
  responseKind?: string,
): Record<string, unknown> {
  const kind = info.kind;
  const o: Record<string, unknown> = {
    tags: [tagOf(info)],
    description: `${verb} ${kind}`,
    operationId: id,
    parameters: params,
    responses: {
      "200": { description: "OK", ...ref(responseKind ?? kind, info.apiVersion) },
      "401": { description: "Unauthorized" },
    },
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": { group: info.group, version: info.version, kind },
  };
  if (body !== undefined) {
    const schema = { $ref: `#/components/schemas/${schemaNameForKind(body, info.apiVersion)}` };
    o.requestBody = {
      content:
        body === "Patch"
          ? {
              "application/json-patch+json": { schema: { type: "object" } },
              "application/merge-patch+json": { schema: { type: "object" } },
              "application/strategic-merge-patch+json": { schema: { type: "object" } },
            }
          : { "*/*": { schema } },
      required: true,
    };
  }
  return o;
}

function pathParam(name: string): Record<string, unknown> {
  return {
    name,
    in: "path",
    required: true,
    description: `${name} of the resource`,
    schema: { type: "string", uniqueItems: true },
  };
}

function pathsDocument(gv: GroupVersion): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const root = gv.group === "" ? `/api/${gv.version}` : `/apis/${gv.group}/${gv.version}`;
  const stem = groupStem(gv);
  for (const r of gv.resources) {
    const K = r.kind;
    const ns = r.namespaced ? "Namespaced" : "";
    const base = r.namespaced ? `${root}/namespaces/{namespace}/${r.resource}` : `${root}/${r.resource}`;
    const common = r.namespaced ? [pathParam("namespace"), PRETTY] : [PRETTY];
    const writeParams = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
    if (!r.verbs.includes("get")) {
      // The access reviews: a create that answers the review.
      paths[base] = {
        post: op(r, "create a", "post", `create${stem}${ns}${K}`, writeParams, K),
        parameters: common,
      };
      continue;
    }
    paths[base] = {
      get: op(
        r,
        "list or watch objects of kind",
        "list",
        `list${stem}${ns}${K}`,
        LIST_PARAMS,
        undefined,
        r.listKind,
      ),
      post: op(r, "create a", "post", `create${stem}${ns}${K}`, writeParams, K),
      delete: op(
        r,
        "delete collection of",
        "deletecollection",
        `delete${stem}Collection${ns}${K}`,
        [DRY_RUN, ...LIST_PARAMS],
        "DeleteOptions",
        "Status",
      ),
      parameters: common,
    };
    paths[`${base}/{name}`] = {
      get: op(r, "read the specified", "get", `read${stem}${ns}${K}`, []),
      put: op(r, "replace the specified", "put", `replace${stem}${ns}${K}`, writeParams, K),
      delete: op(
        r,
        "delete a",
        "delete",
        `delete${stem}${ns}${K}`,
        [
          DRY_RUN,
          q("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
          q("propagationPolicy", "Whether and how garbage collection will be performed."),
        ],
        "DeleteOptions",
        "Status",
      ),
      patch: op(
        r,
        "partially update the specified",
        "patch",
        `patch${stem}${ns}${K}`,
        [...writeParams, q("force", 'Force is going to "force" Apply requests.', "boolean")],
        "Patch",
      ),
      parameters: [pathParam("name"), ...common],
    };
    if (r.namespaced) {
      paths[`${root}/${r.resource}`] = {
        get: op(
          r,
          "list or watch objects of kind",
          "list",
          `list${stem}${K}ForAllNamespaces`,
          LIST_PARAMS,
          undefined,
          r.listKind,
        ),
        parameters: [PRETTY],
      };
    }
  }
  return paths;
}

/** One group version's OpenAPI v3 document and the hash its index entry names. */
export interface OpenApiDocument {
  readonly body: Buffer;
  readonly hash: string;
}

export interface OpenApiDocuments {
  /** `/openapi/v2` as JSON and in gnostic protobuf. */
  readonly v2Json: Buffer;
  readonly v2Protobuf: Buffer;
  /** `/openapi/v3` */
  readonly index: Buffer;
  /** By path under /openapi/v3/: `api/v1`, `apis/<group>/<version>`. */
  readonly groupVersions: ReadonlyMap<string, OpenApiDocument>;
}

export function buildOpenApi(gitVersion: string): OpenApiDocuments {
  const schemas = schemasDocument();
  const groupVersions = new Map<string, OpenApiDocument>();
  for (const gv of GROUP_VERSIONS) {
    const doc = {
      openapi: "3.0.0",
      info: { title: "Kubernetes", version: gitVersion },
      paths: pathsDocument(gv),
      components: {
        schemas,
        securitySchemes: {
          BearerToken: {
            type: "apiKey",
            description: "Bearer Token authentication",
            name: "authorization",
            in: "header",
          },
        },
      },
    };
    const body = Buffer.from(JSON.stringify(doc));
    const hash = createHash("sha512").update(body).digest("hex").toUpperCase();
    groupVersions.set(gv.group === "" ? `api/${gv.version}` : `apis/${gv.group}/${gv.version}`, {
      body,
      hash,
    });
  }
  const index = Buffer.from(
    JSON.stringify({
      paths: Object.fromEntries(
        [...groupVersions].map(([path, d]) => [
          path,
          { serverRelativeURL: `/openapi/v3/${path}?hash=${d.hash}` },
        ]),
      ),
    }),
  );
  const v2 = openApiV2Json(gitVersion);
  return {
    index,
    groupVersions,
    v2Json: Buffer.from(JSON.stringify(v2)),
    v2Protobuf: openApiV2Protobuf(v2),
  };
}
