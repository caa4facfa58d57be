import assert from "node:assert/strict";
import { test } from "node:test";
import { FieldSet } from "./field-set.js";
import { merge } from "./merge.js";
import { pathText, type Path } from "./path-element.js";
import { toFieldSet } from "./to-field-set.js";
import { typeOfKind } from "./type-schema.js";

const f = (...names: string[]): Path => names.map((field) => ({ field }));

test("FieldsV1 reads and writes kube's managedFields, in kube's key order", () => {
  // Recorded by kube-apiserver for `kubectl create secret generic` and a keyed list item.
  const recorded = {
    "f:data": { ".": {}, "f:password": {}, "f:user": {} },
    "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
    "f:secrets": { 'k:{"name":"token"}': {} },
    "f:type": {},
  };
  const set = FieldSet.fromFieldsV1(recorded);
  assert.ok(set.has(f("data")), "'.' makes the map itself a member");
  assert.ok(set.has(f("data", "user")));
  assert.ok(set.has([{ field: "secrets" }, { key: [["name", "token"]] }]));
  assert.ok(!set.has(f("metadata")), "a parent without '.' is not a member");
  assert.deepEqual(set.toFieldsV1(), recorded);
  assert.equal(
    JSON.stringify(FieldSet.fromFieldsV1({ "f:type": {}, "f:data": { "f:b": {}, "f:a": {} } }).toFieldsV1()),
    '{"f:data":{"f:a":{},"f:b":{}},"f:type":{}}',
  );
  assert.deepEqual(
    set.paths().map(pathText),
    [
      ".data",
      ".type",
      ".data.password",
      ".data.user",
      ".metadata.labels",
      ".metadata.labels.app",
      '.secrets[name="token"]',
    ],
    "members first, then each child (fieldpath.Set.Iterate)",
  );
  assert.throws(() => FieldSet.fromFieldsV1({ "k:{not json": {} }), /invalid JSON/);
  assert.throws(() => FieldSet.fromFieldsV1({ x: {} }), /key must be 2 characters long|missing colon/);
  assert.deepEqual(
    FieldSet.fromFieldsV1({ "z:future": {}, "f:a": {} }).toFieldsV1(),
    { "f:a": {} },
    "unknown kinds skipped",
  );
});

test("difference is leaf-wise; recursiveDifference takes a member's subtree with it", () => {
  const s = FieldSet.of(f("a", "b", "c"), f("a", "x"));
  const parent = FieldSet.of(f("a", "b"));
  assert.deepEqual(s.difference(parent).paths().map(pathText), [".a.x", ".a.b.c"]);
  assert.deepEqual(s.recursiveDifference(parent).paths().map(pathText), [".a.x"]);
  assert.ok(s.intersection(FieldSet.of(f("a", "x"), f("q"))).equals(FieldSet.of(f("a", "x"))));
  assert.ok(s.union(parent).has(f("a", "b")) && s.union(parent).has(f("a", "b", "c")));
  assert.ok(new FieldSet().empty() && !s.empty());
});

test("an applier owns its scalars and map keys, not the structs around them", () => {
  const set = toFieldSet(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", labels: { a: "1" } },
      data: { k: "dg==" },
      immutable: true,
    },
    typeOfKind("Secret"),
  );
  assert.deepEqual(set.toFieldsV1(), {
    "f:apiVersion": {},
    "f:data": { "f:k": {} },
    "f:immutable": {},
    "f:kind": {},
    "f:metadata": { "f:labels": { "f:a": {} }, "f:name": {} },
  });
});

test("keyed lists merge item by item: the applier's order for its items, the others keep their place", () => {
  const type = typeOfKind("ServiceAccount");
  const live = { secrets: [{ name: "a" }, { name: "b" }, { name: "c" }] };
  const merged = merge(live, { secrets: [{ name: "c" }, { name: "a" }] }, type) as { secrets: unknown };
  assert.deepEqual(merged.secrets, [{ name: "b" }, { name: "c" }, { name: "a" }]);
  const added = merge(live, { secrets: [{ name: "d" }] }, type) as { secrets: unknown };
  assert.deepEqual(added.secrets, [{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d" }]);
  // imagePullSecrets is atomic: replaced whole.
  const atomic = merge({ imagePullSecrets: [{ name: "x" }] }, { imagePullSecrets: [{ name: "y" }] }, type);
  assert.deepEqual(atomic, { imagePullSecrets: [{ name: "y" }] });
});
