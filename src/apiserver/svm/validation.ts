import type { KubeObject } from "../../kube-object/types.js";
import type { FieldError } from "../status.js";
import { targetOf } from "./api.js";

/**
 * kube's StorageVersionMigration validation (pkg/apis/storagemigration/validation): the resource is
 * required (and, in v1alpha1, its version), and it never changes. The immutability errors carry the
 * bare field names kube gives them ("group", "version", "resource").
 */
export function validateStorageVersionMigration(
  version: "v1alpha1" | "v1beta1",
): (obj: KubeObject, old: KubeObject | undefined) => FieldError[] {
  return (obj, old) => {
    const errs: FieldError[] = [];
    const t = targetOf(obj);
    if (t.resource === "")
      errs.push({
        field: "spec.resource.resource",
        type: "FieldValueRequired",
        detail: "resource is required",
      });
    if (version === "v1alpha1" && (t.version ?? "") === "")
      errs.push({
        field: "spec.resource.version",
        type: "FieldValueRequired",
        detail: "version is required",
      });
    if (old === undefined) return errs;
    const was = targetOf(old);
    const fields =
      version === "v1alpha1" ? (["group", "version", "resource"] as const) : (["group", "resource"] as const);
    for (const f of fields) {
      if ((t[f] ?? "") !== (was[f] ?? ""))
        errs.push({ field: f, type: "FieldValueInvalid", value: t[f] ?? "", detail: "field is immutable" });
    }
    return errs;
  };
}
