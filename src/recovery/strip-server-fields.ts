/**
 * What an object keeps when it is exported for re-creation in another cluster (`kubectl apply`):
 * what its author wrote, without what the old cluster's server set. Removed: `status`, and from
 * metadata `uid`, `resourceVersion`, `generation`, `creationTimestamp`, `deletionTimestamp`,
 * `deletionGracePeriodSeconds`, `managedFields`, `selfLink` — and `ownerReferences`, because they
 * name owners by the old cluster's uids: a garbage collector in the new cluster would find no such
 * owner and delete the re-created object. Labels, annotations and finalizers stay.
 */
import { isPlainObject, type KubeObject } from "../kube-object/types.js";

const SERVER_METADATA = [
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
  "ownerReferences",
] as const;

export function stripServerFields(object: KubeObject): KubeObject {
  const { status: _status, metadata, ...rest } = object;
  const meta: Record<string, unknown> = isPlainObject(metadata) ? { ...metadata } : {};
  for (const f of SERVER_METADATA) delete meta[f];
  // Put apiVersion, kind and metadata first, as kubectl prints them.
  const { apiVersion, kind, ...body } = rest;
  return { apiVersion, kind, metadata: meta, ...body };
}
