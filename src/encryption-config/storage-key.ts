/**
 * Which resource a storage key belongs to, so a stored value can be read with the transformer the
 * apiserver would use. Keys look like `<prefix>/<resource path>/<namespace>/<name>`; the prefix is
 * `/registry` by default but may be anything (`/<uuid>/registry`, a custom --etcd-prefix).
 */
import { AtrestError } from "../common/errors.js";

/**
 * kube-apiserver's storage path segment → `<resource>.<group>` for built-in resources whose segment is not
 * simply the core-group resource name. Segments not listed here are core resources of that name.
 */
const STORAGE_SEGMENT_TO_RESOURCE: ReadonlyMap<string, string> = new Map([
  ["minions", "nodes"],
  ["controllers", "replicationcontrollers"],
  ["ingress", "ingresses.networking.k8s.io"],
  ["ingressclasses", "ingressclasses.networking.k8s.io"],
  ["networkpolicies", "networkpolicies.networking.k8s.io"],
  ["deployments", "deployments.apps"],
  ["replicasets", "replicasets.apps"],
  ["statefulsets", "statefulsets.apps"],
  ["daemonsets", "daemonsets.apps"],
  ["controllerrevisions", "controllerrevisions.apps"],
  ["jobs", "jobs.batch"],
  ["cronjobs", "cronjobs.batch"],
  ["horizontalpodautoscalers", "horizontalpodautoscalers.autoscaling"],
  ["poddisruptionbudgets", "poddisruptionbudgets.policy"],
  ["clusterroles", "clusterroles.rbac.authorization.k8s.io"],
  ["clusterrolebindings", "clusterrolebindings.rbac.authorization.k8s.io"],
  ["roles", "roles.rbac.authorization.k8s.io"],
  ["rolebindings", "rolebindings.rbac.authorization.k8s.io"],
  ["storageclasses", "storageclasses.storage.k8s.io"],
  ["volumeattachments", "volumeattachments.storage.k8s.io"],
  ["csinodes", "csinodes.storage.k8s.io"],
  ["csidrivers", "csidrivers.storage.k8s.io"],
  ["csistoragecapacities", "csistoragecapacities.storage.k8s.io"],
  ["leases", "leases.coordination.k8s.io"],
  ["priorityclasses", "priorityclasses.scheduling.k8s.io"],
  ["certificatesigningrequests", "certificatesigningrequests.certificates.k8s.io"],
  ["mutatingwebhookconfigurations", "mutatingwebhookconfigurations.admissionregistration.k8s.io"],
  ["validatingwebhookconfigurations", "validatingwebhookconfigurations.admissionregistration.k8s.io"],
  ["validatingadmissionpolicies", "validatingadmissionpolicies.admissionregistration.k8s.io"],
  ["validatingadmissionpolicybindings", "validatingadmissionpolicybindings.admissionregistration.k8s.io"],
  ["runtimeclasses", "runtimeclasses.node.k8s.io"],
  ["endpointslices", "endpointslices.discovery.k8s.io"],
  ["flowschemas", "flowschemas.flowcontrol.apiserver.k8s.io"],
  ["prioritylevelconfigurations", "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io"],
]);

/** Core resources recognised when the key has no `registry` segment (a custom prefix). */
const WELL_KNOWN_CORE = new Set([
  "secrets",
  "configmaps",
  "pods",
  "serviceaccounts",
  "namespaces",
  "persistentvolumeclaims",
  "persistentvolumes",
  "events",
]);

/**
 * The resource (`secrets`, or `<resource>.<group>`) a storage key belongs to. Looks for the `registry`
 * segment first; without one, for a well-known resource name. Throws "invalid-argument" when it cannot tell.
 */
export function resourceFromStorageKey(storageKey: string): string {
  const segments = storageKey.split("/").filter((s) => s !== "");
  const at = segments.indexOf("registry");
  if (at >= 0 && at + 1 < segments.length) return resourceAt(segments, at + 1);
  const known = segments.findIndex((s) => WELL_KNOWN_CORE.has(s) || STORAGE_SEGMENT_TO_RESOURCE.has(s));
  if (known >= 0) return resourceAt(segments, known);
  throw new AtrestError(
    "invalid-argument",
    `cannot tell the resource from storage key "${storageKey}": expected <prefix>/registry/<resource>/…; pass --resource`,
    { details: { storageKey } },
  );
}

function resourceAt(segments: readonly string[], i: number): string {
  const first = segments[i]!;
  // CRDs and aggregated APIs are stored under `<group>/<resource>/…` (the group has a dot).
  if (first.includes(".") && i + 1 < segments.length) return `${segments[i + 1]}.${first}`;
  if (first === "services" && segments[i + 1] === "endpoints") return "endpoints";
  return STORAGE_SEGMENT_TO_RESOURCE.get(first) ?? first;
}
