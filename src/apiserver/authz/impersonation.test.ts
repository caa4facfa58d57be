import { test } from "node:test";
import assert from "node:assert/strict";
import { statusFromError } from "../status.js";
import { impersonatedUser } from "./impersonation.js";
import type { Attributes, Authorizer } from "./types.js";

/** kube's impersonation filter: who may act as whom, and whom the request then is. */

const asked: Attributes[] = [];
/** Allows impersonating what the table lists (resource:name or resource:namespace/name). */
function allowing(...allowed: string[]): Authorizer {
  return {
    authorize(a) {
      asked.push(a);
      const key = `${a.apiGroup === "" ? "" : `${a.apiGroup}/`}${a.resource}${a.subresource === "" ? "" : `/${a.subresource}`}:${a.namespace === "" ? "" : `${a.namespace}/`}${a.name}`;
      return allowed.includes(key) || allowed.includes("*")
        ? { decision: "Allow", reason: "" }
        : { decision: "NoOpinion", reason: "" };
    },
  };
}
const alice = { name: "alice", uid: "1", groups: ["system:authenticated"] };

test("no headers: the requester; a user: that user, authenticated", () => {
  assert.equal(impersonatedUser({}, alice, allowing()), alice);
  assert.deepEqual(impersonatedUser({ "impersonate-user": ["bob"] }, alice, allowing("users:bob")), {
    name: "bob",
    uid: "",
    groups: ["system:authenticated"],
  });
});

test("groups, a uid and extras each need the verb; a service account gets its groups", () => {
  asked.length = 0;
  const user = impersonatedUser(
    {
      "impersonate-user": ["bob"],
      "impersonate-group": ["devs", "ops"],
      "impersonate-uid": ["u-9"],
      "impersonate-extra-scopes%2Fread": ["a"],
    },
    alice,
    allowing(
      "users:bob",
      "groups:devs",
      "groups:ops",
      "authentication.k8s.io/uids:u-9",
      "authentication.k8s.io/userextras/scopes/read:a",
    ),
  );
  assert.deepEqual(user, { name: "bob", uid: "u-9", groups: ["devs", "ops", "system:authenticated"] });
  assert.deepEqual(
    asked.map((a) => `${a.verb} ${a.resource}`),
    [
      "impersonate users",
      "impersonate groups",
      "impersonate groups",
      "impersonate userextras",
      "impersonate uids",
    ],
  );
  const robot = impersonatedUser(
    { "impersonate-user": ["system:serviceaccount:ci:robot"] },
    alice,
    allowing("serviceaccounts:ci/robot"),
  );
  assert.deepEqual(robot, {
    name: "system:serviceaccount:ci:robot",
    uid: "",
    groups: ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"],
  });
  const unauth = impersonatedUser(
    { "impersonate-user": ["x"], "impersonate-group": ["system:unauthenticated"] },
    alice,
    allowing("*"),
  );
  assert.deepEqual(
    unauth.groups,
    ["system:unauthenticated"],
    "no system:authenticated beside system:unauthenticated",
  );
});

test("without the verb: 403 with kube's message; groups without a user: 400", () => {
  const refuse = (headers: Record<string, string[]>, authz: Authorizer) => {
    try {
      impersonatedUser(headers, alice, authz);
    } catch (err) {
      return statusFromError(err);
    }
    assert.fail("impersonation was allowed");
  };
  const user = refuse({ "impersonate-user": ["bob"] }, allowing());
  assert.equal(user.code, 403);
  assert.equal(
    user.message,
    'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
  );
  const sa = refuse({ "impersonate-user": ["system:serviceaccount:ci:robot"] }, allowing());
  assert.equal(
    sa.message,
    'serviceaccounts "robot" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ci"',
  );
  const group = refuse(
    { "impersonate-user": ["bob"], "impersonate-group": ["system:masters"] },
    allowing("users:bob"),
  );
  assert.equal(
    group.message,
    'groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope',
  );
  const noUser = refuse({ "impersonate-group": ["devs"] }, allowing("*"));
  assert.equal(noUser.code, 400);
  assert.equal(noUser.message, 'requested Group "devs" without impersonating a user');
});
