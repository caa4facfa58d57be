/**
 * The whole chain: the at-rest core's KMS v2 transformer (built from an EncryptionConfiguration like
 * deploy/encryption-config.yaml) → the plugin → atrest kms over HTTPS. Values written are read back
 * after a plugin restart and after a key rotation (then reported stale, so an update re-encrypts).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { parseEncryptionConfiguration } from "../src/encryption-config/load.js";
import { buildEncryptionState } from "../src/encryption-config/build.js";
import { grpcKmsClients } from "../src/encryption-config/grpc-clients.js";
import { contextForKey } from "../src/envelope/transformer.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";
import type { BackendConfig } from "../src/plugin/backend-config.js";
import { AtrestKmsSdkClient, SdkConfig, kmsSdk } from "../src/plugin/alibaba-sdk-client.js";

const REFRESH_MS = 200;
/** The check running at the rotation may still see the old version; the next one must see the new. */
const ROTATION_BOUND_MS = 2 * REFRESH_MS + 500;

describe("the at-rest core through the plugin and atrest kms", { timeout: 120_000 }, () => {
  let dir: string;
  let kms: KmsServer;
  let plugin: RunningPlugin;
  let backend: BackendConfig;
  let admin: AtrestKmsSdkClient;
  let keyId: string;
  let socket: string;

  const encryptionConfig = () =>
    parseEncryptionConfiguration(
      readFileSync(join(import.meta.dirname, "..", "deploy", "encryption-config.yaml"), "utf8").replace(
        "unix:///var/run/atrest/kms.sock",
        `unix://${socket}`,
      ),
    ).config;
  const buildState = () =>
    buildEncryptionState(encryptionConfig(), {
      clients: grpcKmsClients,
      background: false,
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-plugin-chain-"));
    socket = join(dir, "kms.sock");
    const init = await initKmsDataDir({ dataDir: join(dir, "kms"), accountId: "1234567890123456" });
    kms = await startKmsServer({ dataDir: join(dir, "kms"), cacheTtlMs: 0 });
    const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const caPem = readFileSync(init.caCertFile, "utf8");
    admin = new AtrestKmsSdkClient(
      new SdkConfig({
        ...creds,
        endpoint: new URL(kms.url).host,
        regionId: "cn-hangzhou",
        protocol: "https",
      }),
      caPem,
    );
    keyId = (await admin.createKeyEx(new kmsSdk.CreateKeyRequest({}), {} as never)).keyMetadata.keyId;
    backend = {
      kind: "alibaba",
      endpoint: kms.url,
      regionId: "cn-hangzhou",
      keyId,
      credentials: creds,
      caPem,
    };
    plugin = await startPlugin({ listen: `unix://${socket}`, backend, statusRefreshMs: REFRESH_MS });
  });

  after(async () => {
    await plugin?.close();
    await kms?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes Secrets with KMS v2 and reads them back after a plugin restart and a key rotation", async (t) => {
    const ctx = contextForKey("/registry/secrets/default/db-password");
    const secret = Buffer.from("k8s\0pretend-protobuf-secret-bytes");
    let state = await buildState();
    const stored = await state.transformerFor("secrets").transformToStorage(secret, ctx);
    assert.ok(
      stored.subarray(0, 22).equals(Buffer.from("k8s:enc:kms:v2:atrest:")),
      stored.subarray(0, 30).toString(),
    );
    assert.equal(stored.includes(secret), false);
    const first = await state.transformerFor("secrets").transformFromStorage(stored, ctx);
    assert.deepEqual(first.plaintext, secret);
    assert.equal(first.stale, false);
    assert.equal(first.origin.keyId, plugin.status().keyId);
    state.close();

    // The plugin restarts: same key_id, the value reads back, not stale.
    await plugin.close();
    plugin = await startPlugin({ listen: `unix://${socket}`, backend, statusRefreshMs: REFRESH_MS });
    state = await buildState();
    const afterRestart = await state.transformerFor("secrets").transformFromStorage(stored, ctx);
    assert.deepEqual(afterRestart.plaintext, secret);
    assert.equal(afterRestart.stale, false);
    state.close();

    // The key rotates in the KMS: the plugin reports a new key_id; the old value still reads, as stale.
    const oldKeyId = plugin.status().keyId;
    const version = (
      await admin.createKeyVersionEx(new kmsSdk.CreateKeyVersionRequest({ keyId }), {} as never)
    ).keyVersion.keyVersionId;
    // From the CreateKeyVersion answer to the first Status with the new key_id, polled every 10 ms.
    const rotatedAt = performance.now();
    const giveUpAt = rotatedAt + ROTATION_BOUND_MS + 2_000;
    while (plugin.status().keyId !== `${keyId}:${version}` && performance.now() < giveUpAt)
      await new Promise((r) => setTimeout(r, 10));
    const seenAfterMs =
      plugin.status().keyId === `${keyId}:${version}` ? performance.now() - rotatedAt : Infinity;
    const seen = Number.isFinite(seenAfterMs)
      ? `after ${seenAfterMs.toFixed(0)} ms`
      : `not within ${ROTATION_BOUND_MS + 2_000} ms`;
    t.diagnostic(`rotation reached Status ${seen} (bound ${ROTATION_BOUND_MS} ms)`);
    assert.ok(
      seenAfterMs <= ROTATION_BOUND_MS,
      `the new key_id reached Status ${seen}; allowed ${ROTATION_BOUND_MS} ms with a ${REFRESH_MS} ms refresh`,
    );
    state = await buildState();
    const afterRotation = await state.transformerFor("secrets").transformFromStorage(stored, ctx);
    assert.deepEqual(afterRotation.plaintext, secret);
    assert.equal(afterRotation.stale, true, "a value under the old key_id is stale");
    assert.equal(afterRotation.origin.keyId, oldKeyId);
    const rewritten = await state.transformerFor("secrets").transformToStorage(afterRotation.plaintext, ctx);
    const reread = await state.transformerFor("secrets").transformFromStorage(rewritten, ctx);
    assert.equal(reread.stale, false);
    assert.equal(reread.origin.keyId, `${keyId}:${version}`);
    state.close();
  });
});
