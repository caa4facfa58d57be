/** The resources atrest serves, as discovery, the router, storage keys and tables see them. */
export interface ResourceInfo {
  /** Plural, lowercase: the URL segment and the storage key segment. */
  readonly resource: string;
  readonly singularName: string;
  readonly kind: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  /** The protobuf message in k8s.io.api.core.v1. */
  readonly protoType: string;
}

export const GROUP_VERSION = "v1";

export const RESOURCES: readonly ResourceInfo[] = Object.freeze([
  {
    resource: "namespaces",
    singularName: "namespace",
    kind: "Namespace",
    listKind: "NamespaceList",
    namespaced: false,
    shortNames: ["ns"],
    protoType: "Namespace",
  },
  {
    resource: "secrets",
    singularName: "secret",
    kind: "Secret",
    listKind: "SecretList",
    namespaced: true,
    shortNames: [],
    protoType: "Secret",
  },
  {
    resource: "configmaps",
    singularName: "configmap",
    kind: "ConfigMap",
    listKind: "ConfigMapList",
    namespaced: true,
    shortNames: ["cm"],
    protoType: "ConfigMap",
  },
  {
    resource: "serviceaccounts",
    singularName: "serviceaccount",
    kind: "ServiceAccount",
    listKind: "ServiceAccountList",
    namespaced: true,
    shortNames: ["sa"],
    protoType: "ServiceAccount",
  },
]);

const byResource = new Map(RESOURCES.map((r) => [r.resource, r]));
const byKind = new Map(RESOURCES.map((r) => [r.kind, r]));

export function resourceByName(resource: string): ResourceInfo | undefined {
  return byResource.get(resource);
}

export function resourceByKind(kind: string): ResourceInfo | undefined {
  return byKind.get(kind);
}

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

/** kube-apiserver's storage key: `<prefix>/<resource>/<namespace>/<name>` or `<prefix>/<resource>/<name>`. */
export function storageKey(
  prefix: string,
  info: ResourceInfo,
  namespace: string | undefined,
  name: string,
): string {
  return info.namespaced
    ? `${prefix}/${info.resource}/${namespace ?? ""}/${name}`
    : `${prefix}/${info.resource}/${name}`;
}

/** The key prefix of a collection (all namespaces when `namespace` is undefined); ends with "/". */
export function collectionPrefix(prefix: string, info: ResourceInfo, namespace: string | undefined): string {
  return info.namespaced && namespace !== undefined
    ? `${prefix}/${info.resource}/${namespace}/`
    : `${prefix}/${info.resource}/`;
}
