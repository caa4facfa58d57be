/** Kubernetes objects travel through the apiserver in their JSON form (what `kubectl get -o json` shows). */
export type KubeObject = Record<string, unknown>;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: unknown[];
  managedFields?: unknown[];
  [field: string]: unknown;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The object's metadata, created empty when absent. */
export function metaOf(obj: KubeObject): ObjectMeta {
  const meta = obj.metadata;
  if (isPlainObject(meta)) return meta;
  const fresh: ObjectMeta = {};
  obj.metadata = fresh;
  return fresh;
}

/** RFC 3339 with second precision, as Kubernetes writes metav1.Time. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
