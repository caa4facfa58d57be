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
