import { test } from "node:test";
import assert from "node:assert/strict";
import { fieldsMatch, labelSelector, parseFieldSelector } from "./selectors.js";

test("label selectors: equality, inequality, sets, existence", () => {
  const labels = { app: "web", tier: "front" };
  const cases: Array<[string, boolean]> = [
    ["app=web", true],
    ["app==web", true],
    ["app!=web", false],
    ["app in (web, api)", true],
    ["app notin (web)", false],
    ["tier", true],
    ["!tier", false],
    ["!missing", true],
    ["missing!=x", true],
    ["app=web,tier=back", false],
    ["app in (a,b),tier", false],
  ];
  for (const [sel, want] of cases) assert.equal(labelSelector(sel)?.(labels), want, sel);
  assert.equal(labelSelector(""), undefined);
  assert.throws(() => labelSelector("a b c"), { code: "invalid-argument" });
});

test("field selectors on metadata.name and metadata.namespace; unknown fields are BadRequest", () => {
  const reqs = parseFieldSelector("metadata.name=a,metadata.namespace!=kube-system", [
    "metadata.name",
    "metadata.namespace",
  ]);
  assert.equal(fieldsMatch(reqs, { "metadata.name": "a", "metadata.namespace": "default" }), true);
  assert.equal(fieldsMatch(reqs, { "metadata.name": "a", "metadata.namespace": "kube-system" }), false);
  assert.throws(
    () => parseFieldSelector("spec.foo=1", ["metadata.name"]),
    /field label not supported: spec.foo/,
  );
});
