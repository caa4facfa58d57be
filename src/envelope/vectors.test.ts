/**
 * Every entry of ../shared/vectors/kubernetes-at-rest.json read back as a full etcd value through the
 * real prefix chain; writes with fixed randomness reproduce the derived entries byte for byte.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { field, hexField, loadAtRestVectors, type VectorEntry } from "../../test/support/at-rest-vectors.js";
import { FakeKmsV1Service, FakeKmsV2Service, QueuedRandom } from "../../test/support/fake-kms-v2-service.js";
import { ManualClock } from "../common/clock.js";
import {
  contextForKey,
  newAesCbcTransformer,
  newAesGcmTransformer,
  newIdentityTransformer,
  newKmsV1Transformer,
  newKmsV2Transformer,
  newPrefixChain,
  newSecretboxTransformer,
} from "./index.js";

const { kubernetes, derived } = loadAtRestVectors();
const configKey = (entry: VectorEntry | undefined) => [
  { name: "key1", secret: Buffer.from(field(entry, "config_secret_base64"), "base64") },
];

test("kmsv2_legacy_aes_gcm_key: a kube-apiserver v1.27 etcd value reads back through the prefix chain", async () => {
  const v = kubernetes.kmsv2_legacy_aes_gcm_key;
  const service = new FakeKmsV2Service(); // Base64Plugin: key id "1", local-kek annotation
  const kms = newKmsV2Transformer({
    providerName: field(v, "provider_name"),
    service,
    clock: new ManualClock(),
  });
  await kms.healthCheck();
  const chain = newPrefixChain([kms, newIdentityTransformer()]);
  const result = await chain.transformFromStorage(
    hexField(v, "etcd_value_hex"),
    contextForKey(field(v, "etcd_key")),
  );
  assert.equal(result.plaintext.toString("hex"), field(v, "plaintext_hex"));
  assert.equal(result.plaintext.length, Number(v?.plaintext_len));
  // Type 0 data under a seed-mode (type 1) current state: stale, to be rewritten.
  assert.equal(result.stale, true);
  assert.deepEqual(result.origin, {
    provider: "kms",
    kmsApiVersion: "v2",
    providerName: "kms-provider",
    keyId: "1",
    dekSourceType: "AES_GCM_KEY",
  });
  assert.deepEqual(
    service.decryptRequests[0]?.ciphertext,
    Buffer.from(hexField(v, "dek_or_seed_hex").toString("base64")),
  );
  // Another storage key as AAD (the object moved) fails authentication.
  await assert.rejects(
    chain.transformFromStorage(hexField(v, "etcd_value_hex"), contextForKey("/registry/secrets/x/y")),
    {
      code: "data-corrupt",
    },
  );
});

for (const name of ["D-aescbc (10-byte plaintext)", "D-aescbc (16-byte plaintext)"]) {
  test(`${name}: reads through the chain, writes the same bytes`, async () => {
    const v = derived[name];
    const aescbc = newAesCbcTransformer(configKey(v), { random: new QueuedRandom(hexField(v, "iv_hex")) });
    const chain = newPrefixChain([aescbc]);
    const ctx = contextForKey("/registry/secrets/default/any");
    const result = await chain.transformFromStorage(hexField(v, "etcd_value_hex"), ctx);
    assert.deepEqual(result.plaintext, hexField(v, "plaintext_hex"));
    assert.deepEqual(result.origin, { provider: "aescbc", keyName: "key1" });
    assert.equal(result.stale, false);
    assert.deepEqual(
      await chain.transformToStorage(hexField(v, "plaintext_hex"), ctx),
      hexField(v, "etcd_value_hex"),
    );
  });
}

test("D-aesgcm: reads through the chain, writes the same bytes", async () => {
  const v = derived["D-aesgcm"];
  const chain = newPrefixChain([
    newAesGcmTransformer(configKey(v), { random: new QueuedRandom(hexField(v, "nonce_hex")) }),
  ]);
  const ctx = contextForKey(field(v, "aad_etcd_key"));
  const result = await chain.transformFromStorage(hexField(v, "etcd_value_hex"), ctx);
  assert.deepEqual(result.plaintext, hexField(v, "plaintext_hex"));
  assert.deepEqual(result.origin, { provider: "aesgcm", keyName: "key1" });
  assert.deepEqual(
    await chain.transformToStorage(hexField(v, "plaintext_hex"), ctx),
    hexField(v, "etcd_value_hex"),
  );
});

test("D-secretbox: reads through the chain, writes the same bytes", async () => {
  const v = derived["D-secretbox"];
  const chain = newPrefixChain([
    newSecretboxTransformer(configKey(v), { random: new QueuedRandom(hexField(v, "nonce_hex")) }),
  ]);
  const ctx = contextForKey("/registry/secrets/default/any");
  const result = await chain.transformFromStorage(hexField(v, "etcd_value_hex"), ctx);
  assert.deepEqual(result.plaintext, hexField(v, "plaintext_hex"));
  assert.deepEqual(result.origin, { provider: "secretbox", keyName: "key1" });
  assert.deepEqual(
    await chain.transformToStorage(hexField(v, "plaintext_hex"), ctx),
    hexField(v, "etcd_value_hex"),
  );
});

test("D-kms-v1 (GCM): reads through the chain, writes the same bytes with one plugin Encrypt", async () => {
  const v = derived["D-kms-v1 (AES-GCM payload, written by >=1.25)"];
  const service = new FakeKmsV1Service();
  const kms = newKmsV1Transformer({
    providerName: "kms-provider",
    service,
    random: new QueuedRandom(hexField(v, "dek_hex"), hexField(v, "nonce_hex")),
  });
  const chain = newPrefixChain([kms]);
  const ctx = contextForKey(field(v, "aad_etcd_key"));
  const written = await chain.transformToStorage(hexField(v, "plaintext_hex"), ctx);
  assert.deepEqual(written, hexField(v, "etcd_value_hex"));
  assert.equal(service.calls.encrypt, 1);
  const fresh = newPrefixChain([newKmsV1Transformer({ providerName: "kms-provider", service })]);
  const result = await fresh.transformFromStorage(hexField(v, "etcd_value_hex"), ctx);
  assert.deepEqual(result.plaintext, hexField(v, "plaintext_hex"));
  assert.equal(result.stale, false);
  assert.deepEqual(result.origin, {
    provider: "kms",
    kmsApiVersion: "v1",
    providerName: "kms-provider",
    dekSourceType: "AES_GCM",
  });
  assert.equal(service.calls.decrypt, 1);
  await assert.rejects(
    fresh.transformFromStorage(
      hexField(v, "etcd_value_hex"),
      contextForKey("/registry/secrets/default/other"),
    ),
    {
      code: "data-corrupt",
    },
  );
});

test("D-kms-v1-legacy-cbc: the ≤ 1.24 CBC payload reads back and is stale", async () => {
  const v = derived["D-kms-v1-legacy-cbc (AES-CBC payload, written by <=1.24; still readable, marked stale)"];
  const chain = newPrefixChain([
    newKmsV1Transformer({ providerName: "kms-provider", service: new FakeKmsV1Service() }),
  ]);
  const result = await chain.transformFromStorage(
    hexField(v, "etcd_value_hex"),
    contextForKey("/registry/secrets/default/mysecret"),
  );
  assert.deepEqual(result.plaintext, hexField(v, "plaintext_hex"));
  assert.equal(result.stale, true);
  assert.equal(result.origin.dekSourceType, "AES_CBC");
});

function seedVectorService(v: VectorEntry | undefined, secretHex: string): FakeKmsV2Service {
  const service = new FakeKmsV2Service();
  service.keyId = "key-1";
  service.annotations = { "example.com": Buffer.from("v") };
  service.table.push({
    plaintext: hexField(v, secretHex),
    ciphertext: Buffer.from(secretHex === "seed_hex" ? "enc-seed" : "enc-dek"),
  });
  return service;
}

test("D-kms-v2 seed mode: reads through the chain; a write with the same seed, info and nonce gives the same bytes", async () => {
  const v = derived["D-kms-v2 (HKDF_SHA256_XNONCE_AES_GCM_SEED, hand-encoded protobuf)"];
  const service = seedVectorService(v, "seed_hex");
  // The state asks Random for the seed at its first check, then each write for info ‖ nonce (44 bytes).
  const random = new QueuedRandom(
    hexField(v, "seed_hex"),
    Buffer.concat([hexField(v, "info_hex"), hexField(v, "nonce_hex")]),
  );
  const kms = newKmsV2Transformer({
    providerName: "kms-provider",
    service,
    clock: new ManualClock(),
    random,
  });
  await kms.healthCheck();
  const chain = newPrefixChain([kms]);
  const ctx = contextForKey(field(v, "aad_etcd_key"));
  assert.deepEqual(
    await chain.transformToStorage(Buffer.from(field(v, "plaintext")), ctx),
    hexField(v, "etcd_value_hex"),
  );

  const reader = newKmsV2Transformer({ providerName: "kms-provider", service, clock: new ManualClock() });
  await reader.healthCheck();
  const result = await newPrefixChain([reader]).transformFromStorage(hexField(v, "etcd_value_hex"), ctx);
  assert.equal(result.plaintext.toString(), field(v, "plaintext"));
  assert.equal(result.stale, false); // same key id, same type as the current state
  assert.deepEqual(result.origin, {
    provider: "kms",
    kmsApiVersion: "v2",
    providerName: "kms-provider",
    keyId: "key-1",
    dekSourceType: "HKDF_SHA256_XNONCE_AES_GCM_SEED",
  });
});

test("D-kms-v2 AES_GCM_KEY (type 0): reads through the chain, stale", async () => {
  const v = derived["D-kms-v2 (AES_GCM_KEY legacy mode, counter nonce)"];
  const kms = newKmsV2Transformer({
    providerName: "kms-provider",
    service: seedVectorService(v, "dek_hex"),
    clock: new ManualClock(),
  });
  await kms.healthCheck();
  const result = await newPrefixChain([newIdentityTransformer(), kms]).transformFromStorage(
    hexField(v, "etcd_value_hex"),
    contextForKey(field(v, "aad_etcd_key")),
  );
  assert.equal(result.plaintext.toString(), field(v, "plaintext"));
  assert.equal(result.stale, true);
  assert.equal(result.origin.dekSourceType, "AES_GCM_KEY");
});

test("every vector entry is covered by a test above", () => {
  assert.deepEqual(Object.keys(kubernetes).sort(), [
    "aes_extended_nonce_gcm_legacy",
    "aes_gcm_legacy",
    "kmsv2_legacy_aes_gcm_key",
  ]);
  assert.deepEqual(Object.keys(derived).sort(), [
    "D-aescbc (10-byte plaintext)",
    "D-aescbc (16-byte plaintext)",
    "D-aesgcm",
    "D-kms-v1 (AES-GCM payload, written by >=1.25)",
    "D-kms-v1-legacy-cbc (AES-CBC payload, written by <=1.24; still readable, marked stale)",
    "D-kms-v2 (AES_GCM_KEY legacy mode, counter nonce)",
    "D-kms-v2 (HKDF_SHA256_XNONCE_AES_GCM_SEED, hand-encoded protobuf)",
    "D-secretbox",
  ]);
});
