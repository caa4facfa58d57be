import { isPlainObject } from "../../kube-object/types.js";
import type { Attributes } from "./types.js";

/**
 * kube's rbac/v1 policy rules and how one matches a request (rbacv1helpers VerbMatches, APIGroupMatches,
 * ResourceMatches, ResourceNameMatches, NonResourceURLMatches; rbac.RuleAllows).
 */

export interface PolicyRule {
  readonly verbs: readonly string[];
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly resourceNames: readonly string[];
  readonly nonResourceURLs: readonly string[];
}

export const ALL = "*";

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

/** A rule from its JSON form (absent lists are empty). */
export function policyRuleOf(json: unknown): PolicyRule {
  const r = isPlainObject(json) ? json : {};
  return {
    verbs: strings(r.verbs),
    apiGroups: strings(r.apiGroups),
    resources: strings(r.resources),
    resourceNames: strings(r.resourceNames),
    nonResourceURLs: strings(r.nonResourceURLs),
  };
}

export function policyRulesOf(json: unknown): PolicyRule[] {
  return Array.isArray(json) ? json.map(policyRuleOf) : [];
}

/** The JSON form kube writes: verbs always, the other lists when non-empty. */
export function policyRuleJson(rule: PolicyRule): Record<string, unknown> {
  const out: Record<string, unknown> = { verbs: [...rule.verbs] };
  if (rule.apiGroups.length > 0) out.apiGroups = [...rule.apiGroups];
  if (rule.resources.length > 0) out.resources = [...rule.resources];
  if (rule.resourceNames.length > 0) out.resourceNames = [...rule.resourceNames];
  if (rule.nonResourceURLs.length > 0) out.nonResourceURLs = [...rule.nonResourceURLs];
  return out;
}

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === ALL || v === verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return rule.apiGroups.some((g) => g === ALL || g === group);
}

/** `*`, the exact `resource[/subresource]`, or `*\/subresource` (but not `resource/*`). */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources) {
    if (r === ALL || r === combined) return true;
    if (subresource === "") continue;
    if (r.length === subresource.length + 2 && r.startsWith("*/") && r.endsWith(subresource)) return true;
  }
  return false;
}

export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(name);
}

/** `*`, the exact path, or a prefix ending in `*`. */
export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return rule.nonResourceURLs.some(
    (u) => u === ALL || u === path || (u.endsWith("*") && path.startsWith(u.replace(/\*+$/, ""))),
  );
}

export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (a.isResourceRequest) {
    const combined = a.subresource === "" ? a.resource : `${a.resource}/${a.subresource}`;
    return (
      verbMatches(rule, a.verb) &&
      apiGroupMatches(rule, a.apiGroup) &&
      resourceMatches(rule, combined, a.subresource) &&
      resourceNameMatches(rule, a.name)
    );
  }
  return verbMatches(rule, a.verb) && nonResourceURLMatches(rule, a.path);
}
