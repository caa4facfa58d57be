import type { KubeObject } from "../../kube-object/types.js";
import type { FieldError } from "../status.js";

/** What a served resource is: the entry every layer reads, and the defaults an entry leaves out. */

export const VERBS = [
  "create",
  "delete",
  "deletecollection",
  "get",
  "list",
  "patch",
  "update",
  "watch",
] as const;
export type ResourceVerb = (typeof VERBS)[number];

/** How an object's name is checked (kube's per-type name validation). */
export type NameRule = "label" | "subdomain" | "path-segment";

/** A Table column as kube's printers define it; `cell` renders one object. */
export interface TableColumn {
  readonly name: string;
  readonly type: "string" | "integer" | "date";
  readonly format: string;
  readonly description: string;
  readonly priority: number;
  readonly cell: (obj: KubeObject, nowMs: number) => string | number;
}

export interface ResourceInfo {
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  /** `v1` for the core group, `<group>/<version>` otherwise (the objects' apiVersion). */
  readonly apiVersion: string;
  /** Plural, lowercase: the URL segment. */
  readonly resource: string;
  readonly singularName: string;
  readonly kind: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** The verbs served (discovery lists them; others are 405). */
  readonly verbs: readonly ResourceVerb[];
  /** The OpenAPI definition name of the kind (strict decoding, OpenAPI documents). */
  readonly schema: string;
  /**
   * Where the objects live: `<etcd prefix>/<segment>/…` (kube's ResourcePrefix, the resource name unless
   * kube overrides it); undefined for resources computed per request (the access reviews).
   */
  readonly storageSegment: string | undefined;
  readonly nameRule: NameRule;
  /** Fields a field selector may name (kube's field label conversion for the kind). */
  readonly fieldSelectors: readonly string[];
  /** Table columns (`kubectl get`); Name and Age when absent. */
  readonly columns?: readonly TableColumn[];
  /** Defaults applied to every incoming object (kube's SetDefaults_*), before validation. */
  readonly defaults?: (obj: KubeObject) => void;
  /** The kind's own validation (metadata is checked for every kind); `old` on updates. */
  readonly validate?: (obj: KubeObject, old: KubeObject | undefined) => FieldError[];
  /**
   * kube's status subresource semantics: a create starts without status, writes to the resource keep
   * the stored status, and only status writes (the registry's updateStatus) change it.
   */
  readonly statusSubresource?: boolean;
  /**
   * For a resource served in several versions and stored in one form (kube's storage version): the
   * conversions between this version's objects and the stored form.
   */
  readonly conversion?: {
    readonly toStorage: (obj: KubeObject) => KubeObject;
    readonly fromStorage: (obj: KubeObject) => KubeObject;
  };
  /** A delete answers with the deleted object instead of a Status (kube's Store.ReturnDeletedObject). */
  readonly returnDeletedObject?: boolean;
}

/** The declarative part of an entry; the rest is derived. */
export type ResourceSpec = Omit<
  ResourceInfo,
  "apiVersion" | "listKind" | "verbs" | "shortNames" | "categories" | "storageSegment" | "fieldSelectors"
> & {
  readonly listKind?: string;
  readonly verbs?: readonly ResourceVerb[];
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  /** Default: the resource name; null: not stored. */
  readonly storageSegment?: string | null;
  readonly fieldSelectors?: readonly string[];
};

export function defineResource(spec: ResourceSpec): ResourceInfo {
  const { storageSegment, ...rest } = spec;
  return Object.freeze({
    ...rest,
    apiVersion: spec.group === "" ? spec.version : `${spec.group}/${spec.version}`,
    listKind: spec.listKind ?? `${spec.kind}List`,
    verbs: spec.verbs ?? VERBS,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    storageSegment: storageSegment === null ? undefined : (storageSegment ?? spec.resource),
    fieldSelectors: spec.fieldSelectors ?? [
      "metadata.name",
      ...(spec.namespaced ? ["metadata.namespace"] : []),
    ],
  });
}

/** One served group version and its resources, in discovery order. */
export interface GroupVersion {
  readonly group: string;
  readonly version: string;
  readonly resources: readonly ResourceInfo[];
}
