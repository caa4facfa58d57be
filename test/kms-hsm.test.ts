import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import type { Handle } from "pkcs11js";
import { isAtrestError } from "../src/common/errors.js";
import { KmsClient } from "../src/kms/client/kms-client.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer } from "../src/kms/server.js";
import { createPkcs11Protection, decodePkcs11KeyRef } from "../src/kms/protection/pkcs11.js";
import {
  acquirePkcs11Module,
  findSlotByTokenLabel,
  pkcs11ErrorCode,
  type Pkcs11ModuleHandle,
} from "../src/kms/protection/pkcs11-module.js";
import type { ProtectionBackend } from "../src/kms/protection/protection.js";
import { createSoftHsmToken, type SoftHsmToken } from "./support/softhsm.js";

let token: SoftHsmToken;
let hsm: ProtectionBackend;

before(async () => {
  token = await createSoftHsmToken({ label: "atrest-hsm-test" });
  hsm = await createPkcs11Protection({
    modulePath: token.modulePath,
    tokenLabel: token.tokenLabel,
    pin: token.pin,
    maxSessions: 3,
  });
});

after(async () => {
  await hsm?.close();
  token?.cleanup();
});

const V1 = { keyId: "key-hsm0001", keyVersionId: "kv-0001" };
const V2 = { keyId: "key-hsm0001", keyVersionId: "kv-0002" };

/** A second, independent view of the token (same module, own session) to inspect the key objects. */
async function withInspector<T>(fn: (p: pkcs11js.PKCS11, session: Handle) => T | Promise<T>): Promise<T> {
  const mod: Pkcs11ModuleHandle = acquirePkcs11Module(token.modulePath);
  const session = mod.pkcs11.C_OpenSession(
    findSlotByTokenLabel(mod.pkcs11, token.tokenLabel),
    pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
  );
  try {
    return await fn(mod.pkcs11, session);
  } finally {
    mod.pkcs11.C_CloseSession(session);
    mod.release();
  }
}

/** A CK_ULONG attribute value (8 bytes, little-endian on this platform). */
function ulong(value: Buffer | undefined): number {
  assert.ok(value !== undefined);
  return value.length === 8 ? Number(value.readBigUInt64LE(0)) : value.readUInt32LE(0);
}

function findById(p: pkcs11js.PKCS11, session: Handle, ckaIdHex: string): Handle[] {
  p.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaIdHex, "hex") }]);
  try {
    return p.C_FindObjects(session, 10);
  } finally {
    p.C_FindObjectsFinal(session);
  }
}

test("an HSM key version encrypts and decrypts with AES-256-GCM inside the token", async () => {
  const ref = await hsm.generate(V1);
  const iv = randomBytes(12);
  const aad = Buffer.from("header+context");
  const plaintext = Buffer.from("the data key to protect, 32 bytes");
  const sealed = await hsm.encrypt(V1, ref, iv, plaintext, aad);
  assert.equal(sealed.tag.length, 16);
  assert.equal(sealed.ciphertext.length, plaintext.length);
  assert.notDeepEqual(sealed.ciphertext, plaintext);
  assert.deepEqual(await hsm.decrypt(V1, ref, iv, sealed, aad), plaintext);
  // empty plaintext works too
  const empty = await hsm.encrypt(V1, ref, iv, Buffer.alloc(0), aad);
  assert.deepEqual(await hsm.decrypt(V1, ref, iv, empty, aad), Buffer.alloc(0));
});

test("a wrong AAD, a flipped bit, a wrong IV or another key version fails authentication", async () => {
  const ref1 = await hsm.generate(V1);
  const ref2 = await hsm.generate(V2);
  const iv = randomBytes(12);
  const aad = Buffer.from("aad");
  const sealed = await hsm.encrypt(V1, ref1, iv, Buffer.from("secret"), aad);
  const corrupt = (e: unknown) => isAtrestError(e, "data-corrupt");
  await assert.rejects(hsm.decrypt(V1, ref1, iv, sealed, Buffer.from("aaD")), corrupt);
  const flipped = Buffer.from(sealed.ciphertext);
  flipped[0] = (flipped[0] ?? 0) ^ 1;
  await assert.rejects(hsm.decrypt(V1, ref1, iv, { ciphertext: flipped, tag: sealed.tag }, aad), corrupt);
  await assert.rejects(hsm.decrypt(V1, ref1, randomBytes(12), sealed, aad), corrupt);
  await assert.rejects(hsm.decrypt(V2, ref2, iv, sealed, aad), corrupt);
  // a reference of one version presented for another is refused before the token is used
  await assert.rejects(
    hsm.decrypt(V2, ref1, iv, sealed, aad),
    (e) => isAtrestError(e, "data-corrupt") && /another key version/.test(e.message),
  );
  // and after all those failures the backend still works (failed sessions were replaced)
  assert.deepEqual(await hsm.decrypt(V1, ref1, iv, sealed, aad), Buffer.from("secret"));
});

test("the key material cannot be read out of the token: sensitive, not extractable, cannot be wrapped", async () => {
  const ref = await hsm.generate({ keyId: "key-hsm0002", keyVersionId: "kv-0001" });
  const parsed = decodePkcs11KeyRef({ keyId: "key-hsm0002", keyVersionId: "kv-0001" }, ref);
  assert.ok(!ref.toString("utf8").match(/"value"|material/i), "the stored reference holds no key material");
  await withInspector((p, session) => {
    const [handle, ...rest] = findById(p, session, parsed.ckaId);
    assert.ok(handle !== undefined && rest.length === 0, "exactly one object with the recorded CKA_ID");
    const attrs = p.C_GetAttributeValue(session, handle, [
      { type: pkcs11js.CKA_SENSITIVE },
      { type: pkcs11js.CKA_EXTRACTABLE },
      { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
      { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
      { type: pkcs11js.CKA_TOKEN },
      { type: pkcs11js.CKA_KEY_TYPE },
      { type: pkcs11js.CKA_VALUE_LEN },
      { type: pkcs11js.CKA_LABEL },
    ]);
    const bool = (i: number) => attrs[i]?.value[0] === 1;
    assert.equal(bool(0), true, "CKA_SENSITIVE");
    assert.equal(bool(1), false, "CKA_EXTRACTABLE");
    assert.equal(bool(2), true, "CKA_ALWAYS_SENSITIVE");
    assert.equal(bool(3), true, "CKA_NEVER_EXTRACTABLE");
    assert.equal(bool(4), true, "CKA_TOKEN (persistent token object)");
    assert.equal(ulong(attrs[5]?.value), pkcs11js.CKK_AES);
    assert.equal(ulong(attrs[6]?.value), 32);
    assert.equal(attrs[7]?.value.toString("utf8"), "atrest-kms:key-hsm0002:kv-0001");

    // CKA_VALUE: the token refuses to reveal it
    assert.throws(
      () => p.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]),
      (e: unknown) => pkcs11ErrorCode(e) === pkcs11js.CKR_ATTRIBUTE_SENSITIVE,
    );
    // making it extractable or non-sensitive is refused
    assert.throws(
      () => p.C_SetAttributeValue(session, handle, [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]),
      (e: unknown) => pkcs11ErrorCode(e) === pkcs11js.CKR_ATTRIBUTE_READ_ONLY,
    );
    assert.throws(
      () => p.C_SetAttributeValue(session, handle, [{ type: pkcs11js.CKA_SENSITIVE, value: false }]),
      (e: unknown) => pkcs11ErrorCode(e) === pkcs11js.CKR_ATTRIBUTE_READ_ONLY,
    );

    // wrapping it out under a key we know fails
    const wrappingKey = p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
    ]);
    assert.throws(
      () =>
        p.C_WrapKey(
          session,
          { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
          wrappingKey,
          handle,
          Buffer.alloc(128),
        ),
      (e: unknown) => pkcs11ErrorCode(e) === pkcs11js.CKR_KEY_UNEXTRACTABLE,
    );
    p.C_DestroyObject(session, wrappingKey);
  });
});

test("concurrent operations share the session pool safely", async () => {
  const id = { keyId: "key-hsm0003", keyVersionId: "kv-0001" };
  const ref = await hsm.generate(id);
  const aad = Buffer.from("ctx");
  const inputs = Array.from({ length: 40 }, (_, i) => ({ iv: randomBytes(12), data: randomBytes(16 + i) }));
  const sealed = await Promise.all(inputs.map((x) => hsm.encrypt(id, ref, x.iv, x.data, aad)));
  const opened = await Promise.all(sealed.map((s, i) => hsm.decrypt(id, ref, inputs[i]!.iv, s, aad)));
  opened.forEach((o, i) => assert.deepEqual(o, inputs[i]!.data));
});

test("destroy deletes the token object, is idempotent, and the version can no longer be used", async () => {
  const id = { keyId: "key-hsm0004", keyVersionId: "kv-0001" };
  const ref = await hsm.generate(id);
  const ckaId = decodePkcs11KeyRef(id, ref).ckaId;
  const iv = randomBytes(12);
  const sealed = await hsm.encrypt(id, ref, iv, Buffer.from("x"), Buffer.alloc(0));
  assert.equal(await withInspector((p, s) => findById(p, s, ckaId).length), 1);
  await hsm.destroy(id, ref);
  assert.equal(await withInspector((p, s) => findById(p, s, ckaId).length), 0);
  await hsm.destroy(id, ref);
  await assert.rejects(
    hsm.decrypt(id, ref, iv, sealed, Buffer.alloc(0)),
    (e) => isAtrestError(e, "data-corrupt") && /missing/.test(e.message),
  );
});

test("keys persist in the token: a new backend instance decrypts what the first encrypted", async () => {
  const id = { keyId: "key-hsm0005", keyVersionId: "kv-0001" };
  const ref = await hsm.generate(id);
  const iv = randomBytes(12);
  const sealed = await hsm.encrypt(id, ref, iv, Buffer.from("persist"), Buffer.from("a"));
  const second = await createPkcs11Protection({
    modulePath: token.modulePath,
    tokenLabel: token.tokenLabel,
    pin: token.pin,
  });
  try {
    assert.deepEqual(await second.decrypt(id, ref, iv, sealed, Buffer.from("a")), Buffer.from("persist"));
  } finally {
    await second.close();
  }
  // the first instance still works after the second released the shared module
  assert.deepEqual(await hsm.decrypt(id, ref, iv, sealed, Buffer.from("a")), Buffer.from("persist"));
});

test("a wrong token label is a clear error naming the labels found", async () => {
  await assert.rejects(
    createPkcs11Protection({ modulePath: token.modulePath, tokenLabel: "no-such-token", pin: token.pin }),
    (e) =>
      isAtrestError(e, "failed-precondition") &&
      /no initialized PKCS#11 token labelled "no-such-token" \(found: .*"atrest-hsm-test"/.test(e.message),
  );
});

test("through the KMS server: an HSM key (ProtectionLevel HSM) encrypts, rotates and decrypts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-kms-hsm-"));
  const init = await initKmsDataDir({ dataDir: join(dir, "kms") });
  const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
    accessKeyId: string;
    accessKeySecret: string;
  };
  const serverHsm = await createPkcs11Protection({
    modulePath: token.modulePath,
    tokenLabel: token.tokenLabel,
    pin: token.pin,
  });
  const server = await startKmsServer({ dataDir: join(dir, "kms"), hsm: serverHsm, schedulerIntervalMs: 0 });
  const client = new KmsClient({ endpoint: server.url, caFile: init.caCertFile, ...creds });
  try {
    const md = (await client.call("CreateKey", { ProtectionLevel: "HSM" }))["KeyMetadata"] as Record<
      string,
      string
    >;
    assert.equal(md["ProtectionLevel"], "HSM");
    const keyId = md["KeyId"]!;
    const enc = await client.call("Encrypt", {
      KeyId: keyId,
      Plaintext: "in the token",
      EncryptionContext: '{"a":"b"}',
    });
    await client.call("CreateKeyVersion", { KeyId: keyId });
    const dec = await client.call("Decrypt", {
      CiphertextBlob: enc["CiphertextBlob"] as string,
      EncryptionContext: '{"a":"b"}',
    });
    assert.equal(dec["Plaintext"], "in the token");
    await assert.rejects(
      client.call("Decrypt", {
        CiphertextBlob: enc["CiphertextBlob"] as string,
        EncryptionContext: '{"a":"c"}',
      }),
      (e) => isAtrestError(e),
    );
  } finally {
    client.close();
    await server.close(); // closes serverHsm too
    rmSync(dir, { recursive: true, force: true });
  }
  // the test's own backend still works after the server's one released the shared module
  const id = { keyId: "key-hsm0006", keyVersionId: "kv-0001" };
  const ref = await hsm.generate(id);
  const iv = randomBytes(12);
  const sealed = await hsm.encrypt(id, ref, iv, Buffer.from("still"), Buffer.alloc(0));
  assert.deepEqual(await hsm.decrypt(id, ref, iv, sealed, Buffer.alloc(0)), Buffer.from("still"));
});
