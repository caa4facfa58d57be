/**
 * enable → status → disable → enable on a real cluster (atrest kms, the plugin, an apiserver reloading
 * its file, SQLite), driven through the library exactly as the CLI drives it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { EncryptionOperations } from "../src/operations/engine.js";
import type { ProgressEvent } from "../src/operations/progress.js";
import { assertStored, startOperationsCluster, type OperationsCluster } from "./support/operations-cluster.js";

describe("atrest encryption on a SQLite cluster", () => {
  let c: OperationsCluster;
  const events: ProgressEvent[] = [];
  let ops: EncryptionOperations;
  before(async () => {
    c = await startOperationsCluster({ name: "ops-e2e" });
    ops = new EncryptionOperations({ cluster: c.cluster, kube: c.kube, kms: c.kms, progress: (e) => events.push(e) });
    await c.createSecrets("app", 120, "first");
  });
  after(() => c?.close());

  it("enable encrypts every Secret with the key, prunes identity, protects the key", async () => {
    const before = await c.secretValues();
    const record = await ops.start({ type: "enable", keyId: c.sys.kmsKeyId });
    assert.equal(record.state, "Succeeded");
    assert.ok(record.progress.rewritten >= 120, JSON.stringify(record.progress));
    assert.equal(record.verify?.passed, true);
    const n = await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.ok(n >= 120);
    assert.deepEqual(await c.secretValues(), before);
    const file = readFileSync(c.sys.configFile, "utf8");
    assert.doesNotMatch(file, /identity/);
    const key = await c.kms.call("DescribeKey", { KeyId: c.sys.kmsKeyId });
    assert.equal((key["KeyMetadata"] as Record<string, unknown>)["DeletionProtection"], "Enabled");
    const status = await ops.status();
    assert.equal(status.phase, "Running");
    assert.equal(status.conditions[0]?.reason, "EncryptionCompleted");
  });

  it("disable decrypts everything and releases the key", async () => {
    const before = await c.secretValues();
    const record = await ops.start({ type: "disable" });
    assert.equal(record.state, "Succeeded");
    await assertStored(c, "identity");
    assert.deepEqual(await c.secretValues(), before);
    const key = await c.kms.call("DescribeKey", { KeyId: c.sys.kmsKeyId });
    assert.equal((key["KeyMetadata"] as Record<string, unknown>)["DeletionProtection"], "Disabled");
    const status = await ops.status();
    assert.equal(status.conditions[0]?.reason, "DecryptionCompleted");
  });
});
