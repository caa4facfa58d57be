import { test } from "node:test";
import assert from "node:assert/strict";
import { createAbacAuthorizer, forbiddenMessage, parsePolicyFile, type RequestAttributes } from "./abac.js";

const policy = (spec: Record<string, unknown>): string =>
  JSON.stringify({ apiVersion: "abac.authorization.kubernetes.io/v1beta1", kind: "Policy", spec });
const alice = { name: "alice", uid: "1", groups: ["dev", "system:authenticated"] };
const attrs = (over: Partial<RequestAttributes>): RequestAttributes => ({
  user: alice,
  verb: "get",
  isResourceRequest: true,
  path: "/api/v1/namespaces/default/secrets/x",
  namespace: "default",
  resource: "secrets",
  apiGroup: "",
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
  assert.equal(authz.authorize(attrs({})).allowed, true);
  assert.equal(authz.authorize(attrs({ verb: "create" })).allowed, false);
  assert.equal(authz.authorize(attrs({ namespace: "kube-system" })).allowed, false);
  assert.equal(
    authz.authorize(attrs({ resource: "configmaps", verb: "delete", namespace: "x" })).allowed,
    true,
  );
  assert.equal(authz.authorize(attrs({ isResourceRequest: false, path: "/apis" })).allowed, true);
  assert.equal(authz.authorize(attrs({ isResourceRequest: false, path: "/metrics" })).allowed, false);
  assert.equal(
    authz.authorize(
      attrs({
        user: { name: "legacy", uid: "", groups: [] },
        resource: "namespaces",
        namespace: "",
        verb: "delete",
      }),
    ).allowed,
    true,
    "legacy (v0): an empty namespace is a wildcard",
  );
  assert.equal(
    authz.authorize(attrs({ user: { name: "legacy", uid: "", groups: [] } })).allowed,
    false,
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
});
