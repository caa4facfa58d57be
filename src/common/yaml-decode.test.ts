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

test("fuzz finding: unknown tags and directives print no process warning quoting the input", async () => {
  const warnings: string[] = [];
  const listener = (w: Error): void => void warnings.push(w.message);
  process.on("warning", listener);
  try {
    decodeYaml("%SECRETDIRECTIVE\n---\na: !secret-tag value\n");
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  } finally {
    process.off("warning", listener);
  }
  assert.deepEqual(warnings, []);
});

test("a misplaced token is named by its kind, never quoted (it was a Secret's value)", () => {
  // yaml says `Unexpected scalar token in YAML stream: "<token>"`.
  assert.throws(
    () => decodeYaml("}\nstringData:\n  password: hunter2-secret\n"),
    (e: unknown) =>
      e instanceof YamlSyntaxError && !e.message.includes("hunter2") && !e.message.includes('"'),
  );
});
