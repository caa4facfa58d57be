import { isPlainObject, metaOf, type KubeObject } from "../../kube-object/types.js";
import type { UserInfo } from "../authn.js";
import type { ResourceInfo } from "../resources.js";
import { forbidden, notFound } from "../status.js";
import {
  bindingAuthorized,
  escalationAllowed,
  escalationProblem,
  FULL_AUTHORITY,
  roleEscalationAuthorized,
} from "./escalation.js";
import { bindingOf } from "./rbac-index.js";
import { policyRulesOf } from "./rbac-rules.js";
import type { RuleResolver } from "./rule-resolver.js";
import type { Authorizer } from "./types.js";

/**
 * kube's policy-based RBAC storage (pkg/registry/rbac/*\/policybased): the check every create and update
 * of a Role, ClusterRole, RoleBinding or ClusterRoleBinding passes, with the writer's identity. It runs on
 * the validated object (on each attempt of an update), so a refused write changes nothing.
 */

const GROUP = "rbac.authorization.k8s.io";

/** kube's IsOnlyMutatingGCFields: owner references, finalizers and the deletion fields only. */
function onlyGcFieldsChanged(next: KubeObject, old: KubeObject): boolean {
  const copy = structuredClone(next);
  const meta = metaOf(copy);
  const oldMeta = metaOf(old);
  for (const f of [
    "ownerReferences",
    "finalizers",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
  ]) {
    if (oldMeta[f] === undefined) delete meta[f];
    else meta[f] = oldMeta[f];
  }
  return canonical(copy) === canonical(old);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    isPlainObject(val)
      ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
}

function forbiddenWrite(info: ResourceInfo, name: string, why: string): Error {
  return forbidden(`${info.resource}.${GROUP} ${JSON.stringify(name)} is forbidden: ${why}`, {
    name,
    group: GROUP,
    kind: info.resource,
  });
}

export interface WriteGuardContext {
  readonly authorizer: Authorizer;
  readonly resolver: RuleResolver;
}

/**
 * The admission check for an RBAC write by `user` in `namespace` ("" for cluster-scoped kinds); undefined
 * for other resources. `urlName` is the name the request's path has (none for a create): kube authorizes
 * the `escalate` verb on it. `old` is the current object on updates.
 */
export function rbacWriteCheck(
  ctx: WriteGuardContext,
  info: ResourceInfo,
  user: UserInfo,
  namespace: string,
  urlName: string,
): ((obj: KubeObject, old: KubeObject | undefined) => void) | undefined {
  if (info.group !== GROUP) return undefined;
  if (escalationAllowed(user)) return () => undefined;
  switch (info.resource) {
    case "roles":
    case "clusterroles":
      return (obj, old) => {
        const name = metaOf(obj).name ?? "";
        const resource = info.resource === "roles" ? "roles" : "clusterroles";
        if (roleEscalationAuthorized(ctx.authorizer, user, resource, namespace, urlName)) return;
        if (old !== undefined && onlyGcFieldsChanged(obj, old)) return;
        const problem = escalationProblem(ctx.resolver, user, namespace, policyRulesOf(obj.rules));
        if (problem !== undefined) throw forbiddenWrite(info, name, problem);
        const aggregates = (o: KubeObject | undefined): boolean =>
          o !== undefined && isPlainObject(o.aggregationRule);
        if (info.resource === "clusterroles" && (aggregates(obj) || aggregates(old))) {
          if (escalationProblem(ctx.resolver, user, namespace, FULL_AUTHORITY) !== undefined)
            throw forbiddenWrite(info, name, "must have cluster-admin privileges to use the aggregationRule");
        }
      };
    case "rolebindings":
    case "clusterrolebindings":
      return (obj, old) => {
        const binding = bindingOf(obj);
        if (old !== undefined && onlyGcFieldsChanged(obj, old)) return;
        if (bindingAuthorized(ctx.authorizer, user, binding.roleRef, namespace)) return;
        const found = ctx.resolver.roleReferenceRules(binding.roleRef, namespace);
        if ("error" in found) {
          const resource = binding.roleRef.kind === "Role" ? "roles" : "clusterroles";
          throw notFound({ resource, group: GROUP }, binding.roleRef.name);
        }
        const problem = escalationProblem(ctx.resolver, user, namespace, found.rules);
        if (problem !== undefined) throw forbiddenWrite(info, binding.name, problem);
      };
    default:
      return undefined;
  }
}
