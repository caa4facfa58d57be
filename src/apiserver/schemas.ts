/**
 * The served types' schemas, written once: they produce the OpenAPI v3 document kubectl reads (field
 * validation support, `explain`, client-side apply's list merge keys) and drive the server's strict
 * decoding (unknown and mistyped fields). Names are kube's OpenAPI definition names.
 */
import {
  CORE,
  listSchema,
  META,
  s,
  typeMetaFields,
  type FieldSchema,
  type TypeSchema,
} from "./schema-fields.js";
import { AUTHENTICATION_SCHEMAS } from "./schemas-authentication.js";
import { AUTHORIZATION_SCHEMAS } from "./schemas-authorization.js";
import { RBAC_SCHEMAS } from "./schemas-rbac.js";
import { STORAGEMIGRATION_SCHEMAS } from "./schemas-storagemigration.js";

export type { FieldSchema, TypeSchema } from "./schema-fields.js";

export const SCHEMAS: Readonly<Record<string, TypeSchema>> = {
  [META + "Time"]: {
    description: "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.",
    properties: {},
  },
  [META + "FieldsV1"]: {
    description: "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.",
    properties: {},
  },
  [META + "ObjectMeta"]: {
    description:
      "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
    properties: {
      annotations: {
        map: "string",
        d: "Annotations is an unstructured key value map stored with a resource.",
      },
      creationTimestamp: { ref: META + "Time" },
      deletionGracePeriodSeconds: { t: "integer" },
      deletionTimestamp: { ref: META + "Time" },
      finalizers: { list: s(), strategy: "merge", listType: "set" },
      generateName: s(
        "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.",
      ),
      generation: { t: "integer" },
      labels: {
        map: "string",
        d: "Map of string keys and values that can be used to organize and categorize (scope and select) objects.",
      },
      managedFields: { list: { ref: META + "ManagedFieldsEntry" }, listType: "atomic" },
      name: s("Name must be unique within a namespace."),
      namespace: s("Namespace defines the space within which each name must be unique."),
      ownerReferences: {
        list: { ref: META + "OwnerReference" },
        mergeKey: "uid",
        strategy: "merge",
        listType: "map",
      },
      resourceVersion: s("An opaque value that represents the internal version of this object."),
      selfLink: s(),
      uid: s("UID is the unique in time and space value for this object."),
    },
  },
  [META + "ManagedFieldsEntry"]: {
    description:
      "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
    properties: {
      apiVersion: s(),
      fieldsType: s(),
      fieldsV1: { ref: META + "FieldsV1" },
      manager: s(),
      operation: s(),
      subresource: s(),
      time: { ref: META + "Time" },
    },
  },
  [META + "OwnerReference"]: {
    description: "OwnerReference contains enough information to let you identify an owning object.",
    properties: {
      apiVersion: s(),
      blockOwnerDeletion: { t: "boolean" },
      controller: { t: "boolean" },
      kind: s(),
      name: s(),
      uid: s(),
    },
    required: ["apiVersion", "kind", "name", "uid"],
  },
  [META + "ListMeta"]: {
    description:
      "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
    properties: { continue: s(), remainingItemCount: { t: "integer" }, resourceVersion: s(), selfLink: s() },
  },
  [META + "LabelSelectorRequirement"]: {
    description:
      "A label selector requirement is a selector that contains values, a key, and an operator that relates the key and values.",
    properties: {
      key: s("key is the label key that the selector applies to."),
      operator: s(
        "operator represents a key's relationship to a set of values. Valid operators are In, NotIn, Exists and DoesNotExist.",
      ),
      values: { list: s(), listType: "atomic" },
    },
    required: ["key", "operator"],
  },
  [META + "LabelSelector"]: {
    description:
      "A label selector is a label query over a set of resources. The result of matchLabels and matchExpressions are ANDed. An empty label selector matches all objects. A null label selector matches no objects.",
    properties: {
      matchExpressions: { list: { ref: META + "LabelSelectorRequirement" }, listType: "atomic" },
      matchLabels: { map: "string", d: "matchLabels is a map of {key,value} pairs." },
    },
    structType: "atomic",
  },
  [META + "Preconditions"]: {
    description: "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.",
    properties: { resourceVersion: s(), uid: s() },
  },
  [META + "DeleteOptions"]: {
    description: "DeleteOptions may be provided when deleting an API object.",
    properties: {
      ...typeMetaFields,
      dryRun: { list: s(), listType: "atomic" },
      gracePeriodSeconds: { t: "integer" },
      ignoreStoreReadErrorWithClusterBreakingPotential: { t: "boolean" },
      orphanDependents: { t: "boolean" },
      preconditions: { ref: META + "Preconditions" },
      propagationPolicy: s(),
    },
  },
  [META + "StatusCause"]: {
    description: "StatusCause provides more information about an api.Status failure.",
    properties: { field: s(), message: s(), reason: s() },
  },
  [META + "StatusDetails"]: {
    description:
      "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.",
    properties: {
      causes: { list: { ref: META + "StatusCause" }, listType: "atomic" },
      group: s(),
      kind: s(),
      name: s(),
      retryAfterSeconds: { t: "integer" },
      uid: s(),
    },
  },
  [META + "Status"]: {
    description: "Status is a return value for calls that don't return other objects.",
    properties: {
      ...typeMetaFields,
      code: { t: "integer" },
      details: { ref: META + "StatusDetails" },
      message: s(),
      metadata: { ref: META + "ListMeta" },
      reason: s(),
      status: s(),
    },
    gvk: { group: "", version: "v1", kind: "Status" },
  },
  [CORE + "Secret"]: {
    description:
      "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.",
    properties: {
      ...typeMetaFields,
      data: {
        map: "byte",
        d: "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
      },
      immutable: {
        t: "boolean",
        d: "Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified).",
      },
      metadata: { ref: META + "ObjectMeta" },
      stringData: {
        map: "string",
        d: "stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience.",
      },
      type: s("Used to facilitate programmatic handling of secret data."),
    },
    gvk: { group: "", version: "v1", kind: "Secret" },
  },
  [CORE + "ConfigMap"]: {
    description: "ConfigMap holds configuration data for pods to consume.",
    properties: {
      ...typeMetaFields,
      binaryData: { map: "byte" },
      data: { map: "string", d: "Data contains the configuration data." },
      immutable: { t: "boolean" },
      metadata: { ref: META + "ObjectMeta" },
    },
    gvk: { group: "", version: "v1", kind: "ConfigMap" },
  },
  [CORE + "ObjectReference"]: {
    description:
      "ObjectReference contains enough information to let you inspect or modify the referred object.",
    properties: {
      apiVersion: s(),
      fieldPath: s(),
      kind: s(),
      name: s(),
      namespace: s(),
      resourceVersion: s(),
      uid: s(),
    },
    structType: "atomic",
  },
  [CORE + "LocalObjectReference"]: {
    description:
      "LocalObjectReference contains enough information to let you locate the referenced object inside the same namespace.",
    properties: { name: s() },
    structType: "atomic",
  },
  [CORE + "ServiceAccount"]: {
    description:
      "ServiceAccount binds together: * a name, understood by users, and perhaps by peripheral systems, for an identity * a principal that can be authenticated and authorized * a set of secrets",
    properties: {
      ...typeMetaFields,
      automountServiceAccountToken: { t: "boolean" },
      imagePullSecrets: { list: { ref: CORE + "LocalObjectReference" }, listType: "atomic" },
      metadata: { ref: META + "ObjectMeta" },
      secrets: { list: { ref: CORE + "ObjectReference" }, mergeKey: "name", strategy: "merge" },
    },
    gvk: { group: "", version: "v1", kind: "ServiceAccount" },
  },
  [CORE + "NamespaceSpec"]: {
    description: "NamespaceSpec describes the attributes on a Namespace.",
    properties: { finalizers: { list: s(), listType: "atomic" } },
  },
  [CORE + "NamespaceCondition"]: {
    description: "NamespaceCondition contains details about state of namespace.",
    properties: {
      lastTransitionTime: { ref: META + "Time" },
      message: s(),
      reason: s(),
      status: s(),
      type: s(),
    },
  },
  [CORE + "NamespaceStatus"]: {
    description: "NamespaceStatus is information about the current status of a Namespace.",
    properties: {
      conditions: {
        list: { ref: CORE + "NamespaceCondition" },
        mergeKey: "type",
        strategy: "merge",
        listType: "map",
      },
      phase: s(),
    },
  },
  [CORE + "Namespace"]: {
    description: "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    properties: {
      ...typeMetaFields,
      metadata: { ref: META + "ObjectMeta" },
      spec: { ref: CORE + "NamespaceSpec" },
      status: { ref: CORE + "NamespaceStatus" },
    },
    gvk: { group: "", version: "v1", kind: "Namespace" },
  },
};

for (const kind of ["Secret", "ConfigMap", "ServiceAccount", "Namespace"]) {
  (SCHEMAS as Record<string, TypeSchema>)[`${CORE}${kind}List`] = listSchema(CORE + kind, "", "v1", kind);
}
Object.assign(SCHEMAS, RBAC_SCHEMAS, AUTHORIZATION_SCHEMAS, AUTHENTICATION_SCHEMAS, STORAGEMIGRATION_SCHEMAS);

/** apiVersion/kind → definition name; a kind alone finds its first version. */
const BY_GVK = new Map<string, string>();
const BY_KIND = new Map<string, string>();
for (const [name, t] of Object.entries(SCHEMAS)) {
  if (t.gvk === undefined || t.gvk.kind === "Status") continue;
  const apiVersion = t.gvk.group === "" ? t.gvk.version : `${t.gvk.group}/${t.gvk.version}`;
  BY_GVK.set(`${apiVersion}/${t.gvk.kind}`, name);
  if (!BY_KIND.has(t.gvk.kind)) BY_KIND.set(t.gvk.kind, name);
}

export function schemaNameForKind(kind: string, apiVersion?: string): string {
  if (kind === "Status" || kind === "DeleteOptions") return META + kind;
  return (
    (apiVersion === undefined ? undefined : BY_GVK.get(`${apiVersion}/${kind}`)) ??
    BY_KIND.get(kind) ??
    CORE + kind
  );
}

/** Free-form types: strict decoding does not look inside them. */
const OPAQUE = new Set([META + "FieldsV1"]);
/**
 * How deep a free-form value may nest. Every other part of an object is bounded by its schema (unknown
 * fields are pruned without recursion), so this bounds what later recursive code (JSON.stringify,
 * managed fields) sees; a FieldsV1 set nests as deep as the object's schema, far less than this.
 */
const MAX_OPAQUE_DEPTH = 1000;

/** The nesting depth of a JSON value, walked without recursion. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, d] = top;
    if (typeof v !== "object" || v === null) continue;
    if (d + 1 > max) max = d + 1;
    if (max > MAX_OPAQUE_DEPTH) return max;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function goType(f: FieldSchema): string {
  if ("t" in f)
    return f.t === "integer" ? "int64" : f.t === "boolean" ? "bool" : f.t === "byte" ? "[]uint8" : "string";
  if ("map" in f) return f.map === "byte" ? "map[string][]uint8" : "map[string]string";
  if ("list" in f) return `[]${goType(f.list)}`;
  if ("ref" in f) return f.ref.slice(f.ref.lastIndexOf(".") + 1);
  return "interface {}";
}

export interface DecodeProblems {
  /** Paths like `spec.foo`, `metadata.labels` — kube's `unknown field "…"`. */
  unknown: string[];
  /** The same paths as member names and list indexes (names may hold `.` or `[`), for pruning. */
  unknownPaths: Array<Array<string | number>>;
  /** kube's json decoding messages for values of the wrong type. */
  typeErrors: string[];
}

/** Walks `value` against the named schema, collecting unknown fields and type mismatches. */
export function checkAgainstSchema(
  schemaName: string,
  value: unknown,
  problems: DecodeProblems = { unknown: [], unknownPaths: [], typeErrors: [] },
  path = "",
  goPath = "",
  segments: ReadonlyArray<string | number> = [],
): DecodeProblems {
  const schema = SCHEMAS[schemaName];
  if (OPAQUE.has(schemaName)) {
    if (depthOf(value) > MAX_OPAQUE_DEPTH)
      problems.typeErrors.push(`${goPath === "" ? path : goPath}: exceeded max depth of ${MAX_OPAQUE_DEPTH}`);
    return problems;
  }
  if (schema === undefined) return problems;
  if (schemaName === META + "Time") {
    if (value !== null && typeof value !== "string")
      problems.typeErrors.push(
        `json: cannot unmarshal ${jsonType(value)} into Go struct field ${goPath} of type string`,
      );
    return problems;
  }
  if (value === null) return problems;
  if (typeof value !== "object" || Array.isArray(value)) {
    problems.typeErrors.push(`json: cannot unmarshal ${jsonType(value)} into Go value of type struct`);
    return problems;
  }
  const typeName = schemaName.slice(schemaName.lastIndexOf(".") + 1);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    // Own keys only: `toString` or `constructor` is as unknown as any other name.
    const field = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
    const p = path === "" ? k : `${path}.${k}`;
    if (field === undefined) {
      problems.unknown.push(p);
      problems.unknownPaths.push([...segments, k]);
      continue;
    }
    checkField(field, v, problems, p, `${goPath === "" ? typeName : goPath}.${k}`, [...segments, k]);
  }
  return problems;
}

function checkField(
  field: FieldSchema,
  v: unknown,
  problems: DecodeProblems,
  path: string,
  goPath: string,
  segments: ReadonlyArray<string | number>,
): void {
  if (v === null) return;
  const mismatch = (): void => {
    problems.typeErrors.push(
      `json: cannot unmarshal ${jsonType(v)} into Go struct field ${goPath} of type ${goType(field)}`,
    );
  };
  if ("t" in field) {
    const ok =
      field.t === "integer"
        ? typeof v === "number" && Number.isInteger(v)
        : field.t === "boolean"
          ? typeof v === "boolean"
          : typeof v === "string";
    if (!ok) mismatch();
  } else if ("map" in field) {
    if (typeof v !== "object" || Array.isArray(v)) return mismatch();
    for (const mv of Object.values(v as Record<string, unknown>)) {
      if (mv !== null && typeof mv !== "string") {
        problems.typeErrors.push(
          `json: cannot unmarshal ${jsonType(mv)} into Go struct field ${goPath} of type ${field.map === "byte" ? "[]uint8" : "string"}`,
        );
      }
    }
  } else if ("list" in field) {
    if (!Array.isArray(v)) return mismatch();
    v.forEach((item, i) => checkField(field.list, item, problems, `${path}[${i}]`, goPath, [...segments, i]));
  } else if ("ref" in field) {
    checkAgainstSchema(field.ref, v, problems, path, goPath, segments);
  }
}
