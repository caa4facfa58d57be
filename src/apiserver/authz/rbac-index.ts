import { isPlainObject, metaOf, type KubeObject } from "../../kube-object/types.js";
import type { UserInfo } from "../authn.js";
import { policyRulesOf, type PolicyRule } from "./rbac-rules.js";
import { SERVICE_ACCOUNT_USERNAME_PREFIX } from "./service-accounts.js";

/**
 * The RBAC objects in memory, indexed the way the authorizer asks: bindings by the subjects they name
 * (users, groups, service accounts), roles by name. One request looks up a handful of keys instead of
 * scanning every binding. Fed by the RBAC cache's watch (rbac-cache.ts) or directly by tests.
 */

export interface Subject {
  readonly kind: string;
  readonly apiGroup: string;
  readonly name: string;
  readonly namespace: string;
}

export interface RoleRef {
  readonly apiGroup: string;
  readonly kind: string;
  readonly name: string;
}

export interface Binding {
  readonly kind: "RoleBinding" | "ClusterRoleBinding";
  readonly name: string;
  /** "" for a ClusterRoleBinding. */
  readonly namespace: string;
  readonly roleRef: RoleRef;
  readonly subjects: readonly Subject[];
}

export interface RoleRecord {
  readonly name: string;
  readonly namespace: string;
  readonly rules: readonly PolicyRule[];
  /** The object as stored (cluster roles: labels and aggregation rules for the aggregation controller). */
  readonly object: KubeObject;
}

/** Where the rule resolver reads RBAC objects from (the cache, or a fixed set in tests). */
export interface RbacSource {
  /** Changes whenever any object changes: what was resolved from an older generation is stale. */
  readonly generation: number;
  /** The ClusterRoleBindings that may apply to the user (a superset: callers check the subjects). */
  clusterRoleBindingsFor(user: UserInfo): readonly Binding[];
  /** The RoleBindings of `namespace` that may apply to the user (a superset). */
  roleBindingsFor(user: UserInfo, namespace: string): readonly Binding[];
  clusterRole(name: string): RoleRecord | undefined;
  role(namespace: string, name: string): RoleRecord | undefined;
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");

function subjectOf(json: unknown): Subject {
  const s = isPlainObject(json) ? json : {};
  return { kind: str(s.kind), apiGroup: str(s.apiGroup), name: str(s.name), namespace: str(s.namespace) };
}

export function bindingOf(obj: KubeObject): Binding {
  const meta = metaOf(obj);
  const ref = isPlainObject(obj.roleRef) ? obj.roleRef : {};
  return {
    kind: obj.kind === "RoleBinding" ? "RoleBinding" : "ClusterRoleBinding",
    name: meta.name ?? "",
    namespace: obj.kind === "RoleBinding" ? (meta.namespace ?? "") : "",
    roleRef: { apiGroup: str(ref.apiGroup), kind: str(ref.kind), name: str(ref.name) },
    subjects: Array.isArray(obj.subjects) ? obj.subjects.map(subjectOf) : [],
  };
}

export function roleRecordOf(obj: KubeObject): RoleRecord {
  const meta = metaOf(obj);
  return {
    name: meta.name ?? "",
    namespace: meta.namespace ?? "",
    rules: policyRulesOf(obj.rules),
    object: obj,
  };
}

/** The index keys a subject is found under (a service account's namespace defaults to the binding's). */
function subjectKey(s: Subject, bindingNamespace: string): string | undefined {
  switch (s.kind) {
    case "User":
      return `u:${s.name}`;
    case "Group":
      return `g:${s.name}`;
    case "ServiceAccount": {
      const ns = s.namespace !== "" ? s.namespace : bindingNamespace;
      return ns === "" ? undefined : `sa:${ns}:${s.name}`;
    }
    default:
      return undefined;
  }
}

/** The keys a user's bindings are found under. */
function userKeys(user: UserInfo): string[] {
  const keys = [`u:${user.name}`, ...user.groups.map((g) => `g:${g}`)];
  if (user.name.startsWith(SERVICE_ACCOUNT_USERNAME_PREFIX))
    keys.push(`sa:${user.name.slice(SERVICE_ACCOUNT_USERNAME_PREFIX.length)}`);
  return keys;
}

/** Bindings by name and by subject key. */
class BindingSet {
  private readonly byName = new Map<string, Binding>();
  private readonly bySubject = new Map<string, Set<Binding>>();

  get size(): number {
    return this.byName.size;
  }

  put(b: Binding): void {
    this.delete(b.name);
    this.byName.set(b.name, b);
    for (const s of b.subjects) {
      const key = subjectKey(s, b.namespace);
      if (key === undefined) continue;
      let set = this.bySubject.get(key);
      if (set === undefined) this.bySubject.set(key, (set = new Set()));
      set.add(b);
    }
  }

  delete(name: string): void {
    const old = this.byName.get(name);
    if (old === undefined) return;
    this.byName.delete(name);
    for (const s of old.subjects) {
      const key = subjectKey(s, old.namespace);
      const set = key === undefined ? undefined : this.bySubject.get(key);
      set?.delete(old);
      if (set?.size === 0 && key !== undefined) this.bySubject.delete(key);
    }
  }

  /** The bindings naming one of the user's keys, in name order (kube's decisions do not depend on it). */
  for(user: UserInfo): Binding[] {
    const found = new Set<Binding>();
    for (const key of userKeys(user)) for (const b of this.bySubject.get(key) ?? []) found.add(b);
    const out = [...found];
    if (out.length > 1) out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  all(): Binding[] {
    return [...this.byName.values()];
  }
}

export class RbacIndex implements RbacSource {
  private readonly clusterBindings = new BindingSet();
  private readonly namespaceBindings = new Map<string, BindingSet>();
  private readonly clusterRoles = new Map<string, RoleRecord>();
  private readonly roles = new Map<string, RoleRecord>();
  private changes = 0;

  get generation(): number {
    return this.changes;
  }

  /** Adds or replaces an object of any of the four RBAC kinds. */
  put(obj: KubeObject): void {
    const meta = metaOf(obj);
    this.changes++;
    switch (obj.kind) {
      case "ClusterRoleBinding":
        this.clusterBindings.put(bindingOf(obj));
        break;
      case "RoleBinding": {
        const ns = meta.namespace ?? "";
        let set = this.namespaceBindings.get(ns);
        if (set === undefined) this.namespaceBindings.set(ns, (set = new BindingSet()));
        set.put(bindingOf(obj));
        break;
      }
      case "ClusterRole":
        this.clusterRoles.set(meta.name ?? "", roleRecordOf(obj));
        break;
      case "Role":
        this.roles.set(`${meta.namespace ?? ""}/${meta.name ?? ""}`, roleRecordOf(obj));
        break;
    }
  }

  delete(kind: string, namespace: string, name: string): void {
    this.changes++;
    switch (kind) {
      case "ClusterRoleBinding":
        this.clusterBindings.delete(name);
        break;
      case "RoleBinding": {
        const set = this.namespaceBindings.get(namespace);
        set?.delete(name);
        if (set?.size === 0) this.namespaceBindings.delete(namespace);
        break;
      }
      case "ClusterRole":
        this.clusterRoles.delete(name);
        break;
      case "Role":
        this.roles.delete(`${namespace}/${name}`);
        break;
    }
  }

  clusterRoleBindingsFor(user: UserInfo): readonly Binding[] {
    return this.clusterBindings.for(user);
  }

  roleBindingsFor(user: UserInfo, namespace: string): readonly Binding[] {
    return this.namespaceBindings.get(namespace)?.for(user) ?? [];
  }

  clusterRole(name: string): RoleRecord | undefined {
    return this.clusterRoles.get(name);
  }

  role(namespace: string, name: string): RoleRecord | undefined {
    return this.roles.get(`${namespace}/${name}`);
  }

  /** Every cluster role (the aggregation controller selects among them). */
  allClusterRoles(): RoleRecord[] {
    return [...this.clusterRoles.values()];
  }

  counts(): { clusterRoleBindings: number; roleBindings: number; clusterRoles: number; roles: number } {
    let roleBindings = 0;
    for (const set of this.namespaceBindings.values()) roleBindings += set.size;
    return {
      clusterRoleBindings: this.clusterBindings.size,
      roleBindings,
      clusterRoles: this.clusterRoles.size,
      roles: this.roles.size,
    };
  }
}
