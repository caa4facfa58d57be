import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { FakeKmsV1Service, FakeKmsV2Service } from "../../test/support/fake-kms-v2-service.js";
import { AtrestError, isAtrestError } from "../common/errors.js";
import { ManualClock } from "../common/clock.js";
import { encryptedObjectType } from "../proto/encrypted-object.js";
import {
  contextForKey,
  decodeEncryptedObject,
  encodeEncryptedObject,
  newAesCbcTransformer,
  newAesGcmTransformer,
  newIdentityTransformer,
  newKmsV1Transformer,
  newKmsV2Transformer,
  newPrefixChain,
  newSecretboxTransformer,
  type EnvelopeProvider,
  type Transformer,
} from "./index.js";

const ctx = contextForKey("/registry/secrets/default/mysecret");
const plaintext = Buffer.from('{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}');

async function kmsV2(service = new FakeKmsV2Service(), name = "kms") {
  const provider = newKmsV2Transformer({ providerName: name, service, clock: new ManualClock() });
  await provider.healthCheck();
  return provider;
}

async function allProviders(): Promise<Array<[string, EnvelopeProvider]>> {
  return [
    ["identity", newIdentityTransformer()],
    ["aescbc", newAesCbcTransformer([{ name: "k1", secret: randomBytes(32) }])],
    ["aesgcm", newAesGcmTransformer([{ name: "k1", secret: randomBytes(16) }])],
    ["secretbox", newSecretboxTransformer([{ name: "k1", secret: randomBytes(32) }])],
    ["kms v1", newKmsV1Transformer({ providerName: "kms1", service: new FakeKmsV1Service() })],
    ["kms v2", await kmsV2()],
  ];
}

/** Resolving is allowed only with the original plaintext; rejecting only with an AtrestError. */
async function neverWrong(
  t: Transformer,
  data: Buffer,
  expected: Buffer,
  what: string,
): Promise<"error" | "same"> {
  try {
    const r = await t.transformFromStorage(data, ctx);
    // KMS v1 falls back to the unauthenticated legacy CBC payload when GCM fails (as kube does): a
    // damaged GCM value of a block-multiple length can pass the padding check (≈1/256). Such a read is
    // never presented as current data: it says AES_CBC and is stale.
    if (r.origin.kmsApiVersion === "v1" && r.origin.dekSourceType === "AES_CBC" && r.stale) return "error";
    assert.deepEqual(r.plaintext, expected, `${what}: returned wrong plaintext`);
    return "same";
  } catch (err) {
    assert.ok(err instanceof AtrestError, `${what}: threw a non-AtrestError: ${String(err)}`);
    assert.ok(!err.message.includes(expected.toString()), `${what}: message leaks plaintext`);
    return "error";
  }
}

test("every provider round-trips, including empty and 1 MiB values, and writes its prefix", async () => {
  for (const [name, p] of await allProviders()) {
    for (const value of [plaintext, Buffer.alloc(0), randomBytes(1 << 20)]) {
      const stored = await p.transformToStorage(value, ctx);
      assert.ok(stored.subarray(0, p.prefix.length).equals(p.prefix), name);
      if (name !== "identity" && value.length > 16)
        assert.equal(stored.indexOf(value.subarray(0, 16)), -1, `${name} stores plaintext`);
      const r = await p.transformFromStorage(stored, ctx);
      assert.deepEqual(r.plaintext, value, name);
      assert.equal(r.stale, false, name);
      assert.equal(r.origin.provider, name.startsWith("kms") ? "kms" : name);
    }
  }
});

test("layouts: aesgcm nonce(12)‖ct‖tag, aescbc IV‖blocks, secretbox nonce(24)‖tag‖ct, kms v1 u16 length‖encDEK‖nonce‖ct‖tag", async () => {
  const gcm = await newAesGcmTransformer([{ name: "k1", secret: randomBytes(32) }]).transformToStorage(
    plaintext,
    ctx,
  );
  assert.equal(gcm.length, "k8s:enc:aesgcm:v1:k1:".length + 12 + plaintext.length + 16);
  const cbc = await newAesCbcTransformer([{ name: "k1", secret: randomBytes(32) }]).transformToStorage(
    Buffer.alloc(32),
    ctx,
  );
  assert.equal(cbc.length, "k8s:enc:aescbc:v1:k1:".length + 16 + 48); // a full pad block at 32 bytes
  const box = await newSecretboxTransformer([{ name: "k1", secret: randomBytes(32) }]).transformToStorage(
    plaintext,
    ctx,
  );
  assert.equal(box.length, "k8s:enc:secretbox:v1:k1:".length + 24 + 16 + plaintext.length);
  const v1 = await newKmsV1Transformer({
    providerName: "p",
    service: new FakeKmsV1Service(),
  }).transformToStorage(plaintext, ctx);
  const body = v1.subarray("k8s:enc:kms:v1:p:".length);
  const encLength = body.readUInt16BE(0);
  assert.equal(encLength, 44); // base64 of a 32-byte DEK
  assert.equal(body.length, 2 + encLength + 12 + plaintext.length + 16);
  const v2 = await (await kmsV2()).transformToStorage(plaintext, ctx);
  const o = decodeEncryptedObject(v2.subarray("k8s:enc:kms:v2:kms:".length));
  assert.equal(o.encryptedDEKSourceType, 1);
  assert.equal(o.encryptedData.length, 32 + 12 + plaintext.length + 16);
  assert.equal(o.keyID, "1");
});

test("several keys: the first writes, the others read and mark stale, origin names the key", async () => {
  for (const make of [newAesGcmTransformer, newAesCbcTransformer, newSecretboxTransformer]) {
    const a = { name: "new", secret: randomBytes(32) };
    const b = { name: "old", secret: randomBytes(32) };
    const oldStored = await make([b]).transformToStorage(plaintext, ctx);
    const rotated = make([a, b]);
    const r = await rotated.transformFromStorage(oldStored, ctx);
    assert.deepEqual(r.plaintext, plaintext);
    assert.equal(r.stale, true);
    assert.equal(r.origin.keyName, "old");
    const fresh = await rotated.transformToStorage(plaintext, ctx);
    assert.ok(fresh.includes(Buffer.from(":new:")));
    assert.equal((await rotated.transformFromStorage(fresh, ctx)).stale, false);
    await assert.rejects(make([a]).transformFromStorage(oldStored, ctx), { code: "failed-precondition" });
  }
});

test("bad key configuration is invalid-argument", () => {
  const bad = (fn: () => unknown) => assert.throws(fn, (e: unknown) => isAtrestError(e, "invalid-argument"));
  bad(() => newAesGcmTransformer([]));
  bad(() => newAesGcmTransformer([{ name: "a", secret: randomBytes(20) }]));
  // Two keys of one name are not bad: kube-apiserver accepts them (encryption-config/configurations-read-like-kube.test.ts reads both).
  bad(() => newSecretboxTransformer([{ name: "a", secret: randomBytes(16) }]));
  bad(() => newKmsV1Transformer({ providerName: "p", service: new FakeKmsV1Service(), cacheSize: 0 }));
  bad(() => newKmsV2Transformer({ providerName: "a:b", service: new FakeKmsV2Service() }));
  bad(() => newPrefixChain([]));
});

test("prefix chain: first writes, all read, later providers are stale, identity reads unprefixed data", async () => {
  const gcm = newAesGcmTransformer([{ name: "k1", secret: randomBytes(32) }]);
  const box = newSecretboxTransformer([{ name: "k1", secret: randomBytes(32) }]);
  const kms = await kmsV2();
  const chain = newPrefixChain([kms, gcm, box, newIdentityTransformer()]);
  const written = await chain.transformToStorage(plaintext, ctx);
  assert.ok(written.subarray(0, 19).equals(Buffer.from("k8s:enc:kms:v2:kms:")));
  assert.equal((await chain.transformFromStorage(written, ctx)).stale, false);
  for (const p of [gcm, box]) {
    const r = await chain.transformFromStorage(await p.transformToStorage(plaintext, ctx), ctx);
    assert.deepEqual(r.plaintext, plaintext);
    assert.equal(r.stale, true);
  }
  const unencrypted = await chain.transformFromStorage(plaintext, ctx);
  assert.deepEqual(unencrypted.plaintext, plaintext);
  assert.equal(unencrypted.stale, true);
  assert.deepEqual(unencrypted.origin, { provider: "identity" });

  // identity first (decrypting away from encryption): writes plaintext, still reads the encrypted data.
  const disable = newPrefixChain([newIdentityTransformer(), gcm]);
  assert.deepEqual(await disable.transformToStorage(plaintext, ctx), plaintext);
  const r = await disable.transformFromStorage(await gcm.transformToStorage(plaintext, ctx), ctx);
  assert.deepEqual(r.plaintext, plaintext);
  assert.equal(r.stale, true);
});

test("unknown prefixes and identity on encrypted data are typed errors naming the prefix", async () => {
  const chain = newPrefixChain([
    newAesGcmTransformer([{ name: "k1", secret: randomBytes(32) }]),
    newIdentityTransformer(),
  ]);
  await assert.rejects(
    chain.transformFromStorage(Buffer.from("k8s:enc:unknown:v1:x:\x00\x01garbage"), ctx),
    (err: unknown) => {
      assert.ok(isAtrestError(err, "failed-precondition"));
      assert.match(err.message, /no matching prefix found.*"k8s:enc:unknown:v1:x:"/);
      assert.equal(err.details.reason, "unknown-prefix");
      return true;
    },
  );
  await assert.rejects(chain.transformFromStorage(Buffer.from("k8s:enc:kms:v2:other:xyz"), ctx), {
    code: "failed-precondition",
  });
  await assert.rejects(
    chain.transformFromStorage(Buffer.from("k8s:enc:aesgcm:v1:k2:0123456789abcdefghijklmnopqrstuvwxyz"), ctx),
    {
      code: "failed-precondition",
    },
  );
  await assert.rejects(
    newIdentityTransformer().transformFromStorage(Buffer.from("k8s:enc:aesgcm:v1:k1:xx"), ctx),
    {
      code: "failed-precondition",
    },
  );
  await assert.rejects(
    newPrefixChain([newAesGcmTransformer([{ name: "k1", secret: randomBytes(32) }])]).transformFromStorage(
      plaintext,
      ctx,
    ),
    (err: unknown) => {
      assert.ok(isAtrestError(err, "failed-precondition"));
      // Nothing of the unencrypted value appears in the error.
      assert.ok(!JSON.stringify({ m: err.message, d: err.details }).includes("Secret"));
      return true;
    },
  );
});

test("wrong AAD (the value moved to another storage key) fails for every AAD-bound format", async () => {
  const moved = contextForKey("/registry/secrets/default/othersecret");
  for (const [name, p] of await allProviders()) {
    if (name === "identity" || name === "aescbc" || name === "secretbox") continue; // these formats carry no AAD
    const stored = await p.transformToStorage(plaintext, ctx);
    if (name === "kms v1") {
      // kube's KMS v1 reads unionTransformers{gcm, cbc}: after GCM refuses the moved value, the CBC
      // fallback for ≤ 1.24 data decrypts it as CBC, and about 1 time in 256 its padding happens to be
      // valid — garbage, marked stale, never the Secret. Either way the value does not read back.
      const read = await p.transformFromStorage(stored, moved).catch((err: unknown) => {
        assert.ok(isAtrestError(err, "data-corrupt"), name);
        return undefined;
      });
      if (read !== undefined) {
        assert.notDeepEqual(read.plaintext, plaintext, name);
        assert.equal(read.stale, true, name);
      }
      continue;
    }
    await assert.rejects(p.transformFromStorage(stored, moved), { code: "data-corrupt" }, name);
  }
});

test("truncated values: a typed error at every length, never wrong plaintext", async () => {
  for (const [name, p] of await allProviders()) {
    if (name === "identity") continue;
    const stored = await p.transformToStorage(plaintext, ctx);
    for (let length = 0; length < stored.length; length++) {
      const cut = stored.subarray(0, length);
      // CBC has no integrity: a block-aligned truncation can pass the padding check (kube reads it too).
      const cbcAligned =
        name === "aescbc" && (length - p.prefix.length - 3) % 16 === 0 && length > p.prefix.length + 3 + 16;
      if (cbcAligned) continue;
      assert.equal(
        await neverWrong(p, cut, plaintext, `${name} cut to ${length}`),
        "error",
        `${name} cut to ${length}`,
      );
    }
  }
});

test("garbled values: flipping any byte is a typed error or (when the byte is not covered, e.g. a key id) the same plaintext", async () => {
  for (const [name, p] of await allProviders()) {
    if (name === "identity" || name === "aescbc") continue;
    const stored = await p.transformToStorage(plaintext, ctx);
    let errors = 0;
    for (let i = 0; i < stored.length; i++) {
      const garbled = Buffer.from(stored);
      garbled[i]! ^= 0x01;
      if ((await neverWrong(p, garbled, plaintext, `${name} byte ${i}`)) === "error") errors++;
    }
    assert.ok(errors > stored.length / 2, name);
  }
});

test("kms v1: a length prefix beyond the data, or an empty payload, is data-corrupt", async () => {
  const p = newKmsV1Transformer({ providerName: "p", service: new FakeKmsV1Service() });
  await assert.rejects(p.transformFromStorage(Buffer.from("k8s:enc:kms:v1:p:\xff\xffabc", "latin1"), ctx), {
    code: "data-corrupt",
  });
  await assert.rejects(p.transformFromStorage(Buffer.from("k8s:enc:kms:v1:p:\x00\x02ab", "latin1"), ctx), {
    code: "data-corrupt",
  });
});

test("kms v1: one plugin Encrypt per write; decrypted DEKs cached (LRU of cachesize), or not at all when negative", async () => {
  const service = new FakeKmsV1Service();
  const writer = newKmsV1Transformer({ providerName: "p", service });
  const values = [];
  for (let i = 0; i < 5; i++) values.push(await writer.transformToStorage(plaintext, ctx));
  assert.equal(service.calls.encrypt, 5);
  const reader = newKmsV1Transformer({ providerName: "p", service, cacheSize: 2 });
  for (const v of values) await reader.transformFromStorage(v, ctx);
  for (const v of values.slice(3)) await reader.transformFromStorage(v, ctx);
  assert.equal(service.calls.decrypt, 5); // the last two stayed cached
  await reader.transformFromStorage(values[0]!, ctx);
  assert.equal(service.calls.decrypt, 6); // evicted
  const uncached = newKmsV1Transformer({ providerName: "p", service, cacheSize: -1 });
  await uncached.transformFromStorage(values[0]!, ctx);
  await uncached.transformFromStorage(values[0]!, ctx);
  assert.equal(service.calls.decrypt, 8);
  service.down = true;
  await assert.rejects(writer.transformToStorage(plaintext, ctx), { code: "unavailable" });
  await assert.rejects(uncached.transformFromStorage(values[1]!, ctx), { code: "unavailable" });
});

function rawObject(fields: Record<string, unknown>): Buffer {
  const type = encryptedObjectType();
  return Buffer.from(type.encode(fields).finish());
}

test("kms v2 EncryptedObject: oversized and malformed fields are rejected on decode (data-corrupt) and encode (invalid-argument)", () => {
  const good = {
    encryptedData: randomBytes(60),
    keyID: "1",
    encryptedDEKSource: randomBytes(32),
    annotations: { "example.com": Buffer.from("v") },
    encryptedDEKSourceType: 1 as const,
  };
  assert.deepEqual(decodeEncryptedObject(encodeEncryptedObject(good)), good);
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["unknown type", { encryptedDEKSourceType: 2 }, /unknown encryptedDEKSourceType: 2/],
    ["empty data", { encryptedData: Buffer.alloc(0) }, /encrypted data is empty/],
    [
      "source too long",
      { encryptedDEKSource: randomBytes(1025) },
      /1025 bytes, which exceeds the max size of 1024/,
    ],
    ["source empty", { encryptedDEKSource: Buffer.alloc(0) }, /encrypted DEK source is empty/],
    ["key id too long", { keyID: "k".repeat(1025) }, /keyID is 1025 bytes/],
    ["key id empty", { keyID: "" }, /keyID is empty/],
    ["one-label annotation", { annotations: { localhost: Buffer.from("v") } }, /at least two segments/],
    ["capital annotation", { annotations: { "Example.com": Buffer.from("v") } }, /lowercase RFC 1123/],
    ["long label", { annotations: { [`${"a".repeat(64)}.com`]: Buffer.from("v") } }, /no more than 63/],
    ["long name", { annotations: { [`${"a.".repeat(127)}com`]: Buffer.from("v") } }, /no more than 253/],
    [
      "annotations too big",
      { annotations: { "a.example.com": randomBytes(32 * 1024) } },
      /exceeds the max size of 32768/,
    ],
  ];
  for (const [name, change, message] of cases) {
    const bad = { ...good, ...change };
    assert.throws(
      () => decodeEncryptedObject(rawObject(bad)),
      (e: unknown) => isAtrestError(e, "data-corrupt") && message.test(e.message),
      name,
    );
    assert.throws(
      () => encodeEncryptedObject(bad),
      (e: unknown) => isAtrestError(e, "invalid-argument"),
      name,
    );
  }
  // A trailing dot is allowed, as in kube.
  assert.doesNotThrow(() =>
    decodeEncryptedObject(rawObject({ ...good, annotations: { "example.com.": Buffer.from("v") } })),
  );
  assert.throws(
    () => decodeEncryptedObject(Buffer.from([0x0a, 0xff, 0xff, 0x01])),
    (e: unknown) => isAtrestError(e, "data-corrupt"),
  );
});

test("kms v2 through the provider: unknown dekSourceType and oversized fields are data-corrupt, the plugin is not called", async () => {
  const service = new FakeKmsV2Service();
  const p = await kmsV2(service, "kms");
  const base = { encryptedData: randomBytes(60), keyID: "1", encryptedDEKSource: Buffer.from("c2VlZA==") };
  for (const fields of [
    { ...base, encryptedDEKSourceType: 7 },
    { ...base, keyID: "x".repeat(2000) },
    { ...base, annotations: { "big.example.com": randomBytes(40_000) } },
  ]) {
    const value = Buffer.concat([p.prefix, rawObject(fields)]);
    await assert.rejects(p.transformFromStorage(value, ctx), { code: "data-corrupt" });
  }
  assert.equal(service.calls.decrypt, 0);
});

test("errors never contain plaintext or key bytes", async () => {
  const secret = randomBytes(32);
  const gcm = newAesGcmTransformer([{ name: "k1", secret }]);
  const stored = await gcm.transformToStorage(plaintext, ctx);
  stored[stored.length - 1]! ^= 1;
  await assert.rejects(gcm.transformFromStorage(stored, ctx), (err: unknown) => {
    const text = `${(err as Error).message} ${JSON.stringify((err as AtrestError).details)}`;
    assert.ok(!text.includes(secret.toString("hex")) && !text.includes(secret.toString("base64")));
    assert.ok(!text.includes(plaintext.toString()));
    return true;
  });
});

test("kms v2 write bytes equal protobufjs's encoding of the whole EncryptedObject (field 1 + cached header)", async () => {
  const service = new FakeKmsV2Service();
  service.annotations = { "b.example.com": Buffer.from("2"), "a.example.com": Buffer.from("1") };
  const p = await kmsV2(service);
  for (const size of [0, 1, 100, 200, 20_000]) {
    const body = (await p.transformToStorage(randomBytes(size), ctx)).subarray(p.prefix.length);
    assert.deepEqual(encodeEncryptedObject(decodeEncryptedObject(body)), body, `size ${size}`);
  }
});

test("kms v2 KDF cache (per storage key, info checked): older values of the same key and other instances read right", async () => {
  for (const kdfCache of [true, false]) {
    const service = new FakeKmsV2Service();
    const p = newKmsV2Transformer({ providerName: "kms", service, clock: new ManualClock(), kdfCache });
    await p.healthCheck();
    const first = await p.transformToStorage(Buffer.from("first"), ctx);
    const second = await p.transformToStorage(Buffer.from("second"), ctx);
    assert.equal((await p.transformFromStorage(first, ctx)).plaintext.toString(), "first");
    assert.equal((await p.transformFromStorage(second, ctx)).plaintext.toString(), "second");
    assert.equal((await p.transformFromStorage(first, ctx)).plaintext.toString(), "first");
    const other = await kmsV2(service);
    assert.equal((await other.transformFromStorage(second, ctx)).plaintext.toString(), "second");
    await assert.rejects(
      other.transformFromStorage(second, contextForKey("/registry/secrets/default/moved")),
      { code: "data-corrupt" },
    );
  }
});

test("kms v2 values of another seed: validated headers are remembered; garbling them afterwards is still caught", async () => {
  const service = new FakeKmsV2Service();
  const writer = await kmsV2(service);
  const stored = await writer.transformToStorage(plaintext, ctx);
  const reader = await kmsV2(service); // another seed: the current-seed fast path does not apply
  for (let i = 0; i < 3; i++) {
    const r = await reader.transformFromStorage(stored, ctx);
    assert.deepEqual(r.plaintext, plaintext);
    assert.equal(r.origin.keyId, "1");
  }
  assert.equal(service.calls.decrypt, 1);
  for (let i = reader.prefix.length; i < stored.length; i++) {
    const garbled = Buffer.from(stored);
    garbled[i]! ^= 0x01;
    await neverWrong(reader, garbled, plaintext, `byte ${i}`);
  }
  // An unknown type behind a remembered header's bytes is still rejected.
  const o = decodeEncryptedObject(stored.subarray(reader.prefix.length));
  const bad = Buffer.concat([reader.prefix, rawObject({ ...o, encryptedDEKSourceType: 3 })]);
  await assert.rejects(reader.transformFromStorage(bad, ctx), { code: "data-corrupt" });
});
