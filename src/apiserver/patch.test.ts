import { test } from "node:test";
import assert from "node:assert/strict";
import { applyPatch, patchTypeOf } from "./patch.js";

const base = {
  apiVersion: "v1",
  kind: "ServiceAccount",
  metadata: { name: "sa", namespace: "n", labels: { a: "1", b: "2" }, finalizers: ["x"] },
  secrets: [{ name: "s1" }, { name: "s2" }],
};

test("merge patch replaces lists and deletes with null", () => {
  const out = applyPatch(
    "application/merge-patch+json",
    "ServiceAccount",
    base,
    Buffer.from(JSON.stringify({ metadata: { labels: { a: null, c: "3" } }, secrets: [{ name: "s3" }] })),
  );
  assert.deepEqual((out.metadata as { labels: unknown }).labels, { b: "2", c: "3" });
  assert.deepEqual(out.secrets, [{ name: "s3" }]);
});

test("strategic merge patch merges lists by key and honours $patch: delete and primitive sets", () => {
  const patch = {
    metadata: { finalizers: ["y"], "$setElementOrder/finalizers": ["x", "y"] },
    secrets: [{ name: "s3" }, { name: "s1", $patch: "delete" }],
  };
  const out = applyPatch(
    "application/strategic-merge-patch+json",
    "ServiceAccount",
    base,
    Buffer.from(JSON.stringify(patch)),
  );
  assert.deepEqual(out.secrets, [{ name: "s2" }, { name: "s3" }]);
  assert.deepEqual((out.metadata as { finalizers: unknown }).finalizers, ["x", "y"]);
  assert.equal(JSON.stringify(out).includes("$"), false);
});

test("json patch applies operations and reports failures as BadRequest", () => {
  const out = applyPatch(
    "application/json-patch+json",
    "ServiceAccount",
    base,
    Buffer.from(JSON.stringify([{ op: "replace", path: "/metadata/labels/a", value: "9" }])),
  );
  assert.equal((out.metadata as { labels: Record<string, string> }).labels.a, "9");
  assert.equal((base.metadata.labels as Record<string, string>).a, "1", "the original is untouched");
  assert.throws(
    () =>
      applyPatch(
        "application/json-patch+json",
        "ServiceAccount",
        base,
        Buffer.from(JSON.stringify([{ op: "test", path: "/metadata/name", value: "other" }])),
      ),
    { code: "invalid-argument" },
  );
  assert.throws(
    () => applyPatch("application/merge-patch+json", "ServiceAccount", base, Buffer.from("{nope")),
    { code: "invalid-argument" },
  );
});

test("unknown patch types are 415; server-side apply is one of the four kube serves", () => {
  assert.throws(
    () => patchTypeOf("application/apply-patch+cbor"),
    (err: Error & { details?: { reason?: string } }) =>
      err.details?.reason === "UnsupportedMediaType" &&
      err.message.endsWith(
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
      ),
  );
  assert.equal(patchTypeOf("application/apply-patch+yaml"), "application/apply-patch+yaml");
  assert.equal(patchTypeOf("application/merge-patch+json; charset=utf-8"), "application/merge-patch+json");
});
