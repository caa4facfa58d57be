/**
 * Server-side apply and managedFields, after kube-apiserver's field manager and
 * sigs.k8s.io/structured-merge-diff: field sets, ownership per manager, apply merges and conflicts.
 */
export { APPLY_PATCH_TYPE, decodeApplyPatch } from "./apply-patch.js";
export { FieldManager, MAX_UPDATE_MANAGERS, type FieldManagerOptions } from "./field-manager.js";
export { FieldSet } from "./field-set.js";
export { LAST_APPLIED_ANNOTATION } from "./last-applied.js";
export { fieldManagerErrors, managerFromUserAgent } from "./manager-name.js";
export { typeOfKind, typeOfSchema } from "./type-schema.js";
