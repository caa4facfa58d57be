import { test } from "node:test";
import assert from "node:assert/strict";
import { createAbacAuthorizer, parsePolicyFile } from "./abac.js";
import { forbiddenMessage, type Attributes } from "./types.js";

const policy = (spec: Record<string, unknown>): string =>
  JSON.stringify({ apiVersion: "abac.authorization.kubernetes.io/v1beta1", kind: "Policy", spec });
const alice = { name: "alice", uid: "1", groups: ["dev", "system:authenticated"] };
const attrs = (over: Partial<Attributes>): Attributes => ({
  user: alice,
  verb: "get",
  isResourceRequest: true,
  path: "/api/v1/namespaces/default/secrets/x",
  namespace: "default",
  resource: "secrets",
  apiGroup: "",
  apiVersion: "v1",
  subresource: "",
  name: "x",
  ...over,
});

test("ABAC: user, group, readonly, namespace, resource and nonResourcePath matching", () => {
  const authz = createAbacAuthorizer(
    parsePolicyFile(
      [
        policy({ user: "alice", namespace: "default", resource: "secrets", apiGroup: "*", readonly: true }),
        policy({ group: "dev", namespace: "*", resource: "configmaps", apiGroup: "*" }),
        policy({ user: "*", nonResourcePath: "/api*", readonly: true }),
        "",
        '{"user":"legacy","resource":"namespaces"}',
      ].join("\n"),
    ),
  );
  assert.equal(authz.authorize(attrs({})).decision, "Allow");
  assert.equal(authz.authorize(attrs({ verb: "create" })).decision, "NoOpinion");
  assert.equal(authz.authorize(attrs({ namespace: "kube-system" })).decision, "NoOpinion");
  assert.equal(
    authz.authorize(attrs({ resource: "configmaps", verb: "delete", namespace: "x" })).decision,
    "Allow",
  );
  assert.equal(authz.authorize(attrs({ isResourceRequest: false, path: "/apis" })).decision, "Allow");
  assert.equal(authz.authorize(attrs({ isResourceRequest: false, path: "/metrics" })).decision, "NoOpinion");
  assert.equal(
    authz.authorize(
      attrs({
        user: { name: "legacy", uid: "", groups: [] },
        resource: "namespaces",
        namespace: "",
        verb: "delete",
      }),
    ).decision,
    "Allow",
    "legacy (v0): an empty namespace is a wildcard",
  );
  assert.equal(
    authz.authorize(attrs({ user: { name: "legacy", uid: "", groups: [] } })).decision,
    "NoOpinion",
    "legacy: only its resource",
  );
});

test("ABAC policy files: bad lines are errors with their line number", () => {
  assert.throws(() => parsePolicyFile("{nope"), /line 1: not valid JSON/);
  assert.throws(
    () => parsePolicyFile(`\n${policy({ user: "a", verbs: ["get"] })}`),
    /line 2: unknown field "verbs"/,
  );
  assert.throws(
    () => parsePolicyFile(JSON.stringify({ apiVersion: "v2", kind: "Policy", spec: {} })),
    /apiVersion must be/,
  );
});

test("ABAC rules for the rules review: the user's policies in the namespace", () => {
  const authz = createAbacAuthorizer(
    parsePolicyFile(
      [
        policy({ user: "alice", namespace: "default", resource: "secrets", apiGroup: "", readonly: true }),
        policy({ group: "dev", namespace: "*", nonResourcePath: "/healthz" }),
        policy({ group: "dev", nonResourcePath: "/metrics" }),
        policy({ user: "bob", namespace: "*", resource: "*", apiGroup: "*" }),
      ].join("\n"),
    ),
  );
  assert.deepEqual(authz.rulesFor(alice, "default"), {
    resourceRules: [
      { verbs: ["get", "list", "watch"], apiGroups: [""], resources: ["secrets"], resourceNames: [] },
    ],
    nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["/healthz"] }],
    incomplete: false,
  });
  assert.deepEqual(authz.rulesFor(alice, "other").resourceRules, []);
});

test("Forbidden messages as kube-apiserver words them", () => {
  assert.equal(
    forbiddenMessage(attrs({ verb: "list", name: "" }), "No policy matched."),
    'secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default": No policy matched.',
  );
  assert.equal(
    forbiddenMessage(attrs({ resource: "namespaces", namespace: "", name: "x" }), ""),
    'namespaces "x" is forbidden: User "alice" cannot get resource "namespaces" in API group "" at the cluster scope',
  );
  assert.equal(
    forbiddenMessage(attrs({ isResourceRequest: false, path: "/metrics" }), ""),
    'forbidden: User "alice" cannot get path "/metrics"',
  );
  assert.equal(
    forbiddenMessage(
      attrs({ apiGroup: "rbac.authorization.k8s.io", resource: "rolebindings", verb: "create", name: "" }),
      "",
    ),
    'rolebindings.rbac.authorization.k8s.io is forbidden: User "alice" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "default"',
  );
});
