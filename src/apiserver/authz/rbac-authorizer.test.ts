import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube-object/types.js";
import type { UserInfo } from "../authn.js";
import { authorizationFor, unionAuthorizer, alwaysDeny } from "./modes.js";
import { createRbacAuthorizer } from "./rbac-authorizer.js";
import { RbacIndex } from "./rbac-index.js";
import { RuleResolver } from "./rule-resolver.js";
import type { Attributes } from "./types.js";

/**
 * RBAC decisions, rules × requests, against kube's documented semantics (Using RBAC Authorization,
 * kubernetes.io/docs/reference/access-authn-authz/rbac/, and plugin/pkg/auth/authorizer/rbac).
 */

const role = (
  kind: "Role" | "ClusterRole",
  name: string,
  rules: unknown[],
  namespace?: string,
): KubeObject => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind,
  metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
  rules,
});
const binding = (
  kind: "RoleBinding" | "ClusterRoleBinding",
  name: string,
  roleRef: { kind: string; name: string },
  subjects: unknown[],
  namespace?: string,
): KubeObject => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind,
  metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
  subjects,
});
const user = (name: string): unknown => ({ kind: "User", apiGroup: "rbac.authorization.k8s.io", name });
const group = (name: string): unknown => ({ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name });
const sa = (name: string, namespace?: string): unknown => ({
  kind: "ServiceAccount",
  name,
  ...(namespace !== undefined ? { namespace } : {}),
});

const OBJECTS: KubeObject[] = [
  role("ClusterRole", "secret-reader", [
    { apiGroups: [""], resources: ["secrets"], verbs: ["get", "watch", "list"] },
  ]),
  role("ClusterRole", "named-config", [
    { apiGroups: [""], resources: ["configmaps"], resourceNames: ["my-config"], verbs: ["get", "update"] },
  ]),
  role("ClusterRole", "scaler", [{ apiGroups: ["*"], resources: ["*/scale"], verbs: ["update"] }]),
  role("ClusterRole", "pods-star", [{ apiGroups: [""], resources: ["pods/*"], verbs: ["get"] }]),
  role("ClusterRole", "log-reader", [{ apiGroups: [""], resources: ["pods/log"], verbs: ["get"] }]),
  role("ClusterRole", "health", [{ nonResourceURLs: ["/healthz", "/healthz/*"], verbs: ["get"] }]),
  role("ClusterRole", "core-only", [{ apiGroups: [""], resources: ["*"], verbs: ["*"] }]),
  role("Role", "dev-all", [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }], "dev"),
  binding("ClusterRoleBinding", "readers", { kind: "ClusterRole", name: "secret-reader" }, [
    group("managers"),
  ]),
  binding("ClusterRoleBinding", "health", { kind: "ClusterRole", name: "health" }, [
    group("system:authenticated"),
  ]),
  binding("ClusterRoleBinding", "ci-logs", { kind: "ClusterRole", name: "log-reader" }, [
    group("system:serviceaccounts:ci"),
  ]),
  binding("ClusterRoleBinding", "scalers", { kind: "ClusterRole", name: "scaler" }, [user("sam")]),
  binding("ClusterRoleBinding", "stars", { kind: "ClusterRole", name: "pods-star" }, [user("sam")]),
  binding("ClusterRoleBinding", "core", { kind: "ClusterRole", name: "core-only" }, [user("cora")]),
  // A service account in a ClusterRoleBinding needs its namespace: without one it matches nobody.
  binding("ClusterRoleBinding", "no-namespace", { kind: "ClusterRole", name: "secret-reader" }, [sa("lost")]),
  // A User subject spelled as a service account's username is that service account.
  binding("ClusterRoleBinding", "spelled", { kind: "ClusterRole", name: "log-reader" }, [
    user("system:serviceaccount:prod:web"),
  ]),
  binding("RoleBinding", "dev", { kind: "Role", name: "dev-all" }, [user("jane")], "dev"),
  // A service account without a namespace in a RoleBinding is in the binding's namespace.
  binding("RoleBinding", "robot", { kind: "ClusterRole", name: "secret-reader" }, [sa("robot")], "dev"),
  binding(
    "RoleBinding",
    "deployer",
    { kind: "ClusterRole", name: "named-config" },
    [sa("deployer", "ci")],
    "ops",
  ),
  binding("RoleBinding", "dangling", { kind: "ClusterRole", name: "missing" }, [user("dave")], "dev"),
  binding("RoleBinding", "dangling-role", { kind: "Role", name: "gone" }, [user("dave")], "dev"),
];

const index = new RbacIndex();
for (const o of OBJECTS) index.put(o);
const rbac = createRbacAuthorizer(new RuleResolver(index));

const u = (name: string, ...groups: string[]): UserInfo => ({
  name,
  uid: "",
  groups: [...groups, "system:authenticated"],
});
const SA = (namespace: string, name: string): UserInfo =>
  u(
    `system:serviceaccount:${namespace}:${name}`,
    "system:serviceaccounts",
    `system:serviceaccounts:${namespace}`,
  );

function req(who: UserInfo, verb: string, resource: string, over: Partial<Attributes> = {}): Attributes {
  const [res = "", sub = ""] = resource.split("/");
  return {
    user: who,
    verb,
    isResourceRequest: true,
    path: "",
    namespace: "default",
    apiGroup: "",
    apiVersion: "v1",
    resource: res,
    subresource: sub,
    name: "",
    ...over,
  };
}
const path = (who: UserInfo, verb: string, p: string): Attributes => ({
  ...req(who, verb, ""),
  isResourceRequest: false,
  path: p,
  namespace: "",
});

const cases: Array<{ what: string; attrs: Attributes; allowed: boolean; reason?: string }> = [
  {
    what: "a group's ClusterRoleBinding grants its verbs in every namespace",
    attrs: req(u("ann", "managers"), "get", "secrets", { namespace: "prod", name: "db" }),
    allowed: true,
    reason:
      'RBAC: allowed by ClusterRoleBinding "readers" of ClusterRole "secret-reader" to Group "managers"',
  },
  {
    what: "… and at the cluster scope",
    attrs: req(u("ann", "managers"), "list", "secrets", { namespace: "" }),
    allowed: true,
  },
  {
    what: "… but not other verbs",
    attrs: req(u("ann", "managers"), "delete", "secrets"),
    allowed: false,
    reason: "",
  },
  { what: "… nor other resources", attrs: req(u("ann", "managers"), "get", "configmaps"), allowed: false },
  { what: "no binding, no access", attrs: req(u("nobody"), "get", "secrets"), allowed: false, reason: "" },
  {
    what: "a RoleBinding grants in its namespace",
    attrs: req(u("jane"), "create", "deployments", { namespace: "dev", apiGroup: "apps" }),
    allowed: true,
    reason: 'RBAC: allowed by RoleBinding "dev/dev" of Role "dev-all" to User "jane"',
  },
  {
    what: "… not in another namespace",
    attrs: req(u("jane"), "get", "secrets", { namespace: "prod" }),
    allowed: false,
  },
  {
    what: "… not at the cluster scope",
    attrs: req(u("jane"), "list", "secrets", { namespace: "" }),
    allowed: false,
  },
  {
    what: "a RoleBinding's service account without a namespace is in the binding's namespace",
    attrs: req(SA("dev", "robot"), "get", "secrets", { namespace: "dev" }),
    allowed: true,
    reason:
      'RBAC: allowed by RoleBinding "robot/dev" of ClusterRole "secret-reader" to ServiceAccount "robot/dev"',
  },
  {
    what: "… the same name elsewhere is someone else",
    attrs: req(SA("prod", "robot"), "get", "secrets", { namespace: "dev" }),
    allowed: false,
  },
  {
    what: "a ClusterRoleBinding's service account without a namespace matches nobody",
    attrs: req(SA("default", "lost"), "get", "secrets"),
    allowed: false,
  },
  {
    what: "resourceNames limit a rule to the named object",
    attrs: req(SA("ci", "deployer"), "get", "configmaps", { namespace: "ops", name: "my-config" }),
    allowed: true,
  },
  {
    what: "… not another",
    attrs: req(SA("ci", "deployer"), "get", "configmaps", { namespace: "ops", name: "other" }),
    allowed: false,
  },
  {
    what: "… and a list (no name) is not covered by a named rule",
    attrs: req(SA("ci", "deployer"), "list", "configmaps", { namespace: "ops" }),
    allowed: false,
  },
  {
    what: "a group of service accounts (system:serviceaccounts:<ns>) as a subject",
    attrs: req(SA("ci", "builder"), "get", "pods/log"),
    allowed: true,
  },
  {
    what: "a subresource rule does not grant the resource",
    attrs: req(SA("ci", "builder"), "get", "pods"),
    allowed: false,
  },
  {
    what: "*/scale grants the scale subresource of any resource",
    attrs: req(u("sam"), "update", "deployments/scale", { apiGroup: "apps" }),
    allowed: true,
  },
  {
    what: "… not the resource itself",
    attrs: req(u("sam"), "update", "deployments", { apiGroup: "apps" }),
    allowed: false,
  },
  {
    what: "pods/* is not a wildcard (kube has none for subresources)",
    attrs: req(u("sam"), "get", "pods/log"),
    allowed: false,
  },
  {
    what: 'apiGroups [""] is the core group only',
    attrs: req(u("cora"), "get", "roles", { apiGroup: "rbac.authorization.k8s.io" }),
    allowed: false,
  },
  { what: "verbs * includes any verb", attrs: req(u("cora"), "escalate", "secrets"), allowed: true },
  { what: "a non-resource URL", attrs: path(u("x"), "get", "/healthz"), allowed: true },
  { what: "… and one under a trailing *", attrs: path(u("x"), "get", "/healthz/etcd"), allowed: true },
  { what: "… not another path", attrs: path(u("x"), "get", "/metrics"), allowed: false },
  { what: "… not another verb", attrs: path(u("x"), "post", "/healthz"), allowed: false },
  {
    what: "a User subject spelled as a service account's username",
    attrs: req(SA("prod", "web"), "get", "pods/log"),
    allowed: true,
  },
  {
    what: "a binding to a missing role: no opinion, and the reason says why",
    attrs: req(u("dave"), "get", "secrets", { namespace: "dev" }),
    allowed: false,
    reason:
      'RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "gone" not found]',
  },
];

test("RBAC decisions: rules × requests", () => {
  for (const c of cases) {
    const d = rbac.authorize(c.attrs);
    assert.equal(d.decision, c.allowed ? "Allow" : "NoOpinion", c.what);
    if (c.reason !== undefined) assert.equal(d.reason, c.reason, c.what);
  }
});

test("RBAC never denies: the next mode may still allow; system:masters is allowed before any mode", () => {
  const nobody = req(u("nobody"), "delete", "secrets");
  const onlyRbac = authorizationFor(["RBAC"], { rbac });
  assert.equal(onlyRbac.authorizer.authorize(nobody).decision, "NoOpinion");
  assert.equal(
    authorizationFor(["RBAC", "AlwaysAllow"], { rbac }).authorizer.authorize(nobody).decision,
    "Allow",
  );
  const denied = authorizationFor(["RBAC", "AlwaysDeny"], { rbac }).authorizer.authorize(
    req(u("dave"), "get", "secrets", { namespace: "dev" }),
  );
  assert.equal(denied.decision, "NoOpinion");
  assert.equal(
    denied.reason,
    'RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "gone" not found]\nEverything is forbidden.',
    "every mode's reason, in order",
  );
  const master = req({ name: "root", uid: "", groups: ["system:masters"] }, "delete", "secrets");
  assert.equal(authorizationFor(["AlwaysDeny"], { rbac }).authorizer.authorize(master).decision, "Allow");
  assert.equal(unionAuthorizer([alwaysDeny]).authorize(master).decision, "NoOpinion");
});

test("the rules a user holds in a namespace (the rules review), errors reported beside them", () => {
  const jane = rbac.rulesFor(u("jane", "managers"), "dev");
  assert.deepEqual(
    jane.resourceRules.map((r) => `${r.apiGroups.join(",")}|${r.resources.join(",")}|${r.verbs.join(",")}`),
    ["|secrets|get,watch,list", "*|*|*"],
  );
  assert.deepEqual(jane.nonResourceRules, [{ verbs: ["get"], nonResourceURLs: ["/healthz", "/healthz/*"] }]);
  assert.equal(jane.incomplete, false);
  assert.equal(jane.error, undefined);
  const dave = rbac.rulesFor(u("dave"), "dev");
  assert.match(dave.error ?? "", /clusterrole.rbac.authorization.k8s.io "missing" not found/);
  assert.equal(dave.incomplete, false, "kube's RBAC rules are never incomplete");
});

test("the index follows changes: a deleted binding no longer grants, a changed role grants what it now says", () => {
  const idx = new RbacIndex();
  const resolver = createRbacAuthorizer(new RuleResolver(idx));
  const ask = req(u("kim"), "get", "secrets");
  assert.equal(resolver.authorize(ask).decision, "NoOpinion");
  idx.put(role("ClusterRole", "r", [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }]));
  idx.put(binding("ClusterRoleBinding", "b", { kind: "ClusterRole", name: "r" }, [user("kim")]));
  assert.equal(resolver.authorize(ask).decision, "NoOpinion");
  idx.put(role("ClusterRole", "r", [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }]));
  assert.equal(resolver.authorize(ask).decision, "Allow");
  idx.put(binding("ClusterRoleBinding", "b", { kind: "ClusterRole", name: "r" }, [user("lee")]));
  assert.equal(resolver.authorize(ask).decision, "NoOpinion", "the binding moved to someone else");
  idx.put(binding("ClusterRoleBinding", "b", { kind: "ClusterRole", name: "r" }, [user("kim")]));
  idx.delete("ClusterRoleBinding", "", "b");
  assert.equal(resolver.authorize(ask).decision, "NoOpinion");
  assert.deepEqual(idx.counts(), { clusterRoleBindings: 0, roleBindings: 0, clusterRoles: 1, roles: 0 });
});
