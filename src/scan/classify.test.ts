import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeEncryptedObjectWire } from "../proto/encrypted-object.js";
import { hexField, loadAtRestVectors } from "../../test/support/at-rest-vectors.js";
import { classifyValue, providerLabel } from "./classify.js";

const vectors = loadAtRestVectors();
const derived = (name: string) => hexField(vectors.derived[name], "etcd_value_hex");
const b = (s: string) => Buffer.from(s, "latin1");

function kmsV2(providerName: string, fields: Parameters<typeof encodeEncryptedObjectWire>[0]): Buffer {
  return Buffer.concat([b(`k8s:enc:kms:v2:${providerName}:`), encodeEncryptedObjectWire(fields)]);
}

describe("classifyValue", () => {
  test("plaintext: JSON, kube protobuf, CBOR, anything else without k8s:enc:", () => {
    assert.deepEqual(classifyValue(b('{"kind":"Secret"}')), { kind: "plaintext", encoding: "json" });
    assert.deepEqual(classifyValue(b('  \n{"kind":"Secret"}')), { kind: "plaintext", encoding: "json" });
    const protobufSecret = hexField(vectors.kubernetes["kmsv2_legacy_aes_gcm_key"], "plaintext_hex");
    assert.deepEqual(classifyValue(protobufSecret), { kind: "plaintext", encoding: "protobuf" });
    assert.deepEqual(classifyValue(Buffer.from([0xd9, 0xd9, 0xf7, 0xa1])), {
      kind: "plaintext",
      encoding: "cbor",
    });
    assert.deepEqual(classifyValue(b("hello")), { kind: "plaintext", encoding: "other" });
    assert.deepEqual(classifyValue(Buffer.alloc(0)), { kind: "plaintext", encoding: "other" });
    // Close to the marker but not it: still plaintext.
    assert.deepEqual(classifyValue(b("k8s:enc")), { kind: "plaintext", encoding: "other" });
  });

  test("local providers from the derived vectors: provider and key name", () => {
    assert.deepEqual(classifyValue(derived("D-aescbc (10-byte plaintext)")), {
      kind: "encrypted",
      provider: "aescbc",
      keyName: "key1",
    });
    assert.deepEqual(classifyValue(derived("D-aescbc (16-byte plaintext)")), {
      kind: "encrypted",
      provider: "aescbc",
      keyName: "key1",
    });
    assert.deepEqual(classifyValue(derived("D-aesgcm")), {
      kind: "encrypted",
      provider: "aesgcm",
      keyName: "key1",
    });
    assert.deepEqual(classifyValue(derived("D-secretbox")), {
      kind: "encrypted",
      provider: "secretbox",
      keyName: "key1",
    });
  });

  test("KMS v1 and v2 vectors: provider name, key_id and DEK source type without decrypting", () => {
    assert.deepEqual(classifyValue(derived("D-kms-v1 (AES-GCM payload, written by >=1.25)")), {
      kind: "encrypted",
      provider: "kms",
      kmsApiVersion: "v1",
      providerName: "kms-provider",
    });
    const cbc = derived(
      "D-kms-v1-legacy-cbc (AES-CBC payload, written by <=1.24; still readable, marked stale)",
    );
    assert.equal(classifyValue(cbc).kind, "encrypted");
    assert.deepEqual(
      classifyValue(hexField(vectors.kubernetes["kmsv2_legacy_aes_gcm_key"], "etcd_value_hex")),
      {
        kind: "encrypted",
        provider: "kms",
        kmsApiVersion: "v2",
        providerName: "kms-provider",
        keyId: "1",
        dekSourceType: "AES_GCM_KEY",
      },
    );
    const seed = classifyValue(derived("D-kms-v2 (HKDF_SHA256_XNONCE_AES_GCM_SEED, hand-encoded protobuf)"));
    assert.equal(seed.kind, "encrypted");
    assert.equal(
      seed.kind === "encrypted" &&
        seed.provider === "kms" &&
        seed.kmsApiVersion === "v2" &&
        seed.dekSourceType,
      "HKDF_SHA256_XNONCE_AES_GCM_SEED",
    );
    const legacy = classifyValue(derived("D-kms-v2 (AES_GCM_KEY legacy mode, counter nonce)"));
    assert.equal(
      legacy.kind === "encrypted" &&
        legacy.provider === "kms" &&
        legacy.kmsApiVersion === "v2" &&
        legacy.dekSourceType,
      "AES_GCM_KEY",
    );
    assert.equal(providerLabel(legacy), "kms:v2");
  });

  test("KMS v2 key ids are reported exactly as stored", () => {
    const value = kmsV2("p", {
      encryptedData: Buffer.alloc(60, 1),
      keyID: "key/version 7",
      encryptedDEKSource: Buffer.alloc(32, 2),
      encryptedDEKSourceType: 1,
    });
    const c = classifyValue(value);
    assert.ok(c.kind === "encrypted" && c.provider === "kms" && c.kmsApiVersion === "v2");
    assert.equal(c.keyId, "key/version 7");
    assert.equal(c.providerName, "p");
  });

  const malformedCases: Array<[string, Buffer, RegExp]> = [
    ["the marker alone", b("k8s:enc:"), /no provider name/],
    [
      "an unknown provider",
      b("k8s:enc:rot13:v1:k:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
      /unknown provider "rot13"/,
    ],
    [
      "an unknown aesgcm version",
      b("k8s:enc:aesgcm:v9:k:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
      /unknown aesgcm format version "v9"/,
    ],
    ["an empty key name", b("k8s:enc:aesgcm:v1::xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), /no key name/],
    ["an unterminated key name", b("k8s:enc:aesgcm:v1:key"), /no key name/],
    ["short aesgcm data", b("k8s:enc:aesgcm:v1:k:0123456789"), /shorter than a nonce and a tag/],
    [
      "aescbc data not in blocks",
      Buffer.concat([b("k8s:enc:aescbc:v1:k:"), Buffer.alloc(33)]),
      /not a whole number of 16-byte blocks/,
    ],
    [
      "short aescbc data",
      Buffer.concat([b("k8s:enc:aescbc:v1:k:"), Buffer.alloc(16)]),
      /shorter than an IV and one block/,
    ],
    [
      "short secretbox data",
      Buffer.concat([b("k8s:enc:secretbox:v1:k:"), Buffer.alloc(39)]),
      /shorter than a nonce and a tag/,
    ],
    [
      "an unknown kms API version",
      b("k8s:enc:kms:v3:p:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
      /unknown kms API version "v3"/,
    ],
    [
      "a kms v1 DEK length past the end",
      Buffer.concat([b("k8s:enc:kms:v1:p:"), Buffer.from([0x10, 0x00]), Buffer.alloc(40)]),
      /runs past the end/,
    ],
    [
      "an empty kms v1 DEK",
      Buffer.concat([b("k8s:enc:kms:v1:p:"), Buffer.from([0, 0]), Buffer.alloc(40)]),
      /encrypted DEK is empty/,
    ],
    [
      "a garbled kms v2 EncryptedObject",
      Buffer.concat([b("k8s:enc:kms:v2:p:"), Buffer.from([0x0a, 0xff, 0xff, 0x01])]),
      /EncryptedObject/,
    ],
    [
      "a kms v2 object without a key id",
      kmsV2("p", { encryptedData: Buffer.alloc(60), keyID: "", encryptedDEKSource: Buffer.alloc(32) }),
      /key id/,
    ],
    [
      "a kms v2 seed object too short for info, nonce and tag",
      kmsV2("p", {
        encryptedData: Buffer.alloc(40),
        keyID: "1",
        encryptedDEKSource: Buffer.alloc(32),
        encryptedDEKSourceType: 1,
      }),
      /shorter than the 60 that HKDF_SHA256_XNONCE_AES_GCM_SEED needs/,
    ],
  ];
  for (const [what, value, reason] of malformedCases) {
    test(`malformed: ${what}`, () => {
      const c = classifyValue(value);
      assert.equal(c.kind, "malformed", JSON.stringify(c));
      assert.ok(c.kind === "malformed");
      assert.match(c.reason, reason);
      assert.equal(providerLabel(c), "malformed");
    });
  }

  test("a malformed reason carries the prefix but no payload bytes", () => {
    const payload = "SECRET-PAYLOAD-MARKER";
    const c = classifyValue(b(`k8s:enc:aesgcm:v1:k:${payload}`));
    assert.ok(c.kind === "malformed");
    assert.equal(c.prefix, "k8s:enc:aesgcm:v1:k:");
    assert.ok(!JSON.stringify(c).includes(payload));
  });
});
