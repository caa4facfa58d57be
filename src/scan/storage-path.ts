/**
 * Storage keys as kube-apiserver lays them out: `<prefix>/<resource path>/[<namespace>/]<name>`, where
 * the resource path is a core resource's segment (`secrets`, `minions` for nodes, `services/specs`),
 * or `<group>/<resource>` for most group resources. The mapping of segments to resources is the one the
 * encryption configuration uses (src/encryption-config/storage-key.ts), so a scan and the apiserver agree
 * on which rule a key falls under.
 */
import { AtrestError } from "../common/errors.js";
import { resourceFromStorageKey } from "../encryption-config/storage-key.js";

export const DEFAULT_ETCD_PREFIX = "/registry";

/** Stands for keys that sit directly at the prefix, with no resource segment. */
export const NO_RESOURCE = "(none)";

/** `--etcd-prefix` as kube-apiserver joins it (path.Join("/", prefix)): one leading '/', no trailing '/'. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.trim();
  if (trimmed === "") throw new AtrestError("invalid-argument", "--etcd-prefix must not be empty");
  const segments = trimmed.split("/").filter((s) => s !== "");
  if (segments.some((s) => s === "." || s === "..")) {
    throw new AtrestError(
      "invalid-argument",
      `--etcd-prefix must not contain "." or ".." segments, got "${prefix}"`,
    );
  }
  return `/${segments.join("/")}`;
}

/**
 * The resource a key under `prefix` belongs to: `secrets`, `deployments.apps`, `<resource>.<group>`
 * for CRDs; an unknown core segment is reported by its name.
 */
export function resourceOfKey(prefix: string, key: string): string {
  const rest = key.startsWith(`${prefix}/`) ? key.slice(prefix.length + 1) : key;
  const segments = rest.split("/").filter((s) => s !== "");
  if (segments.length === 0) return NO_RESOURCE;
  // The mapping looks for the `registry` segment; give it one in front of the path below the prefix.
  return resourceFromStorageKey(`/registry/${segments.join("/")}`);
}

// Core resources kube stores directly under `<prefix>/<resource>/`, so a scan of just them can list
// that subtree instead of the whole prefix (others, like nodes under `minions`, need the full list).
const DIRECT_CORE_SEGMENTS: ReadonlySet<string> = new Set([
  "secrets",
  "configmaps",
  "serviceaccounts",
  "namespaces",
  "pods",
  "persistentvolumeclaims",
  "persistentvolumes",
  "events",
  "limitranges",
  "resourcequotas",
  "podtemplates",
]);

/**
 * The key prefixes to list for a set of resources: one subtree per resource when all of them are
 * core resources stored under their own name, otherwise the whole prefix (filtered afterwards).
 */
export function listPrefixesFor(prefix: string, resources: readonly string[] | undefined): string[] {
  if (resources === undefined || resources.length === 0) return [`${prefix}/`];
  if (resources.every((r) => DIRECT_CORE_SEGMENTS.has(r)))
    return [...new Set(resources)].sort().map((r) => `${prefix}/${r}/`);
  return [`${prefix}/`];
}
