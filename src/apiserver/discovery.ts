import { GROUP_VERSION, RESOURCES, VERBS } from "./resources.js";

/** `/version`, `/api`, `/apis`, `/api/v1` — the plain discovery documents kubectl falls back to. */

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

export function apiGroupList(): Record<string, unknown> {
  return { kind: "APIGroupList", apiVersion: "v1", groups: [] };
}

export function coreResourceList(): Record<string, unknown> {
  return {
    kind: "APIResourceList",
    groupVersion: GROUP_VERSION,
    resources: RESOURCES.map((r) => {
      const entry: Record<string, unknown> = {
        name: r.resource,
        singularName: r.singularName,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: [...VERBS],
      };
      if (r.shortNames.length > 0) entry.shortNames = [...r.shortNames];
      return entry;
    }),
  };
}

/**
 * Aggregated discovery (apidiscovery.k8s.io v2, v2beta1): kubectl asks for it first with
 * `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…` and gets every
 * resource of the core group in one document from `/api` (and the groups from `/apis`: none).
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

export function aggregatedDiscovery(version: "v2" | "v2beta1", core: boolean): Record<string, unknown> {
  const items = core
    ? [
        {
          metadata: { creationTimestamp: null },
          versions: [
            {
              version: GROUP_VERSION,
              resources: RESOURCES.map((r) => {
                const entry: Record<string, unknown> = {
                  resource: r.resource,
                  responseKind: { group: "", version: GROUP_VERSION, kind: r.kind },
                  scope: r.namespaced ? "Namespaced" : "Cluster",
                  singularResource: r.singularName,
                  verbs: [...VERBS],
                };
                if (r.shortNames.length > 0) entry.shortNames = [...r.shortNames];
                return entry;
              }),
              freshness: "Current",
            },
          ],
        },
      ]
    : [];
  return { kind: "APIGroupDiscoveryList", apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}
