import { test } from "node:test";
import assert from "node:assert/strict";
import { isAtrestError } from "../../common/errors.js";
import type { KubeObject } from "../../kube-object/types.js";
import { requireResource } from "../resources.js";
import { statusFromError } from "../status.js";
import { compactRules, compactString, covers, escalationProblem } from "./escalation.js";
import { authorizationFor } from "./modes.js";
import { createRbacAuthorizer } from "./rbac-authorizer.js";
import { RbacIndex } from "./rbac-index.js";
import { policyRuleOf, type PolicyRule } from "./rbac-rules.js";
import { RuleResolver } from "./rule-resolver.js";
import { rbacWriteCheck } from "./write-guard.js";

/** kube's escalation prevention: Covers, CompactRules, the messages, and the checks on RBAC writes. */

const r = (json: Record<string, unknown>): PolicyRule => policyRuleOf(json);

test("Covers: what an owner's rules cover, broken down to single group/resource/verb/name", () => {
  const owner = [
    r({ apiGroups: [""], resources: ["secrets", "*/log"], verbs: ["get", "list"] }),
    r({ apiGroups: ["apps"], resources: ["deployments"], resourceNames: ["web"], verbs: ["update"] }),
    r({ nonResourceURLs: ["/api/*"], verbs: ["get"] }),
  ];
  const missing = (servant: Record<string, unknown>): string[] =>
    covers(owner, [r(servant)]).map(compactString);
  assert.deepEqual(missing({ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }), []);
  assert.deepEqual(
    missing({ apiGroups: [""], resources: ["pods/log"], verbs: ["list"] }),
    [],
    "*/log covers pods/log",
  );
  assert.deepEqual(missing({ apiGroups: [""], resources: ["pods"], verbs: ["get"] }), [
    '{APIGroups:[""], Resources:["pods"], Verbs:["get"]}',
  ]);
  assert.deepEqual(missing({ apiGroups: [""], resources: ["secrets"], verbs: ["get", "delete"] }), [
    '{APIGroups:[""], Resources:["secrets"], Verbs:["delete"]}',
  ]);
  assert.deepEqual(
    missing({ apiGroups: ["apps"], resources: ["deployments"], resourceNames: ["web"], verbs: ["update"] }),
    [],
  );
  assert.deepEqual(
    missing({ apiGroups: ["apps"], resources: ["deployments"], verbs: ["update"] }),
    ['{APIGroups:["apps"], Resources:["deployments"], Verbs:["update"]}'],
    "a named rule does not cover every name",
  );
  assert.deepEqual(missing({ nonResourceURLs: ["/api/v1"], verbs: ["get"] }), []);
  assert.deepEqual(missing({ nonResourceURLs: ["/apis"], verbs: ["get"] }), [
    '{NonResourceURLs:["/apis"], Verbs:["get"]}',
  ]);
  assert.deepEqual(
    covers(
      [r({ apiGroups: ["*"], resources: ["*"], verbs: ["*"] })],
      [r({ apiGroups: ["x"], resources: ["y"], verbs: ["z"] })],
    ),
    [],
  );
});

test("CompactRules merges simple rules that differ only by verb", () => {
  const rules = covers(
    [],
    [r({ apiGroups: [""], resources: ["secrets", "configmaps"], verbs: ["get", "list"] })],
  );
  assert.equal(rules.length, 4);
  assert.deepEqual(compactRules(rules).map(compactString).sort(), [
    '{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "list"]}',
    '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}',
  ]);
});

const W = "rbac.authorization.k8s.io";
const objects: KubeObject[] = [
  {
    kind: "ClusterRole",
    metadata: { name: "reader" },
    rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }],
  },
  {
    kind: "ClusterRole",
    metadata: { name: "binder" },
    rules: [
      { apiGroups: [W], resources: ["roles", "rolebindings", "clusterroles"], verbs: ["create", "update"] },
    ],
  },
  {
    kind: "ClusterRole",
    metadata: { name: "may-bind-reader" },
    rules: [{ apiGroups: [W], resources: ["clusterroles"], resourceNames: ["reader"], verbs: ["bind"] }],
  },
  {
    kind: "ClusterRole",
    metadata: { name: "may-escalate" },
    rules: [{ apiGroups: [W], resources: ["roles"], verbs: ["escalate"] }],
  },
  {
    kind: "ClusterRole",
    metadata: { name: "all" },
    rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
  },
  ...[
    ["ann", "binder"],
    ["bob", "binder"],
    ["bob", "may-bind-reader"],
    ["cy", "binder"],
    ["cy", "may-escalate"],
  ].map(([user, roleName], i) => ({
    kind: "ClusterRoleBinding",
    metadata: { name: `b${i}` },
    roleRef: { apiGroup: W, kind: "ClusterRole", name: roleName },
    subjects: [{ apiGroup: W, kind: "User", name: user }],
  })),
];
const index = new RbacIndex();
for (const o of objects) index.put(o);
const resolver = new RuleResolver(index);
const { authorizer } = authorizationFor(["RBAC"], { rbac: createRbacAuthorizer(resolver) });
const who = (name: string, ...groups: string[]) => ({
  name,
  uid: "",
  groups: [...groups, "system:authenticated"],
});

function refused(fn: () => void): { code: number; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(isAtrestError(err));
    const s = statusFromError(err);
    return { code: s.code, message: s.message ?? "" };
  }
  assert.fail("the write was admitted");
}

test("nobody grants what they do not hold: kube's message, unless escalate, bind or system:masters", () => {
  const roles = requireResource("roles", W);
  const bindings = requireResource("rolebindings", W);
  const role: KubeObject = {
    kind: "Role",
    metadata: { name: "peek", namespace: "team" },
    rules: objects[0]?.rules,
  };
  const admitRole = (user: string, ...groups: string[]) =>
    rbacWriteCheck({ authorizer, resolver }, roles, who(user, ...groups), "team", "");
  const ann = refused(() => admitRole("ann")?.(role, undefined));
  assert.equal(ann.code, 403);
  assert.equal(
    ann.message,
    'roles.rbac.authorization.k8s.io "peek" is forbidden: user "ann" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
  );
  assert.doesNotThrow(() => admitRole("cy")?.(role, undefined), "escalate on roles");
  assert.doesNotThrow(() => admitRole("root", "system:masters")?.(role, undefined));
  // Holding the rules is enough.
  const holder = new RbacIndex();
  for (const o of objects) holder.put(o);
  holder.put({
    kind: "ClusterRoleBinding",
    metadata: { name: "ann-reads" },
    roleRef: { apiGroup: W, kind: "ClusterRole", name: "reader" },
    subjects: [{ apiGroup: W, kind: "User", name: "ann" }],
  });
  const r2 = new RuleResolver(holder);
  assert.doesNotThrow(() =>
    rbacWriteCheck({ authorizer, resolver: r2 }, roles, who("ann"), "team", "")?.(role, undefined),
  );

  const toReader: KubeObject = {
    kind: "RoleBinding",
    metadata: { name: "x", namespace: "team" },
    roleRef: { apiGroup: W, kind: "ClusterRole", name: "reader" },
    subjects: [{ apiGroup: W, kind: "User", name: "zed" }],
  };
  const admitBinding = (user: string) =>
    rbacWriteCheck({ authorizer, resolver }, bindings, who(user), "team", "");
  assert.match(
    refused(() => admitBinding("ann")?.(toReader, undefined)).message,
    /rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "ann" .* not currently held/,
  );
  assert.doesNotThrow(() => admitBinding("bob")?.(toReader, undefined), "bind on clusterroles/reader");
  const toAll = { ...toReader, roleRef: { apiGroup: W, kind: "ClusterRole", name: "all" } };
  assert.equal(refused(() => admitBinding("bob")?.(toAll, undefined)).code, 403, "bind is per role name");
  const toMissing = { ...toReader, roleRef: { apiGroup: W, kind: "ClusterRole", name: "nope" } };
  assert.deepEqual(
    refused(() => admitBinding("ann")?.(toMissing, undefined)),
    {
      code: 404,
      message: 'clusterroles.rbac.authorization.k8s.io "nope" not found',
    },
  );
  // A change of labels only is still a change; finalizers and owner references are not checked.
  const labelled = { ...toReader, metadata: { ...(toReader.metadata as object), labels: { a: "b" } } };
  assert.equal(refused(() => admitBinding("ann")?.(labelled, toReader)).code, 403);
  const finalized = { ...toReader, metadata: { ...(toReader.metadata as object), finalizers: ["x"] } };
  assert.doesNotThrow(() => admitBinding("ann")?.(finalized, toReader));
});

test("an aggregation rule needs * on *.*; resolution errors are part of the message", () => {
  const clusterRoles = requireResource("clusterroles", W);
  const aggregated: KubeObject = {
    kind: "ClusterRole",
    metadata: { name: "agg" },
    aggregationRule: { clusterRoleSelectors: [{ matchLabels: { a: "b" } }] },
  };
  assert.equal(
    refused(() =>
      rbacWriteCheck({ authorizer, resolver }, clusterRoles, who("ann"), "", "")?.(aggregated, undefined),
    ).message,
    'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule',
  );
  const broken = new RbacIndex();
  broken.put({
    kind: "ClusterRoleBinding",
    metadata: { name: "dangling" },
    roleRef: { apiGroup: W, kind: "ClusterRole", name: "gone" },
    subjects: [{ apiGroup: W, kind: "User", name: "ann" }],
  });
  assert.equal(
    escalationProblem(new RuleResolver(broken), who("ann"), "", [
      r({ apiGroups: [""], resources: ["x"], verbs: ["get"] }),
    ]),
    'user "ann" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["x"], Verbs:["get"]}; resolution errors: [clusterrole.rbac.authorization.k8s.io "gone" not found]',
  );
});
