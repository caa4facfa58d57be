import type { UserInfo } from "../authn.js";
import { ALL, type PolicyRule } from "./rbac-rules.js";
import type { RoleRef } from "./rbac-index.js";
import { aggregateErrors, type RuleResolver } from "./rule-resolver.js";
import { SYSTEM_PRIVILEGED_GROUP } from "./service-accounts.js";
import type { Authorizer } from "./types.js";

/**
 * kube's RBAC escalation prevention (pkg/registry/rbac: policybased storage, validation.ConfirmNoEscalation,
 * policy_comparator.go, policy_compact.go): nobody writes a role granting more than they hold, or a binding
 * to a role they could not have written, unless they may `escalate` (roles) or `bind` (bindings) — or are
 * in system:masters.
 */

const RBAC_GROUP = "rbac.authorization.k8s.io";

/** Every rule broken down to one group, resource, verb and resource name (kube's BreakdownRule). */
export function breakdownRule(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  const one = (p: Partial<PolicyRule>): PolicyRule => ({
    verbs: [],
    apiGroups: [],
    resources: [],
    resourceNames: [],
    nonResourceURLs: [],
    ...p,
  });
  for (const group of rule.apiGroups)
    for (const resource of rule.resources)
      for (const verb of rule.verbs) {
        if (rule.resourceNames.length > 0)
          for (const name of rule.resourceNames)
            out.push(
              one({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] }),
            );
        else out.push(one({ apiGroups: [group], resources: [resource], verbs: [verb] }));
      }
  for (const url of rule.nonResourceURLs)
    for (const verb of rule.verbs) out.push(one({ nonResourceURLs: [url], verbs: [verb] }));
  return out;
}

const hasAll = (set: readonly string[], wanted: readonly string[]): boolean =>
  wanted.every((w) => set.includes(w));

function resourceCoversAll(owner: readonly string[], wanted: readonly string[]): boolean {
  if (owner.includes(ALL) || hasAll(owner, wanted)) return true;
  for (const path of wanted) {
    if (owner.includes(path)) continue;
    const slash = path.indexOf("/");
    if (slash < 0) return false;
    if (!owner.includes(`*/${path.slice(slash + 1)}`)) return false;
  }
  return true;
}

function nonResourceURLCovers(owner: string, sub: string): boolean {
  return owner === sub || (owner.endsWith("*") && sub.startsWith(owner.replace(/\*+$/, "")));
}

/** kube's ruleCovers: does the owner rule allow everything the (broken down) sub rule allows? */
export function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const verbs = owner.verbs.includes(ALL) || hasAll(owner.verbs, sub.verbs);
  const groups = owner.apiGroups.includes(ALL) || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourceCoversAll(owner.resources, sub.resources);
  const urls = sub.nonResourceURLs.every((u) =>
    owner.nonResourceURLs.some((o) => nonResourceURLCovers(o, u)),
  );
  const names =
    sub.resourceNames.length === 0
      ? owner.resourceNames.length === 0
      : owner.resourceNames.length === 0 || hasAll(owner.resourceNames, sub.resourceNames);
  return verbs && groups && resources && names && urls;
}

/** kube's Covers: whether the owner's rules cover the servant's, and the broken-down rules they miss. */
export function covers(ownerRules: readonly PolicyRule[], servantRules: readonly PolicyRule[]): PolicyRule[] {
  return servantRules.flatMap(breakdownRule).filter((sub) => !ownerRules.some((o) => ruleCovers(o, sub)));
}

/** kube's CompactRules: simple one-group/one-resource rules that differ only by verb are merged. */
export function compactRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const compacted: PolicyRule[] = [];
  const simple = new Map<string, PolicyRule>();
  for (const r of rules) {
    const isSimple =
      r.resourceNames.length <= 1 &&
      r.nonResourceURLs.length === 0 &&
      r.apiGroups.length === 1 &&
      r.resources.length === 1;
    if (!isSimple) {
      compacted.push(r);
      continue;
    }
    const key = JSON.stringify([
      r.apiGroups[0],
      r.resources[0],
      r.resourceNames.length > 0,
      r.resourceNames[0] ?? "",
    ]);
    const existing = simple.get(key);
    simple.set(
      key,
      existing === undefined
        ? { ...r, verbs: [...r.verbs] }
        : { ...existing, verbs: [...existing.verbs, ...r.verbs] },
    );
  }
  return [...compacted, ...simple.values()];
}

/** Go's %q of a []string: `["a" "b"]`. */
function goQuotedList(values: readonly string[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(" ")}]`;
}

/** kube's rbacv1helpers.CompactString: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`. */
export function compactString(r: PolicyRule): string {
  const parts: string[] = [];
  if (r.apiGroups.length > 0) parts.push(`APIGroups:${goQuotedList(r.apiGroups)}`);
  if (r.resources.length > 0) parts.push(`Resources:${goQuotedList(r.resources)}`);
  if (r.nonResourceURLs.length > 0) parts.push(`NonResourceURLs:${goQuotedList(r.nonResourceURLs)}`);
  if (r.resourceNames.length > 0) parts.push(`ResourceNames:${goQuotedList(r.resourceNames)}`);
  if (r.verbs.length > 0) parts.push(`Verbs:${goQuotedList(r.verbs)}`);
  return `{${parts.join(", ")}}`;
}

/**
 * kube's ConfirmNoEscalation: undefined when the user's rules in the namespace cover `rules`, else the
 * message naming what is missing (kube sorts the descriptions).
 */
export function escalationProblem(
  resolver: RuleResolver,
  user: UserInfo,
  namespace: string,
  rules: readonly PolicyRule[],
): string | undefined {
  const owner = resolver.rulesFor(user, namespace);
  const missing = covers(owner.rules, rules);
  if (missing.length === 0) return undefined;
  const descriptions = [...new Set(compactRules(missing).map(compactString))].sort();
  let msg = `user ${JSON.stringify(user.name)} (groups=${goQuotedList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${descriptions.join("\n")}`;
  // Go's %v of a []error holding the resolver's aggregate.
  if (owner.errors.length > 0) msg += `; resolution errors: [${aggregateErrors(owner.errors)}]`;
  return msg;
}

/** kube's EscalationAllowed: system:masters may grant anything. */
export function escalationAllowed(user: UserInfo): boolean {
  return user.groups.includes(SYSTEM_PRIVILEGED_GROUP);
}

/** kube's RoleEscalationAuthorized: the `escalate` verb on the role being written. */
export function roleEscalationAuthorized(
  authorizer: Authorizer,
  user: UserInfo,
  resource: "roles" | "clusterroles",
  namespace: string,
  name: string,
): boolean {
  return (
    authorizer.authorize({
      user,
      verb: "escalate",
      isResourceRequest: true,
      path: "",
      namespace,
      resource,
      subresource: "",
      apiGroup: RBAC_GROUP,
      apiVersion: "*",
      name,
    }).decision === "Allow"
  );
}

/** kube's BindingAuthorized: the `bind` verb on the role a binding references. */
export function bindingAuthorized(
  authorizer: Authorizer,
  user: UserInfo,
  ref: RoleRef,
  namespace: string,
): boolean {
  const resource = ref.kind === "ClusterRole" ? "clusterroles" : ref.kind === "Role" ? "roles" : undefined;
  if (resource === undefined) return false;
  return (
    authorizer.authorize({
      user,
      verb: "bind",
      isResourceRequest: true,
      path: "",
      // A ClusterRoleBinding's namespace is "": the bind must be allowed cluster-wide.
      namespace,
      resource,
      subresource: "",
      apiGroup: ref.apiGroup,
      apiVersion: "*",
      name: ref.name,
    }).decision === "Allow"
  );
}

/** To set an aggregation rule, which can gather anything, one needs * on *.* (kube's fullAuthority). */
export const FULL_AUTHORITY: readonly PolicyRule[] = [
  { verbs: [ALL], apiGroups: [ALL], resources: [ALL], resourceNames: [], nonResourceURLs: [] },
  { verbs: [ALL], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [ALL] },
];
