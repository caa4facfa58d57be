import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeYaml, YamlSyntaxError } from "./yaml-decode.js";

test("YAML: __proto__ is an own key; errors quote no source; deep nesting is a typed error, not a crash", () => {
  const v = decodeYaml("a:\n  __proto__: {x: 1}\n") as { a: Record<string, unknown> };
  assert.deepEqual(Object.keys(v.a), ["__proto__"]);
  assert.equal((v.a as { x?: unknown }).x, undefined);
  assert.throws(
    () => decodeYaml("password: hunter2\n  b: [1, 2\n"),
    (e: unknown) =>
      e instanceof YamlSyntaxError && !e.message.includes("hunter2") && !e.message.includes("\n"),
  );
  // 10,000 levels made the library's pretty error exhaust the heap (a fatal crash); now a typed error.
  assert.throws(
    () => decodeYaml("a: " + "[".repeat(10_000) + "]".repeat(10_000)),
    /^YamlSyntaxError: exceeded max depth$/,
  );
});
