import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { describe, it } from "node:test";
import { isAtrestError } from "../common/errors.js";
import { decodeBlob, encodeBlob, encodeBlobHeader } from "./ciphertext-blob.js";
import { canonicalEncryptionContext, parseEncryptionContext } from "./encryption-context.js";

// Recorded with format v1 (key material 32×0x11, IV 12×0x22, context {"a":"1","b":"2"}, plaintext
// "aGVsbG8="). It must keep decrypting: a format, once written, never changes.
const GOLDEN_V1 = "p0sBCmtleS1nb2xkZW4KdmVyLWdvbGRlbiIiIiIiIiIiIiIiInawUTqiiKdiWgcy9pClQ0rbyqmm8kjp/g==";

function open(blob: string, ctx: Record<string, string>): string {
  const p = decodeBlob(blob);
  const d = createDecipheriv("aes-256-gcm", Buffer.alloc(32, 0x11), p.iv);
  d.setAAD(Buffer.concat([p.header, canonicalEncryptionContext(ctx)]));
  d.setAuthTag(p.tag);
  return Buffer.concat([d.update(p.ciphertext), d.final()]).toString("utf8");
}

describe("CiphertextBlob v1", () => {
  it("decrypts the recorded golden blob and names its key and version", () => {
    const p = decodeBlob(GOLDEN_V1);
    assert.equal(p.keyId, "key-golden");
    assert.equal(p.keyVersionId, "ver-golden");
    assert.equal(open(GOLDEN_V1, { b: "2", a: "1" }), "aGVsbG8=");
  });

  it("authenticates the header and the context", () => {
    assert.throws(() => open(GOLDEN_V1, { a: "1" }));
    const raw = Buffer.from(GOLDEN_V1, "base64");
    raw[5] = raw[5]! ^ 1; // a byte of the key id, in the header
    assert.throws(() => open(raw.toString("base64"), { a: "1", b: "2" }));
  });

  it("rejects truncated, foreign and unknown-version blobs as InvalidCiphertext", () => {
    const raw = Buffer.from(GOLDEN_V1, "base64");
    for (const bad of [
      raw.subarray(0, 20),
      Buffer.from("hello world, this is not a blob"),
      Buffer.concat([raw.subarray(0, 2), Buffer.of(9), raw.subarray(3)]),
    ]) {
      assert.throws(
        () => decodeBlob(bad.toString("base64")),
        (e: unknown) => isAtrestError(e) && e.details.kmsCode === "InvalidCiphertext",
      );
    }
    assert.throws(
      () => decodeBlob("***"),
      (e: unknown) => isAtrestError(e) && e.details.kmsCode === "InvalidCiphertext",
    );
  });

  it("round-trips a header", () => {
    const h = encodeBlobHeader("k", "v", Buffer.alloc(12, 1));
    const p = decodeBlob(encodeBlob(h, Buffer.from("ct"), Buffer.alloc(16, 2)));
    assert.deepEqual([p.keyId, p.keyVersionId, p.ciphertext.toString()], ["k", "v", "ct"]);
  });
});

describe("EncryptionContext", () => {
  it("canonical form is sorted and length-prefixed (locked)", () => {
    assert.equal(
      canonicalEncryptionContext({ b: "2", a: "1" }).toString("hex"),
      "000000020000000161000000013100000001620000000132",
    );
    assert.deepEqual(
      canonicalEncryptionContext({ a: "1", b: "2" }),
      canonicalEncryptionContext({ b: "2", a: "1" }),
    );
    // Length prefixes keep {"ab":"c"} and {"a":"bc"} apart.
    assert.notDeepEqual(canonicalEncryptionContext({ ab: "c" }), canonicalEncryptionContext({ a: "bc" }));
  });

  it("accepts JSON or flattened pairs and rejects anything else", () => {
    assert.deepEqual(parseEncryptionContext({ EncryptionContext: '{"x":"1"}', "EncryptionContext.y": "2" }), {
      x: "1",
      y: "2",
    });
    assert.deepEqual(parseEncryptionContext({}), {});
    for (const bad of ["[1]", '{"x":1}', "not json", "null"]) {
      assert.throws(
        () => parseEncryptionContext({ EncryptionContext: bad }),
        (e: unknown) => isAtrestError(e, "invalid-argument"),
      );
    }
    assert.throws(() =>
      parseEncryptionContext({ EncryptionContext: JSON.stringify({ k: "x".repeat(9000) }) }),
    );
  });
});
