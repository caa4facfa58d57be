import type { UserInfo } from "../authn.js";
import type { Binding, RbacSource, RoleRef, Subject } from "./rbac-index.js";
import type { PolicyRule } from "./rbac-rules.js";
import { matchesServiceAccount } from "./service-accounts.js";

/**
 * kube's DefaultRuleResolver (pkg/registry/rbac/validation/rule.go): which bindings apply to a user in a
 * namespace (the cluster's ClusterRoleBindings, then the namespace's RoleBindings), and the rules of the
 * roles they reference. A missing role is an error that is reported, not a reason to stop.
 */

/** Where a rule came from, as kube's "allowed by …" reasons describe it. */
export interface RuleSource {
  readonly binding: Binding;
  readonly subject: Subject;
}

/** Returns false to stop the visit. */
export type RuleVisitor = (
  source: RuleSource | undefined,
  rule: PolicyRule | undefined,
  err: string | undefined,
) => boolean;

/** kube's appliesToUser. */
export function subjectAppliesTo(user: UserInfo, subject: Subject, namespace: string): boolean {
  switch (subject.kind) {
    case "User":
      return user.name === subject.name;
    case "Group":
      return user.groups.includes(subject.name);
    case "ServiceAccount": {
      const ns = subject.namespace !== "" ? subject.namespace : namespace;
      return ns !== "" && matchesServiceAccount(ns, subject.name, user.name);
    }
    default:
      return false;
  }
}

function appliesTo(user: UserInfo, binding: Binding, namespace: string): Subject | undefined {
  return binding.subjects.find((s) => subjectAppliesTo(user, s, namespace));
}

export class RuleResolver {
  constructor(private readonly source: RbacSource) {}

  /** The rules a role reference grants, or kube's lister error (`role.rbac.authorization.k8s.io "x" not found`). */
  roleReferenceRules(ref: RoleRef, namespace: string): { rules: readonly PolicyRule[] } | { error: string } {
    switch (ref.kind) {
      case "Role": {
        const role = this.source.role(namespace, ref.name);
        return role === undefined
          ? { error: `role.rbac.authorization.k8s.io "${ref.name}" not found` }
          : { rules: role.rules };
      }
      case "ClusterRole": {
        const role = this.source.clusterRole(ref.name);
        return role === undefined
          ? { error: `clusterrole.rbac.authorization.k8s.io "${ref.name}" not found` }
          : { rules: role.rules };
      }
      default:
        return { error: `unsupported role reference kind: ${JSON.stringify(ref.kind)}` };
    }
  }

  visitRulesFor(user: UserInfo, namespace: string, visitor: RuleVisitor): void {
    const visitBindings = (bindings: readonly Binding[], bindingNamespace: string): boolean => {
      for (const binding of bindings) {
        const subject = appliesTo(user, binding, bindingNamespace);
        if (subject === undefined) continue;
        const found = this.roleReferenceRules(binding.roleRef, bindingNamespace);
        if ("error" in found) {
          if (!visitor(undefined, undefined, found.error)) return false;
          continue;
        }
        for (const rule of found.rules) if (!visitor({ binding, subject }, rule, undefined)) return false;
      }
      return true;
    };
    if (!visitBindings(this.source.clusterRoleBindingsFor(user), "")) return;
    if (namespace !== "") visitBindings(this.source.roleBindingsFor(user, namespace), namespace);
  }

  /** Every rule the user holds in the namespace (cluster-wide ones included), and the errors met. */
  rulesFor(user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
    const rules: PolicyRule[] = [];
    const errors: string[] = [];
    this.visitRulesFor(user, namespace, (_source, rule, err) => {
      if (rule !== undefined) rules.push(rule);
      if (err !== undefined) errors.push(err);
      return true;
    });
    return { rules, errors };
  }
}

/** kube's utilerrors.NewAggregate(...).Error(): one message, or `[a, b]` without repeats. */
export function aggregateErrors(errors: readonly string[]): string {
  const unique = [...new Set(errors)];
  if (unique.length === 1) return unique[0] ?? "";
  return unique.length === 0 ? "" : `[${unique.join(", ")}]`;
}

/** kube's "allowed by" source description (clusterRoleBindingDescriber / roleBindingDescriber). */
export function describeSource(source: RuleSource): string {
  const { binding, subject } = source;
  const who =
    subject.kind === "ServiceAccount"
      ? `${subject.kind} ${JSON.stringify(`${subject.name}/${subject.namespace !== "" ? subject.namespace : binding.namespace}`)}`
      : `${subject.kind} ${JSON.stringify(subject.name)}`;
  const name = binding.kind === "RoleBinding" ? `${binding.name}/${binding.namespace}` : binding.name;
  return `${binding.kind} ${JSON.stringify(name)} of ${binding.roleRef.kind} ${JSON.stringify(binding.roleRef.name)} to ${who}`;
}
