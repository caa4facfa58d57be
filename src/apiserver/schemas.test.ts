import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeBody } from "./media.js";
import { checkAgainstSchema, schemaNameForKind } from "./schemas.js";

test("strict decoding finds unknown fields by path and type mismatches", () => {
  const p = checkAgainstSchema(schemaNameForKind("ServiceAccount"), {
    metadata: { name: "a", bogus: 1, managedFields: [{ fieldsV1: { "f:anything": {} } }] },
    secrets: [{ name: "x", extra: true }],
    spec: {},
  });
  assert.deepEqual(p.unknown, ["metadata.bogus", "secrets[0].extra", "spec"]);
  assert.deepEqual(p.typeErrors, []);
  const t = checkAgainstSchema(schemaNameForKind("Secret"), { data: "nope", metadata: { labels: { a: 1 } } });
  assert.equal(t.typeErrors.length, 2);
  assert.match(
    t.typeErrors[0] ?? "",
    /cannot unmarshal string into Go struct field Secret.data of type map\[string\]\[\]uint8/,
  );
});

test("fieldValidation: Strict rejects, Warn drops and warns, Ignore drops silently", () => {
  const body = Buffer.from(
    JSON.stringify({ kind: "ConfigMap", metadata: { name: "c", foo: 1 }, data: { a: "b" }, spec: 1 }),
  );
  assert.throws(
    () => decodeBody("application/json", body, "ConfigMap", "Strict"),
    /ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.foo", unknown field "spec"/,
  );
  const warn = decodeBody("application/json", body, "ConfigMap", "Warn");
  assert.deepEqual(warn.warnings, ['unknown field "metadata.foo"', 'unknown field "spec"']);
  assert.deepEqual(warn.object, { kind: "ConfigMap", metadata: { name: "c" }, data: { a: "b" } });
  assert.deepEqual(
    decodeBody(
      "application/yaml",
      Buffer.from("kind: ConfigMap\nmetadata: {name: c}\nx: 1\n"),
      "ConfigMap",
      "Ignore",
    ),
    { object: { kind: "ConfigMap", metadata: { name: "c" } }, warnings: [] },
  );
  assert.throws(
    () => decodeBody("text/plain", body, "ConfigMap", "Strict"),
    (e: Error & { details?: { reason?: string } }) => e.details?.reason === "UnsupportedMediaType",
  );
});
