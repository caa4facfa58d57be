import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ManualClock } from "../common/clock.js";
import { contextForKey } from "../envelope/transformer.js";
import { startEncryptionRuntime } from "./runtime.js";

const SECRET = Buffer.alloc(32, 1).toString("base64");
const config = (keyName: string) => `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm: {keys: [{name: ${keyName}, secret: "${SECRET}"}]}
      - identity: {}
`;

test("startEncryptionRuntime: real providers, automatic reload on the injected clock, one kms-providers check", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-runtime-"));
  const path = join(dir, "encryption.yaml");
  writeFileSync(path, config("first"));
  const clock = new ManualClock();
  const runtime = await startEncryptionRuntime({ path, reload: true, clock, reloadIntervalMs: 1_000 });
  try {
    const secrets = runtime.transformerFor("secrets");
    const ctx = contextForKey("/registry/secrets/ns/a");
    const before = await secrets.transformToStorage(Buffer.from("v"), ctx);
    assert.ok(before.toString("latin1").startsWith("k8s:enc:aesgcm:v1:first:"));
    assert.deepEqual(
      runtime.healthChecks().map((c) => c.name),
      ["kms-providers"],
    );

    writeFileSync(path, config("second"));
    clock.advance(1_000);
    for (let i = 0; i < 200 && runtime.controller?.stats().successTotal === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(runtime.controller?.stats().successTotal, 1);
    const after = await secrets.transformToStorage(Buffer.from("v"), ctx);
    assert.ok(after.toString("latin1").startsWith("k8s:enc:aesgcm:v1:second:"));
    // The old key is gone from the new configuration: values it wrote no longer read.
    await assert.rejects(secrets.transformFromStorage(before, ctx));
    assert.equal((await secrets.transformFromStorage(after, ctx)).plaintext.toString(), "v");
  } finally {
    runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("startEncryptionRuntime without reload: health checks come from the configuration", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-runtime-"));
  const path = join(dir, "encryption.yaml");
  writeFileSync(path, config("only"));
  const runtime = await startEncryptionRuntime({ path, clock: new ManualClock() });
  try {
    assert.deepEqual(runtime.healthChecks(), []);
    assert.equal(runtime.controller, undefined);
  } finally {
    runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
