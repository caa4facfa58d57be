import { createHash } from "node:crypto";
import { openApiV2Json, openApiV2Protobuf } from "./openapi-v2.js";
import { RESOURCES } from "./resources.js";
import { SCHEMAS, schemaNameForKind, type FieldSchema } from "./schemas.js";

/**
 * OpenAPI v3 for the core group (`/openapi/v3` index and `/openapi/v3/api/v1`). kubectl reads it before
 * `create -f`, `replace` and `apply`: it looks for a `fieldValidation` query parameter on each kind's
 * PATCH operation (tagged with x-kubernetes-group-version-kind) to decide that the server validates.
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

function ref(kind: string): Record<string, unknown> {
  const schema = { $ref: `#/components/schemas/${schemaNameForKind(kind)}` };
  return {
    content: {
      "application/json": { schema },
      "application/yaml": { schema },
      "application/vnd.kubernetes.protobuf": { schema },
    },
  };
}

function op(
  verb: string,
  action: string,
  kind: string,
  id: string,
  params: Record<string, unknown>[],
  body?: string,
  responseKind?: string,
): Record<string, unknown> {
  const o: Record<string, unknown> = {
    tags: ["core_v1"],
    description: `${verb} ${kind}`,
    operationId: id,
    parameters: params,
    responses: {
      "200": { description: "OK", ...ref(responseKind ?? kind) },
      "401": { description: "Unauthorized" },
    },
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": { group: "", version: "v1", kind },
  };
  if (body !== undefined) {
    const schema = { $ref: `#/components/schemas/${schemaNameForKind(body)}` };
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

function pathsDocument(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const r of RESOURCES) {
    const K = r.kind;
    const ns = r.namespaced ? "Namespaced" : "";
    const base = r.namespaced ? `/api/v1/namespaces/{namespace}/${r.resource}` : `/api/v1/${r.resource}`;
    const common = r.namespaced ? [pathParam("namespace"), PRETTY] : [PRETTY];
    paths[base] = {
      get: op(
        "list or watch objects of kind",
        "list",
        K,
        `listCoreV1${ns}${K}`,
        LIST_PARAMS,
        undefined,
        r.listKind,
      ),
      post: op("create a", "post", K, `createCoreV1${ns}${K}`, [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION], K),
      delete: op(
        "delete collection of",
        "deletecollection",
        K,
        `deleteCoreV1Collection${ns}${K}`,
        [DRY_RUN, ...LIST_PARAMS],
        "DeleteOptions",
        "Status",
      ),
      parameters: common,
    };
    paths[`${base}/{name}`] = {
      get: op("read the specified", "get", K, `readCoreV1${ns}${K}`, []),
      put: op(
        "replace the specified",
        "put",
        K,
        `replaceCoreV1${ns}${K}`,
        [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
        K,
      ),
      delete: op(
        "delete a",
        "delete",
        K,
        `deleteCoreV1${ns}${K}`,
        [
          DRY_RUN,
          q("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
          q("propagationPolicy", "Whether and how garbage collection will be performed."),
        ],
        "DeleteOptions",
        "Status",
      ),
      patch: op(
        "partially update the specified",
        "patch",
        K,
        `patchCoreV1${ns}${K}`,
        [
          DRY_RUN,
          FIELD_MANAGER,
          FIELD_VALIDATION,
          q("force", 'Force is going to "force" Apply requests.', "boolean"),
        ],
        "Patch",
      ),
      parameters: [pathParam("name"), ...common],
    };
    if (r.namespaced) {
      paths[`/api/v1/${r.resource}`] = {
        get: op(
          "list or watch objects of kind",
          "list",
          K,
          `listCoreV1${K}ForAllNamespaces`,
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

export interface OpenApiDocuments {
  /** `/openapi/v2` as JSON and in gnostic protobuf. */
  readonly v2Json: Buffer;
  readonly v2Protobuf: Buffer;
  /** `/openapi/v3` */
  readonly index: Buffer;
  /** `/openapi/v3/api/v1` */
  readonly coreV1: Buffer;
  readonly coreV1Hash: string;
}

export function buildOpenApi(gitVersion: string): OpenApiDocuments {
  const doc = {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: gitVersion },
    paths: pathsDocument(),
    components: {
      schemas: schemasDocument(),
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
  const coreV1 = Buffer.from(JSON.stringify(doc));
  const coreV1Hash = createHash("sha512").update(coreV1).digest("hex").toUpperCase();
  const index = Buffer.from(
    JSON.stringify({ paths: { "api/v1": { serverRelativeURL: `/openapi/v3/api/v1?hash=${coreV1Hash}` } } }),
  );
  const v2 = openApiV2Json(gitVersion);
  return {
    index,
    coreV1,
    coreV1Hash,
    v2Json: Buffer.from(JSON.stringify(v2)),
    v2Protobuf: openApiV2Protobuf(v2),
  };
}
