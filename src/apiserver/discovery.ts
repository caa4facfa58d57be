import { GROUP_VERSION, GROUP_VERSIONS, type GroupVersion } from "./resources.js";

/**
 * `/version`, `/api`, `/apis`, `/apis/<group>`, `/api/v1`, `/apis/<group>/<version>` — the plain
 * discovery documents kubectl falls back to — and aggregated discovery.
 */

export const KUBE_MINOR = "32";
export const GIT_VERSION = `v1.${KUBE_MINOR}.0-atrest`;

export function versionInfo(): Record<string, string> {
  return {
    major: "1",
    minor: KUBE_MINOR,
    gitVersion: GIT_VERSION,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2026-01-01T00:00:00Z",
    goVersion: `node${process.versions.node}`,
    compiler: "tsc",
    platform: `${process.platform}/${process.arch}`,
  };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: [GROUP_VERSION],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function versionRef(gv: GroupVersion): Record<string, string> {
  return { groupVersion: `${gv.group}/${gv.version}`, version: gv.version };
}

/** The named groups (everything but the core group), each with its versions, in discovery order. */
function namedGroups(): Array<{ name: string; versions: GroupVersion[] }> {
  const groups = new Map<string, GroupVersion[]>();
  for (const gv of GROUP_VERSIONS) {
    if (gv.group === "") continue;
    groups.set(gv.group, [...(groups.get(gv.group) ?? []), gv]);
  }
  return [...groups].map(([name, versions]) => ({ name, versions }));
}

function apiGroup(name: string, versions: readonly GroupVersion[]): Record<string, unknown> {
  const refs = versions.map(versionRef);
  return { name, versions: refs, preferredVersion: refs[0] };
}

export function apiGroupList(): Record<string, unknown> {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: namedGroups().map((g) => apiGroup(g.name, g.versions)),
  };
}

/** `/apis/<group>`: the group's versions (undefined when the group is not served). */
export function apiGroupDocument(group: string): Record<string, unknown> | undefined {
  const found = namedGroups().find((g) => g.name === group);
  return found === undefined
    ? undefined
    : { kind: "APIGroup", apiVersion: "v1", ...apiGroup(found.name, found.versions) };
}

/** `/api/v1` and `/apis/<group>/<version>`: the resources of one group version. */
export function apiResourceList(gv: GroupVersion): Record<string, unknown> {
  return {
    kind: "APIResourceList",
    // kube's /api/v1 document carries no apiVersion; the named groups' documents do.
    ...(gv.group === "" ? {} : { apiVersion: "v1" }),
    groupVersion: gv.group === "" ? gv.version : `${gv.group}/${gv.version}`,
    resources: gv.resources.map((r) => {
      const entry: Record<string, unknown> = {
        name: r.resource,
        singularName: r.singularName,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: [...r.verbs],
      };
      if (r.shortNames.length > 0) entry.shortNames = [...r.shortNames];
      if (r.categories.length > 0) entry.categories = [...r.categories];
      return entry;
    }),
  };
}

/**
 * Aggregated discovery (apidiscovery.k8s.io v2, v2beta1): kubectl asks for it first with
 * `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…` and gets every
 * resource of the core group in one document from `/api`, and those of every other group from `/apis`.
 */
export function aggregatedDiscoveryType(
  accept: string | undefined,
): { version: "v2" | "v2beta1"; contentType: string } | undefined {
  if (accept === undefined) return undefined;
  for (const clause of accept.split(",")) {
    const parts = clause.split(";").map((p) => p.trim());
    if (parts[0] !== "application/json") continue;
    const params = new Map(parts.slice(1).map((p) => p.split("=") as [string, string]));
    const v = params.get("v");
    if (
      params.get("g") === "apidiscovery.k8s.io" &&
      params.get("as") === "APIGroupDiscoveryList" &&
      (v === "v2" || v === "v2beta1")
    ) {
      return {
        version: v,
        contentType: `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`,
      };
    }
    // A plain JSON clause before any aggregated one: the client prefers the plain documents.
    if (params.size === 0) return undefined;
  }
  return undefined;
}

function discoveryVersion(gv: GroupVersion): Record<string, unknown> {
  return {
    version: gv.version,
    resources: gv.resources.map((r) => {
      const entry: Record<string, unknown> = {
        resource: r.resource,
        responseKind: { group: gv.group, version: gv.version, kind: r.kind },
        scope: r.namespaced ? "Namespaced" : "Cluster",
        singularResource: r.singularName,
        verbs: [...r.verbs],
      };
      if (r.shortNames.length > 0) entry.shortNames = [...r.shortNames];
      if (r.categories.length > 0) entry.categories = [...r.categories];
      return entry;
    }),
    freshness: "Current",
  };
}

/** `/api` (the core group) or `/apis` (every named group) as one APIGroupDiscoveryList. */
export function aggregatedDiscovery(version: "v2" | "v2beta1", core: boolean): Record<string, unknown> {
  const items = core
    ? GROUP_VERSIONS.filter((gv) => gv.group === "").map((gv) => ({
        metadata: { creationTimestamp: null },
        versions: [discoveryVersion(gv)],
      }))
    : namedGroups().map((g) => ({
        metadata: { name: g.name, creationTimestamp: null },
        versions: g.versions.map(discoveryVersion),
      }));
  return { kind: "APIGroupDiscoveryList", apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}
