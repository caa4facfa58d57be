import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, hkdfSync, randomBytes } from "node:crypto";
import { isAtrestError } from "../common/errors.js";
import { field, hexField, loadAtRestVectors } from "../../test/support/at-rest-vectors.js";
import {
  aesCbcDecrypt,
  aesCbcEncrypt,
  aesGcmOpen,
  aesGcmSeal,
  constantTimeEqual,
  hkdfExpandSha256,
  secretboxOpen,
  secretboxSeal,
} from "./index.js";

const vectors = loadAtRestVectors();
const corrupt = (err: unknown) => isAtrestError(err, "data-corrupt");

test("aes_gcm_legacy (recorded by kube-apiserver's tests) opens and re-seals byte for byte", () => {
  const v = vectors.kubernetes.aes_gcm_legacy;
  const key = hexField(v, "key_hex");
  const stored = hexField(v, "ciphertext_hex");
  const aad = Buffer.from(field(v, "aad"));
  const plaintext = aesGcmOpen(key, stored.subarray(0, 12), stored.subarray(12), aad);
  assert.equal(plaintext.toString(), field(v, "plaintext"));
  assert.deepEqual(
    Buffer.concat([stored.subarray(0, 12), aesGcmSeal(key, stored.subarray(0, 12), plaintext, aad)]),
    stored,
  );
  assert.throws(
    () => aesGcmOpen(key, stored.subarray(0, 12), stored.subarray(12), Buffer.from("bamboO")),
    corrupt,
  );
});

test("aes_extended_nonce_gcm_legacy: HKDF-Expand-only derives the recorded key and opens the value", () => {
  const v = vectors.kubernetes.aes_extended_nonce_gcm_legacy;
  const seed = hexField(v, "seed_hex");
  const info = hexField(v, "info_hex");
  const derived = hkdfExpandSha256(seed, info);
  assert.equal(derived.toString("hex"), field(v, "derived_key_hex"));
  // The trap DESIGN.md warns about: node's hkdfSync (Extract + Expand) gives another key.
  assert.notEqual(
    Buffer.from(hkdfSync("sha256", seed, Buffer.alloc(0), info, 32)).toString("hex"),
    field(v, "derived_key_hex"),
  );
  const stored = hexField(v, "ciphertext_hex");
  assert.deepEqual(stored.subarray(0, 32), info);
  assert.equal(stored.subarray(32, 44).toString("hex"), field(v, "nonce_hex"));
  const plaintext = aesGcmOpen(
    derived,
    stored.subarray(32, 44),
    stored.subarray(44),
    Buffer.from(field(v, "aad")),
  );
  assert.equal(plaintext.toString(), field(v, "plaintext"));
});

test("derived KMS v2 seed vector: derived_key_hex", () => {
  const v = vectors.derived["D-kms-v2 (HKDF_SHA256_XNONCE_AES_GCM_SEED, hand-encoded protobuf)"];
  assert.equal(
    hkdfExpandSha256(hexField(v, "seed_hex"), hexField(v, "info_hex")).toString("hex"),
    field(v, "derived_key_hex"),
  );
});

test("HKDF-Expand longer outputs follow RFC 5869 (T(1) ‖ T(2) …)", () => {
  const prk = randomBytes(32);
  const info = Buffer.from("ctx");
  const t1 = createHmac("sha256", prk).update(info).update(Buffer.of(1)).digest();
  const t2 = createHmac("sha256", prk).update(t1).update(info).update(Buffer.of(2)).digest();
  assert.deepEqual(hkdfExpandSha256(prk, info, 40), Buffer.concat([t1, t2]).subarray(0, 40));
  assert.deepEqual(hkdfExpandSha256(prk, info, 32), t1);
});

test("AES-GCM: tampering, truncation and wrong AAD are data-corrupt", () => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const sealed = aesGcmSeal(key, nonce, Buffer.from("secret value"), Buffer.from("/registry/secrets/a/b"));
  assert.equal(
    aesGcmOpen(key, nonce, sealed, Buffer.from("/registry/secrets/a/b")).toString(),
    "secret value",
  );
  const garbled = Buffer.from(sealed);
  garbled[3]! ^= 1;
  assert.throws(() => aesGcmOpen(key, nonce, garbled, Buffer.from("/registry/secrets/a/b")), corrupt);
  assert.throws(
    () => aesGcmOpen(key, nonce, sealed.subarray(0, 10), Buffer.from("/registry/secrets/a/b")),
    corrupt,
  );
  assert.throws(() => aesGcmOpen(key, nonce, sealed, Buffer.from("/registry/secrets/a/c")), corrupt);
  assert.throws(
    () => aesGcmSeal(randomBytes(20), nonce, Buffer.from("x")),
    (e: unknown) => isAtrestError(e, "invalid-argument"),
  );
});

test("AES-CBC: PKCS#7 with a full pad block at multiples of 16; bad padding is data-corrupt", () => {
  const v = vectors.derived["D-aescbc (16-byte plaintext)"];
  const key = hexField(v, "key_hex");
  const iv = hexField(v, "iv_hex");
  const ct = aesCbcEncrypt(key, iv, hexField(v, "plaintext_hex"));
  assert.equal(ct.length, 32);
  assert.deepEqual(aesCbcDecrypt(key, iv, ct), hexField(v, "plaintext_hex"));
  assert.equal(aesCbcEncrypt(key, iv, Buffer.alloc(0)).length, 16);
  assert.equal(aesCbcDecrypt(key, iv, aesCbcEncrypt(key, iv, Buffer.alloc(0))).length, 0);
  // Flipping the last byte of the second-to-last block changes the last plaintext byte (the padding).
  const bad = Buffer.from(ct);
  bad[15]! ^= 0x20;
  assert.throws(() => aesCbcDecrypt(key, iv, bad), corrupt);
  assert.throws(() => aesCbcDecrypt(key, iv, ct.subarray(0, 20)), corrupt);
  assert.throws(() => aesCbcDecrypt(key, iv, Buffer.alloc(0)), corrupt);
});

test("secretbox: tag ‖ ciphertext layout, authentication failures are data-corrupt", () => {
  const v = vectors.derived["D-secretbox"];
  const stored = hexField(v, "etcd_value_hex");
  const prefixLength = "k8s:enc:secretbox:v1:key1:".length;
  const nonce = hexField(v, "nonce_hex");
  const box = stored.subarray(prefixLength + 24);
  const key = hexField(v, "key_hex");
  assert.deepEqual(secretboxOpen(key, nonce, box), hexField(v, "plaintext_hex"));
  assert.deepEqual(secretboxSeal(key, nonce, hexField(v, "plaintext_hex")), box);
  const garbled = Buffer.from(box);
  garbled[box.length - 1]! ^= 1;
  assert.throws(() => secretboxOpen(key, nonce, garbled), corrupt);
  assert.throws(() => secretboxOpen(key, nonce, box.subarray(0, 15)), corrupt);
  assert.throws(
    () => secretboxSeal(key.subarray(0, 16), nonce, Buffer.from("x")),
    (e: unknown) => isAtrestError(e, "invalid-argument"),
  );
});

test("constantTimeEqual", () => {
  assert.equal(constantTimeEqual(Buffer.from("abc"), Buffer.from("abc")), true);
  assert.equal(constantTimeEqual(Buffer.from("abc"), Buffer.from("abd")), false);
  assert.equal(constantTimeEqual(Buffer.from("abc"), Buffer.from("ab")), false);
});
