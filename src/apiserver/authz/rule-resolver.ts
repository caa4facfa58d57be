import { LRUCache } from "lru-cache";
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

/** One step of a user's resolution: a rule and where it came from, or an error met on the way. */
interface Resolved {
  readonly source?: RuleSource;
  readonly rule?: PolicyRule;
  readonly error?: string;
}

/** How many users × namespaces keep their resolution between RBAC changes. */
const RESOLVED_CACHE_ENTRIES = 4096;

export class RuleResolver {
  /**
   * The resolution of (user name, groups, namespace) — the only inputs it depends on — kept until the
   * RBAC objects change (the source's generation), so a request does not rebuild it from the indexes.
   */
  private readonly resolved = new LRUCache<string, readonly Resolved[]>({ max: RESOLVED_CACHE_ENTRIES });
  private resolvedGeneration = -1;

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
    for (const r of this.resolve(user, namespace)) if (!visitor(r.source, r.rule, r.error)) return;
  }

  private resolve(user: UserInfo, namespace: string): readonly Resolved[] {
    if (this.resolvedGeneration !== this.source.generation) {
      this.resolved.clear();
      this.resolvedGeneration = this.source.generation;
    }
    // NUL cannot be in a name that came through HTTP headers, a token file line or a certificate.
    const key = `${namespace}\0${user.name}\0${user.groups.join("\0")}`;
    let out = this.resolved.get(key);
    if (out !== undefined) return out;
    const steps: Resolved[] = [];
    const addBindings = (bindings: readonly Binding[], bindingNamespace: string): void => {
      for (const binding of bindings) {
        const subject = appliesTo(user, binding, bindingNamespace);
        if (subject === undefined) continue;
        const found = this.roleReferenceRules(binding.roleRef, bindingNamespace);
        if ("error" in found) steps.push({ error: found.error });
        else for (const rule of found.rules) steps.push({ source: { binding, subject }, rule });
      }
    };
    addBindings(this.source.clusterRoleBindingsFor(user), "");
    if (namespace !== "") addBindings(this.source.roleBindingsFor(user, namespace), namespace);
    out = steps;
    this.resolved.set(key, out);
    return out;
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
