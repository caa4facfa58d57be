import type { ResourceInfo } from "../resources.js";
import {
  fieldsMatch,
  labelSelector,
  parseFieldSelector,
  type FieldRequirement,
  type Selector,
} from "../selectors.js";
import { isPlainObject, metaOf, type KubeObject } from "../../kube-object/types.js";

/** A list's or watch's label and field selectors, parsed once, and the test of one object against them. */

export interface Filter {
  readonly labels: Selector | undefined;
  readonly fields: readonly FieldRequirement[];
}

export function filterOf(
  info: ResourceInfo,
  q: { readonly labelSelector?: string; readonly fieldSelector?: string },
): Filter {
  return {
    labels: labelSelector(q.labelSelector),
    fields: parseFieldSelector(q.fieldSelector, info.fieldSelectors),
  };
}

/** Whether the filter selects anything less than everything. */
export function isSelective(f: Filter): boolean {
  return f.labels !== undefined || f.fields.length > 0;
}

export function matches(f: Filter, obj: KubeObject): boolean {
  const meta = metaOf(obj);
  if (f.labels !== undefined && !f.labels(isPlainObject(meta.labels) ? meta.labels : {})) return false;
  if (f.fields.length === 0) return true;
  const fields: Record<string, string> = {
    "metadata.name": meta.name ?? "",
    "metadata.namespace": meta.namespace ?? "",
  };
  if (typeof obj.type === "string" || obj.kind === "Secret")
    fields.type = typeof obj.type === "string" ? obj.type : "Opaque";
  if (isPlainObject(obj.status) && typeof obj.status.phase === "string")
    fields["status.phase"] = obj.status.phase;
  return fieldsMatch(f.fields, fields);
}
