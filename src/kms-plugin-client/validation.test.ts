import { test } from "node:test";
import assert from "node:assert/strict";
import {
  annotationNameProblems,
  annotationsProblems,
  ciphertextProblems,
  encryptResponseProblems,
  invalidPluginResponse,
  keyIdProblems,
  statusHealthProblems,
} from "./validation.js";

test("ciphertext: 1..1024 bytes", () => {
  assert.deepEqual(ciphertextProblems(Buffer.alloc(1)), []);
  assert.deepEqual(ciphertextProblems(Buffer.alloc(1024)), []);
  assert.deepEqual(ciphertextProblems(Buffer.alloc(0)), ["ciphertext is empty"]);
  assert.deepEqual(ciphertextProblems(Buffer.alloc(1025), "encryptedDEKSource"), [
    "encryptedDEKSource is 1025 bytes, which exceeds the max size of 1024",
  ]);
});

test("key_id: 1..1024 bytes, counted in UTF-8", () => {
  assert.deepEqual(keyIdProblems("1"), []);
  assert.deepEqual(keyIdProblems("k".repeat(1024)), []);
  assert.deepEqual(keyIdProblems(""), ["key_id is empty"]);
  // 512 two-byte characters = 1024 bytes (ok); 513 = 1026 bytes.
  assert.deepEqual(keyIdProblems("é".repeat(512)), []);
  assert.deepEqual(keyIdProblems("é".repeat(513), "keyID"), [
    "keyID is 1026 bytes, which exceeds the max size of 1024",
  ]);
});

for (const name of [
  "local-kek.kms.kubernetes.io",
  "a.b",
  "a.b.",
  "x1.y-2.z",
  `${"a".repeat(63)}.b`,
  `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`, // 253
]) {
  test(`annotation name ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…(${name.length})` : name)} is valid`, () => {
    assert.deepEqual(annotationNameProblems(name), []);
  });
}

for (const [name, expected] of [
  ["", /Required value/],
  ["single", /at least two segments/],
  ["single.", /at least two segments/],
  ["Upper.example.com", /lowercase RFC 1123 subdomain/],
  ["a..b", /lowercase RFC 1123 subdomain/],
  ["-a.b", /lowercase RFC 1123 subdomain/],
  ["a.b-", /lowercase RFC 1123 subdomain/],
  ["a_b.c", /lowercase RFC 1123 subdomain/],
  ["a.b..", /lowercase RFC 1123 subdomain/],
  [`${"a".repeat(64)}.b`, /"a{64}": must be no more than 63 characters/],
  [
    `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`,
    /must be no more than 253 characters/,
  ],
] as const) {
  test(`annotation name ${JSON.stringify(name.slice(0, 30))} is invalid`, () => {
    const problems = annotationNameProblems(name);
    assert.ok(problems.length > 0);
    assert.match(problems.join("\n"), expected);
  });
}

test("annotations: names and value bytes sum to at most 32 KiB", () => {
  const name = "a.b"; // 3 bytes
  assert.deepEqual(annotationsProblems({ [name]: Buffer.alloc(32768 - 3) }), []);
  assert.deepEqual(annotationsProblems({ [name]: Buffer.alloc(32768 - 2) }), [
    "total size of annotations is 32769, which exceeds the max size of 32768",
  ]);
  assert.deepEqual(annotationsProblems({}), []);
});

test("encrypt response: every problem at once", () => {
  assert.deepEqual(
    encryptResponseProblems({
      ciphertext: Buffer.alloc(0),
      keyId: "",
      annotations: { bad: Buffer.alloc(1) },
    }),
    [
      "ciphertext is empty",
      "key_id is empty",
      'annotations: Invalid value: "bad": should be a domain with at least two segments separated by dots',
    ],
  );
});

test("status health: healthz ok, version v2 or v2beta1, valid key_id", () => {
  assert.deepEqual(statusHealthProblems({ version: "v2", healthz: "ok", keyId: "1" }), []);
  assert.deepEqual(statusHealthProblems({ version: "v2beta1", healthz: "ok", keyId: "1" }), []);
  assert.deepEqual(statusHealthProblems({ version: "v1", healthz: "down", keyId: "" }), [
    "got unexpected healthz status: down",
    "expected KMSv2 API version v2, got v1",
    "key_id is empty",
  ]);
});

test("invalidPluginResponse is a typed internal error with the problems in details", () => {
  const err = invalidPluginResponse("/v2.KeyManagementService/Encrypt", ["ciphertext is empty"], {
    uid: "u",
  });
  assert.equal(err.code, "internal");
  assert.equal(err.retryable, false);
  assert.deepEqual(err.details, {
    uid: "u",
    reason: "invalid-plugin-response",
    method: "/v2.KeyManagementService/Encrypt",
    problems: ["ciphertext is empty"],
  });
});
