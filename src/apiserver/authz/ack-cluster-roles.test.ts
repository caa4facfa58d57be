import { test } from "node:test";
import assert from "node:assert/strict";
import type { UserInfo } from "../authn.js";
import { ACK_CLUSTER_ROLES, ackGrantBinding, type AckRole } from "./ack-cluster-roles.js";
import { createRbacAuthorizer } from "./rbac-authorizer.js";
import { RbacIndex } from "./rbac-index.js";
import { RuleResolver } from "./rule-resolver.js";
import type { Attributes } from "./types.js";

/** ACK's predefined roles, granted as ACK grants them, decide as their templates say. */

function authorizerFor(grants: Parameters<typeof ackGrantBinding>[0][]) {
  const index = new RbacIndex();
  for (const o of [...ACK_CLUSTER_ROLES, ...grants.map(ackGrantBinding)]) index.put(o);
  return createRbacAuthorizer(new RuleResolver(index));
}
const who = (name: string): UserInfo => ({ name, uid: "", groups: ["system:authenticated"] });
const req = (user: string, verb: string, resource: string, namespace: string, apiGroup = ""): Attributes => ({
  user: who(user),
  verb,
  isResourceRequest: true,
  path: "",
  namespace,
  apiGroup,
  apiVersion: "v1",
  resource,
  subresource: "",
  name: "",
});

test("ACK's roles: admin and ops cluster-wide, dev and restricted in their namespace", () => {
  const rbac = authorizerFor([
    { principal: "2001", role: "admin" },
    { principal: "2002", role: "ops" },
    { principal: "2003", role: "dev", namespace: "team" },
    { principal: "2004", role: "restricted", namespace: "team" },
  ]);
  const cases: Array<[string, string, string, string, boolean, string?]> = [
    ["2001", "delete", "clusterroles", "", true, "rbac.authorization.k8s.io"],
    ["2002", "update", "secrets", "kube-system", true],
    ["2002", "patch", "namespaces", "", true],
    ["2002", "delete", "namespaces", "", false],
    ["2002", "create", "rolebindings", "team", false, "rbac.authorization.k8s.io"],
    ["2003", "create", "secrets", "team", true],
    ["2003", "get", "secrets", "default", false],
    ["2003", "delete", "namespaces", "", false],
    ["2004", "list", "secrets", "team", true],
    ["2004", "update", "configmaps", "team", false],
    ["2004", "list", "configmaps", "default", false],
    ["2005", "get", "secrets", "team", false],
  ];
  for (const [user, verb, resource, ns, allowed, group] of cases)
    assert.equal(
      rbac.authorize(req(user, verb, resource, ns, group)).decision === "Allow",
      allowed,
      `${user} ${verb} ${resource} in ${ns || "the cluster"}`,
    );
});

test("ACK's grant bindings: names, subjects, and refused input", () => {
  assert.deepEqual(ackGrantBinding({ principal: "2003", role: "dev", namespace: "team" }), {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "2003-dev-rolebinding", namespace: "team" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cs:dev" },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "2003" }],
  });
  assert.equal(ackGrantBinding({ principal: "2001", role: "admin" }).kind, "ClusterRoleBinding");
  const bad: Array<[Parameters<typeof ackGrantBinding>[0], RegExp]> = [
    [{ principal: "", role: "dev" }, /not a valid RBAC subject name/],
    [{ principal: "a/b", role: "dev" }, /not a valid RBAC subject name/],
    [{ principal: "2001", role: "root" as AckRole }, /role must be one of admin, ops, dev, restricted/],
    [{ principal: "2001", role: "ops", namespace: "team" }, /granted cluster-wide/],
    [{ principal: "2001", role: "dev", namespace: "Team_1" }, /not a valid namespace name/],
  ];
  for (const [grant, message] of bad)
    assert.throws(
      () => ackGrantBinding(grant),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "invalid-argument");
        assert.match(err.message, message);
        return true;
      },
    );
});
