/** The building blocks of the served types' schemas (schemas.ts and one file per API group). */
export type FieldSchema =
  | { readonly t: "string" | "integer" | "boolean" | "byte" | "date-time"; readonly d?: string }
  | { readonly ref: string; readonly d?: string }
  | { readonly map: "string" | "byte"; readonly d?: string }
  | {
      readonly list: FieldSchema;
      readonly mergeKey?: string;
      readonly strategy?: "merge";
      readonly listType?: "atomic" | "set" | "map";
      readonly d?: string;
    }
  | { readonly free: true; readonly d?: string };

export interface TypeSchema {
  readonly description: string;
  readonly properties: Readonly<Record<string, FieldSchema>>;
  readonly required?: readonly string[];
  /** kube's `+structType=atomic` (x-kubernetes-map-type: atomic): server-side apply owns it whole. */
  readonly structType?: "atomic";
  /** The kind this top-level type is (adds x-kubernetes-group-version-kind). */
  readonly gvk?: { readonly group: string; readonly version: string; readonly kind: string };
}

export const META = "io.k8s.apimachinery.pkg.apis.meta.v1.";
export const CORE = "io.k8s.api.core.v1.";

export const s = (d?: string): FieldSchema => (d === undefined ? { t: "string" } : { t: "string", d });
export const typeMetaFields = {
  apiVersion: s("APIVersion defines the versioned schema of this representation of an object."),
  kind: s("Kind is a string value representing the REST resource this object represents."),
} as const;

/** A `<Kind>List` type of the given item type, as kube's OpenAPI has it. */
export function listSchema(itemSchema: string, group: string, version: string, kind: string): TypeSchema {
  return {
    description: `${kind}List is a list of ${kind} objects.`,
    properties: {
      ...typeMetaFields,
      items: { list: { ref: itemSchema } },
      metadata: { ref: META + "ListMeta" },
    },
    required: ["items"],
    gvk: { group, version, kind: `${kind}List` },
  };
}
