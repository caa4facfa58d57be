// The fake KMS plugin other suites rely on: its knobs do what they say.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { isAtrestError } from "../../src/common/errors.js";
import { createKmsV1Client, createKmsV2Client } from "../../src/kms-plugin-client/index.js";
import { startFakeKmsPlugin } from "./fake-kms-plugin.js";

async function untilOk<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test("replaces a stale socket file, removes it on close", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-fake-kms-"));
  const socketPath = join(dir, "kms.sock");
  writeFileSync(socketPath, "stale");
  const plugin = await startFakeKmsPlugin({ socketPath });
  const client = createKmsV2Client({ endpoint: plugin.endpoint });
  try {
    assert.equal(plugin.endpoint, `unix://${socketPath}`);
    assert.equal((await client.status()).keyId, "1");
  } finally {
    client.close();
    await plugin.close();
  }
  assert.equal(existsSync(socketPath), false);
  rmSync(dir, { recursive: true, force: true });
});

test("failWith('all') fails every method; stop/restart keeps knobs and counters (abstract socket)", async () => {
  const plugin = await startFakeKmsPlugin({
    socketPath: `@atrest-fake-${randomBytes(6).toString("hex")}`,
    keyId: "k9",
  });
  const v2 = createKmsV2Client({ endpoint: plugin.endpoint });
  const v1 = createKmsV1Client({ endpoint: plugin.endpoint });
  try {
    plugin.failWith("all", grpc.status.RESOURCE_EXHAUSTED, "throttled");
    const errors = await Promise.all([
      v2.status().catch((e: unknown) => e),
      v2.encrypt(Buffer.from("x")).catch((e: unknown) => e),
      v1.encrypt(Buffer.from("x")).catch((e: unknown) => e),
    ]);
    for (const err of errors) assert.ok(isAtrestError(err, "resource-exhausted"), String(err));
    assert.equal(plugin.calls.v1Encrypt, 0, "v1 stops at the failed Version");
    plugin.clearFailures();

    await plugin.stop();
    assert.equal(plugin.running, false);
    assert.ok(isAtrestError(await v2.status().catch((e: unknown) => e), "unavailable"));
    await plugin.restart();
    assert.equal(plugin.running, true);
    assert.equal((await untilOk(() => v2.status())).keyId, "k9");
    assert.ok(plugin.calls.v2Status >= 2);
  } finally {
    v1.close();
    v2.close();
    await plugin.close();
  }
});

test("stop cancels delayed calls instead of hanging", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-fake-kms-"));
  const plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
  const client = createKmsV2Client({ endpoint: plugin.endpoint, timeoutMs: 30_000 });
  try {
    plugin.delay("v2Encrypt", 60_000);
    const pending = client.encrypt(Buffer.from("x")).catch((e: unknown) => e);
    await untilOk(() => Promise.resolve(assert.equal(plugin.calls.v2Encrypt, 1)));
    await plugin.stop();
    const err = await pending;
    assert.ok(isAtrestError(err, "unavailable"), String(err));
  } finally {
    client.close();
    await plugin.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Decrypt checks like kube's mock plugin: uid, key_id and the local-kek annotation", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-fake-kms-"));
  const plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
  const client = createKmsV2Client({ endpoint: plugin.endpoint });
  try {
    const ciphertext = Buffer.from(Buffer.from("seed").toString("base64"));
    const noAnnotation = await client
      .decrypt({ ciphertext, keyId: "1", annotations: {} })
      .catch((e: unknown) => e);
    assert.ok(isAtrestError(noAnnotation, "invalid-argument"), String(noAnnotation));
    const noKeyId = await client
      .decrypt({
        ciphertext,
        keyId: "",
        annotations: { "local-kek.kms.kubernetes.io": Buffer.from("encrypted-local-kek") },
      })
      .catch((e: unknown) => e);
    assert.ok(isAtrestError(noKeyId, "invalid-argument"), String(noKeyId));
    plugin.requireMockAnnotation = false;
    assert.deepEqual(
      await client.decrypt({ ciphertext, keyId: "old-key", annotations: {} }),
      Buffer.from("seed"),
    );
    const garbled = await client
      .decrypt({ ciphertext: Buffer.from("%%%"), keyId: "1", annotations: {} })
      .catch((e: unknown) => e);
    assert.ok(isAtrestError(garbled, "invalid-argument"), String(garbled));
  } finally {
    client.close();
    await plugin.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
