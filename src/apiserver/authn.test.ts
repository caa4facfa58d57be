import { test } from "node:test";
import assert from "node:assert/strict";
import { createAuthenticator, parseTokenFile } from "./authn.js";

test("token file: kube's CSV with quoted groups; duplicates and short lines rejected", () => {
  const entries = parseTokenFile('t1,alice,1,"dev,ops"\n\n# comment\nt2,bob,2\n');
  assert.deepEqual(
    entries.map((e) => [e.name, e.uid, e.groups]),
    [
      ["alice", "1", ["dev", "ops"]],
      ["bob", "2", []],
    ],
  );
  assert.throws(() => parseTokenFile("t1,alice,1\nt1,bob,2\n"), /line 2: duplicate token/);
  assert.throws(() => parseTokenFile("t1\n"), /line 1: need at least token,user,uid/);
});

test("bearer tokens: the right one authenticates, a wrong one is unauthenticated, none is anonymous", () => {
  const authn = createAuthenticator({
    tokens: parseTokenFile('t1,alice,1,"dev"\n'),
    clientCertificates: false,
  });
  assert.deepEqual(authn.authenticate("Bearer t1", undefined), {
    name: "alice",
    uid: "1",
    groups: ["dev", "system:authenticated"],
  });
  assert.throws(() => authn.authenticate("Bearer t2", undefined), { code: "unauthenticated" });
  assert.throws(() => authn.authenticate("Basic dXNlcjpwYXNz", undefined), { code: "unauthenticated" });
  assert.equal(authn.authenticate(undefined, undefined), undefined);
});
