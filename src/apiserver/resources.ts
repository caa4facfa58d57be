import { AUTHENTICATION_V1 } from "./resources/authentication-v1.js";
import { AUTHORIZATION_V1 } from "./resources/authorization-v1.js";
import { CORE_V1 } from "./resources/core-v1.js";
import { RBAC_V1 } from "./resources/rbac-v1.js";
import { STORAGEMIGRATION_V1ALPHA1, STORAGEMIGRATION_V1BETA1 } from "./resources/storagemigration.js";
import type { GroupVersion, ResourceInfo } from "./resources/define.js";

export {
  defineResource,
  VERBS,
  type GroupVersion,
  type NameRule,
  type ResourceInfo,
  type ResourceSpec,
  type ResourceVerb,
  type TableColumn,
} from "./resources/define.js";

/**
 * The resources atrest serves, as discovery, the router, the registry, OpenAPI, storage keys and tables
 * see them. Adding a resource is one declarative entry (resources/<group>-<version>.ts) plus its
 * validation; every layer reads the entry.
 */

/** In kube's order of /apis (its APIService group priorities: authentication, authorization, rbac, …). */
export const GROUP_VERSIONS: readonly GroupVersion[] = Object.freeze([
  CORE_V1,
  AUTHENTICATION_V1,
  AUTHORIZATION_V1,
  RBAC_V1,
  // v1beta1 first: a group's first version is its preferred one.
  STORAGEMIGRATION_V1BETA1,
  STORAGEMIGRATION_V1ALPHA1,
]);

export const RESOURCES: readonly ResourceInfo[] = Object.freeze(GROUP_VERSIONS.flatMap((gv) => gv.resources));

/** The core group's version (what /api lists). */
export const GROUP_VERSION = CORE_V1.version;

const byGroupVersion = new Map(GROUP_VERSIONS.map((gv) => [gvKey(gv.group, gv.version), gv]));
/** A resource served in several versions is found in its preferred (first) one. */
const byGroupResource = new Map<string, ResourceInfo>();
for (const r of RESOURCES)
  if (!byGroupResource.has(`${r.group}/${r.resource}`)) byGroupResource.set(`${r.group}/${r.resource}`, r);
const byGvk = new Map(RESOURCES.map((r) => [`${r.apiVersion}/${r.kind}`, r]));

function gvKey(group: string, version: string): string {
  return `${group}/${version}`;
}

export function groupVersion(group: string, version: string): GroupVersion | undefined {
  return byGroupVersion.get(gvKey(group, version));
}

/** A resource by its plural name, in the core group unless `group` is given. */
export function resourceByName(resource: string, group = ""): ResourceInfo | undefined {
  return byGroupResource.get(`${group}/${resource}`);
}

/** A resource by its objects' apiVersion and kind (`v1` + `Secret`, `rbac.authorization.k8s.io/v1` + `Role`). */
export function resourceByKind(kind: string, apiVersion = "v1"): ResourceInfo | undefined {
  return byGvk.get(`${apiVersion}/${kind}`);
}

/** The served resource, or a programming error (for the kinds the server itself depends on). */
export function requireResource(resource: string, group = ""): ResourceInfo {
  const info = resourceByName(resource, group);
  if (info === undefined) throw new Error(`resource ${resource} in group "${group}" is not served`);
  return info;
}

function segmentOf(info: ResourceInfo): string {
  if (info.storageSegment === undefined) throw new Error(`${info.resource} is not stored`);
  return info.storageSegment;
}

/** kube-apiserver's storage key: `<prefix>/<segment>/<namespace>/<name>` or `<prefix>/<segment>/<name>`. */
export function storageKey(
  prefix: string,
  info: ResourceInfo,
  namespace: string | undefined,
  name: string,
): string {
  return info.namespaced
    ? `${prefix}/${segmentOf(info)}/${namespace ?? ""}/${name}`
    : `${prefix}/${segmentOf(info)}/${name}`;
}

/** The key prefix of a collection (all namespaces when `namespace` is undefined); ends with "/". */
export function collectionPrefix(prefix: string, info: ResourceInfo, namespace: string | undefined): string {
  return info.namespaced && namespace !== undefined
    ? `${prefix}/${segmentOf(info)}/${namespace}/`
    : `${prefix}/${segmentOf(info)}/`;
}
