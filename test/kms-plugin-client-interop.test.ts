// The apiserver's KMS clients (src/kms-plugin-client/) against the real atrest plugin (src/plugin/),
// over real unix sockets: what kube-apiserver would see from `atrest plugin`.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { isAtrestError } from "../src/common/errors.js";
import {
  createKmsV1Client,
  createKmsV2Client,
  encryptResponseProblems,
  statusHealthProblems,
  type KmsV2Client,
} from "../src/kms-plugin-client/index.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";

function keyFile(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(32).toString("base64"));
  chmodSync(path, 0o600);
  return path;
}

async function localPlugin(listen: string, keyFiles: string[]): Promise<RunningPlugin> {
  const plugin = await startPlugin({
    listen,
    backend: { kind: "local", keks: keyFiles.map((f) => ({ keyFile: f })) },
    statusRefreshMs: 60_000,
  });
  await plugin.checkNow();
  return plugin;
}

describe("KMS clients ⇄ atrest plugin (local backend)", () => {
  let dir: string;
  let oldKey: string;
  let plugin: RunningPlugin;
  let endpoint: string;
  let v2: KmsV2Client;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-interop-"));
    oldKey = keyFile(dir, "old.key");
    endpoint = `unix://${join(dir, "kms.sock")}`;
    plugin = await localPlugin(endpoint, [oldKey]);
    v2 = createKmsV2Client({ endpoint });
  });

  after(async () => {
    v2.close();
    await plugin.close({ graceMs: 1_000 });
    rmSync(dir, { recursive: true, force: true });
  });

  test("v2 Status is healthy by kube-apiserver's rules", async () => {
    const status = await v2.status();
    assert.deepEqual(statusHealthProblems(status), []);
    assert.equal(status.version, "v2");
  });

  test("v2 Encrypt of a 32-byte seed passes kube's response checks and Decrypt returns it", async () => {
    const seed = randomBytes(32);
    const status = await v2.status();
    const encrypted = await v2.encrypt(seed);
    assert.deepEqual(encryptResponseProblems(encrypted), []);
    assert.equal(encrypted.keyId, status.keyId, "Encrypt's key_id equals Status's");
    assert.notDeepEqual(encrypted.ciphertext.subarray(0, 32), seed);
    const plaintext = await v2.decrypt({
      ciphertext: encrypted.ciphertext,
      keyId: encrypted.keyId,
      annotations: encrypted.annotations,
    });
    assert.deepEqual(plaintext, seed);
  });

  test("v2 Decrypt of a garbled ciphertext is a typed error, not plaintext", async () => {
    const encrypted = await v2.encrypt(randomBytes(32));
    const garbled = Buffer.from(encrypted.ciphertext);
    garbled[garbled.length - 1]! ^= 0x01;
    const err = await v2
      .decrypt({ ciphertext: garbled, keyId: encrypted.keyId, annotations: encrypted.annotations })
      .catch((e: unknown) => e);
    assert.ok(isAtrestError(err), String(err));
    assert.equal(typeof err.details.grpcCode, "string");
    assert.notEqual(err.code, "unavailable");
  });

  test("v1beta1: Version handshake, Encrypt, Decrypt", async () => {
    const v1 = createKmsV1Client({ endpoint });
    try {
      const dek = randomBytes(32);
      const cipher = await v1.encrypt(dek);
      assert.deepEqual(await v1.decrypt(cipher), dek);
      assert.equal(v1.runtime?.name, "atrest");
    } finally {
      v1.close();
    }
  });

  test("after a key rotation (new key first, old key kept), old ciphertexts still decrypt under their key_id", async () => {
    const seed = randomBytes(32);
    const before = await v2.encrypt(seed);
    const newKey = keyFile(dir, "new.key");
    const rotatedEndpoint = `unix:///@atrest-interop-${process.pid}-${randomBytes(4).toString("hex")}`;
    const rotated = await localPlugin(rotatedEndpoint, [newKey, oldKey]);
    const client = createKmsV2Client({ endpoint: rotatedEndpoint });
    try {
      const status = await client.status();
      assert.deepEqual(statusHealthProblems(status), []);
      assert.notEqual(status.keyId, before.keyId, "a new key gets a new key_id");
      assert.deepEqual(
        await client.decrypt({
          ciphertext: before.ciphertext,
          keyId: before.keyId,
          annotations: before.annotations,
        }),
        seed,
      );
      const after = await client.encrypt(seed);
      assert.equal(after.keyId, status.keyId);
    } finally {
      client.close();
      await rotated.close({ graceMs: 1_000 });
    }
  });

  test("plugin stopped → unavailable", async () => {
    const socketEndpoint = `unix://${join(dir, "short-lived.sock")}`;
    const shortLived = await localPlugin(socketEndpoint, [oldKey]);
    const client = createKmsV2Client({ endpoint: socketEndpoint });
    try {
      assert.equal((await client.status()).healthz, "ok");
      await shortLived.close({ graceMs: 1_000 });
      const err = await client.status().catch((e: unknown) => e);
      assert.ok(isAtrestError(err, "unavailable"), String(err));
    } finally {
      client.close();
    }
  });
});
