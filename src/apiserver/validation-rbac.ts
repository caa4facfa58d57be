import { isPlainObject, type KubeObject } from "../kube-object/types.js";
import type { FieldError } from "./status.js";
import {
  dns1123SubdomainErrors,
  labelValueErrors,
  pathSegmentNameErrors,
  qualifiedNameErrors,
} from "./validation.js";

/**
 * kube's RBAC validation (pkg/apis/rbac/validation) and defaulting (SetDefaults_Subject, _RoleBinding,
 * _ClusterRoleBinding), with kube's messages.
 */

export const RBAC_GROUP = "rbac.authorization.k8s.io";

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

/** Go's %#v of a []string, as field.Error renders a list value. */
export function goStringSlice(values: readonly string[]): string {
  return `[]string{${values.map((v) => JSON.stringify(v)).join(", ")}}`;
}

function supported(values: readonly string[]): string {
  return `supported values: ${values.map((v) => JSON.stringify(v)).join(", ")}`;
}

export function validatePolicyRule(rule: unknown, namespaced: boolean, path: string): FieldError[] {
  const r = isPlainObject(rule) ? rule : {};
  const errs: FieldError[] = [];
  if (strings(r.verbs).length === 0)
    errs.push({
      field: `${path}.verbs`,
      type: "FieldValueRequired",
      detail: "verbs must contain at least one value",
    });
  const urls = strings(r.nonResourceURLs);
  if (urls.length > 0) {
    const value = { goSyntax: goStringSlice(urls) };
    if (namespaced)
      errs.push({
        field: `${path}.nonResourceURLs`,
        type: "FieldValueInvalid",
        value,
        detail: "namespaced rules cannot apply to non-resource URLs",
      });
    if (
      strings(r.apiGroups).length > 0 ||
      strings(r.resources).length > 0 ||
      strings(r.resourceNames).length > 0
    )
      errs.push({
        field: `${path}.nonResourceURLs`,
        type: "FieldValueInvalid",
        value,
        detail: "rules cannot apply to both regular resources and non-resource URLs",
      });
    return errs;
  }
  if (strings(r.apiGroups).length === 0)
    errs.push({
      field: `${path}.apiGroups`,
      type: "FieldValueRequired",
      detail: "resource rules must supply at least one api group",
    });
  if (strings(r.resources).length === 0)
    errs.push({
      field: `${path}.resources`,
      type: "FieldValueRequired",
      detail: "resource rules must supply at least one resource",
    });
  return errs;
}

function validateRules(obj: KubeObject, namespaced: boolean): FieldError[] {
  if (obj.rules === undefined || obj.rules === null) return [];
  if (!Array.isArray(obj.rules))
    return [{ field: "rules", type: "FieldValueInvalid", value: obj.rules, detail: "must be a list" }];
  return obj.rules.flatMap((rule, i) => validatePolicyRule(rule, namespaced, `rules[${i}]`));
}

export function validateRole(obj: KubeObject): FieldError[] {
  return validateRules(obj, true);
}

/** metav1validation.ValidateLabelSelector, for aggregation rules. */
function validateLabelSelector(selector: unknown, path: string): FieldError[] {
  if (!isPlainObject(selector)) return [];
  const errs: FieldError[] = [];
  if (isPlainObject(selector.matchLabels)) {
    for (const [k, v] of Object.entries(selector.matchLabels)) {
      for (const e of qualifiedNameErrors(k))
        errs.push({ field: `${path}.matchLabels`, type: "FieldValueInvalid", value: k, detail: e });
      for (const e of labelValueErrors(String(v)))
        errs.push({ field: `${path}.matchLabels`, type: "FieldValueInvalid", value: v, detail: e });
    }
  }
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  exprs.forEach((expr, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const x = isPlainObject(expr) ? expr : {};
    const values = strings(x.values);
    const op = typeof x.operator === "string" ? x.operator : "";
    if (op === "In" || op === "NotIn") {
      if (values.length === 0)
        errs.push({
          field: `${p}.values`,
          type: "FieldValueRequired",
          detail: "must be specified when `operator` is 'In' or 'NotIn'",
        });
    } else if (op === "Exists" || op === "DoesNotExist") {
      if (values.length > 0)
        errs.push({
          field: `${p}.values`,
          type: "FieldValueForbidden",
          detail: "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        });
    } else
      errs.push({
        field: `${p}.operator`,
        type: "FieldValueInvalid",
        value: op,
        detail: "not a valid selector operator",
      });
    const key = typeof x.key === "string" ? x.key : "";
    for (const e of qualifiedNameErrors(key))
      errs.push({ field: `${p}.key`, type: "FieldValueInvalid", value: key, detail: e });
    values.forEach((v, j) => {
      for (const e of labelValueErrors(v))
        errs.push({ field: `${p}.values[${j}]`, type: "FieldValueInvalid", value: v, detail: e });
    });
  });
  return errs;
}

export function validateClusterRole(obj: KubeObject): FieldError[] {
  const errs = validateRules(obj, false);
  const agg = obj.aggregationRule;
  if (agg !== undefined && agg !== null) {
    const selectors =
      isPlainObject(agg) && Array.isArray(agg.clusterRoleSelectors) ? agg.clusterRoleSelectors : [];
    if (selectors.length === 0)
      errs.push({
        field: "aggregationRule.clusterRoleSelectors",
        type: "FieldValueRequired",
        detail: "at least one clusterRoleSelector required if aggregationRule is non-nil",
      });
    selectors.forEach((sel, i) =>
      errs.push(...validateLabelSelector(sel, `aggregationRule.clusterRoleSelectors[${i}]`)),
    );
  }
  return errs;
}

const SUBJECT_KINDS = ["ServiceAccount", "User", "Group"];

function validateSubject(subject: unknown, namespaced: boolean, path: string): FieldError[] {
  const s = isPlainObject(subject) ? subject : {};
  const errs: FieldError[] = [];
  const name = typeof s.name === "string" ? s.name : "";
  const apiGroup = typeof s.apiGroup === "string" ? s.apiGroup : "";
  if (name === "") errs.push({ field: `${path}.name`, type: "FieldValueRequired", detail: "" });
  switch (s.kind) {
    case "ServiceAccount":
      if (name !== "")
        for (const e of dns1123SubdomainErrors(name))
          errs.push({ field: `${path}.name`, type: "FieldValueInvalid", value: name, detail: e });
      if (apiGroup !== "")
        errs.push({
          field: `${path}.apiGroup`,
          type: "FieldValueNotSupported",
          value: apiGroup,
          detail: supported([""]),
        });
      if (!namespaced && (typeof s.namespace !== "string" || s.namespace === ""))
        errs.push({ field: `${path}.namespace`, type: "FieldValueRequired", detail: "" });
      break;
    case "User":
    case "Group":
      if (apiGroup !== RBAC_GROUP)
        errs.push({
          field: `${path}.apiGroup`,
          type: "FieldValueNotSupported",
          value: apiGroup,
          detail: supported([RBAC_GROUP]),
        });
      break;
    default:
      errs.push({
        field: `${path}.kind`,
        type: "FieldValueNotSupported",
        value: typeof s.kind === "string" ? s.kind : "",
        detail: supported(SUBJECT_KINDS),
      });
  }
  return errs;
}

/** rbac.RoleRef as Go's %#v prints it (the value of "cannot change roleRef"). */
function roleRefGoSyntax(ref: unknown): string {
  const r = isPlainObject(ref) ? ref : {};
  const str = (v: unknown): string => JSON.stringify(typeof v === "string" ? v : "");
  return `rbac.RoleRef{APIGroup:${str(r.apiGroup)}, Kind:${str(r.kind)}, Name:${str(r.name)}}`;
}

function sameRoleRef(a: unknown, b: unknown): boolean {
  const x = isPlainObject(a) ? a : {};
  const y = isPlainObject(b) ? b : {};
  return x.apiGroup === y.apiGroup && x.kind === y.kind && x.name === y.name;
}

function validateBinding(obj: KubeObject, old: KubeObject | undefined, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const ref = isPlainObject(obj.roleRef) ? obj.roleRef : {};
  const apiGroup = typeof ref.apiGroup === "string" ? ref.apiGroup : "";
  if (apiGroup !== RBAC_GROUP)
    errs.push({
      field: "roleRef.apiGroup",
      type: "FieldValueNotSupported",
      value: apiGroup,
      detail: supported([RBAC_GROUP]),
    });
  const kinds = namespaced ? ["Role", "ClusterRole"] : ["ClusterRole"];
  const kind = typeof ref.kind === "string" ? ref.kind : "";
  if (!kinds.includes(kind))
    errs.push({
      field: "roleRef.kind",
      type: "FieldValueNotSupported",
      value: kind,
      detail: supported(kinds),
    });
  const name = typeof ref.name === "string" ? ref.name : "";
  if (name === "") errs.push({ field: "roleRef.name", type: "FieldValueRequired", detail: "" });
  else
    for (const e of pathSegmentNameErrors(name))
      errs.push({ field: "roleRef.name", type: "FieldValueInvalid", value: name, detail: e });
  const subjects = Array.isArray(obj.subjects) ? obj.subjects : [];
  subjects.forEach((s, i) => errs.push(...validateSubject(s, namespaced, `subjects[${i}]`)));
  if (old !== undefined && !sameRoleRef(old.roleRef, obj.roleRef))
    errs.push({
      field: "roleRef",
      type: "FieldValueInvalid",
      value: { goSyntax: roleRefGoSyntax(obj.roleRef) },
      detail: "cannot change roleRef",
    });
  return errs;
}

export function validateRoleBinding(obj: KubeObject, old: KubeObject | undefined): FieldError[] {
  return validateBinding(obj, old, true);
}

export function validateClusterRoleBinding(obj: KubeObject, old: KubeObject | undefined): FieldError[] {
  return validateBinding(obj, old, false);
}

/** kube's v1 defaulting of bindings: roleRef.apiGroup, and User/Group subjects' apiGroup. */
export function defaultBinding(obj: KubeObject): void {
  if (isPlainObject(obj.roleRef) && (obj.roleRef.apiGroup === undefined || obj.roleRef.apiGroup === ""))
    obj.roleRef = { ...obj.roleRef, apiGroup: RBAC_GROUP };
  if (!Array.isArray(obj.subjects)) return;
  obj.subjects = obj.subjects.map((s: unknown) => {
    if (!isPlainObject(s) || (s.apiGroup !== undefined && s.apiGroup !== "")) return s;
    return s.kind === "User" || s.kind === "Group" ? { ...s, apiGroup: RBAC_GROUP } : s;
  });
}
