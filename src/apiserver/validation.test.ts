import { test } from "node:test";
import assert from "node:assert/strict";
import {
  configKeyErrors,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  qualifiedNameErrors,
  validateImmutableUpdate,
  validateObjectMeta,
  validateSecret,
} from "./validation.js";

test("names: DNS-1123 subdomain for objects, label for namespaces", () => {
  assert.deepEqual(dns1123SubdomainErrors("my.secret-1"), []);
  assert.equal(dns1123SubdomainErrors("Bad_Name").length, 1);
  assert.match(dns1123SubdomainErrors("a".repeat(254))[0] ?? "", /must be no more than 253 characters/);
  assert.deepEqual(dns1123LabelErrors("team-a"), []);
  assert.match(dns1123LabelErrors("has.dot")[0] ?? "", /a lowercase RFC 1123 label must consist of/);
  assert.match(dns1123LabelErrors("a".repeat(64))[0] ?? "", /must be no more than 63 characters/);
});

test("label keys and values, data keys", () => {
  assert.deepEqual(qualifiedNameErrors("example.com/app"), []);
  assert.deepEqual(qualifiedNameErrors("app"), []);
  assert.ok(qualifiedNameErrors("bad key!").length > 0);
  assert.ok(qualifiedNameErrors("/x").some((e) => e.includes("prefix part must be non-empty")));
  assert.deepEqual(labelValueErrors(""), []);
  assert.ok(labelValueErrors("-x").length > 0);
  assert.deepEqual(configKeyErrors("tls.crt"), []);
  assert.deepEqual(configKeyErrors("."), ["must not be '.'"]);
  assert.ok(
    configKeyErrors("a/b")[0]?.startsWith("a valid config key must consist of alphanumeric characters"),
  );
});

test("object meta: name or generateName required; namespace rules per scope", () => {
  assert.deepEqual(
    validateObjectMeta({}, { nameRule: "subdomain", namespaced: true }).map((e) => e.field),
    ["metadata.name", "metadata.namespace"],
  );
  assert.deepEqual(
    validateObjectMeta(
      { generateName: "x-", namespace: "default" },
      { nameRule: "subdomain", namespaced: true },
    ),
    [],
  );
  assert.deepEqual(
    validateObjectMeta({ name: "n", namespace: "default" }, { nameRule: "label", namespaced: false }).map(
      (e) => [e.field, e.type],
    ),
    [["metadata.namespace", "FieldValueForbidden"]],
  );
});

test("Secrets: base64 data, size limit, typed secrets need their keys", () => {
  assert.deepEqual(validateSecret({ data: { a: "eA==" } }), []);
  assert.equal(validateSecret({ data: { a: "not base64!" } })[0]?.field, "data[a]");
  assert.equal(
    validateSecret({ data: { a: Buffer.alloc(1024 * 1024 + 1).toString("base64") } })[0]?.type,
    "FieldValueTooLong",
  );
  assert.deepEqual(
    validateSecret({ type: "kubernetes.io/tls", data: { "tls.crt": "eA==" } }).map((e) => e.field),
    ["data[tls.key]"],
  );
});

test("immutable: data may not change, the flag may not be cleared, type is immutable", () => {
  const old = { kind: "Secret", immutable: true, data: { a: "eA==" }, type: "Opaque" };
  assert.deepEqual(validateImmutableUpdate("Secret", old, { ...old }), []);
  assert.deepEqual(
    validateImmutableUpdate("Secret", old, { ...old, data: { a: "eQ==" } }).map((e) => e.field),
    ["data"],
  );
  assert.deepEqual(
    validateImmutableUpdate("Secret", old, { ...old, immutable: false }).map((e) => e.field),
    ["immutable"],
  );
  assert.deepEqual(
    validateImmutableUpdate("Secret", { type: "Opaque" }, { type: "kubernetes.io/tls" }).map((e) => e.field),
    ["type"],
  );
});
