/**
 * The seed documents' flows on a real cluster (atrest kms, the plugin, an apiserver reloading its
 * file): enable on an existing cluster, status, rotate + re-encrypt, disable — through the CLI and the
 * library the control plane uses; a failure injected at every stage (a provider never leaves the
 * configuration before verify passed); a partial rewrite caught by verify; KMS v1 → v2.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { EncryptionOperations } from "../src/operations/engine.js";
import { STAGES } from "../src/operations/operation-record.js";
import { runAtrest } from "./support/cli.js";
import { eventually, kmsV1, IDENTITY, secretsConfig } from "./support/encryption-system.js";
import {
  assertStored,
  operationsOn,
  startOperationsCluster,
  type OperationsCluster,
} from "./support/operations-cluster.js";

const ENV = { ATREST_LOG_LEVEL: "error" };

interface StatusJson {
  phase: string;
  conditions: Array<{ type: string; status: string; reason: string }>;
  operation: { state: string; type: string } | null;
  resources: Record<string, { writer: string; total: number; underWriter: number; keyId: string | null }>;
  apiservers: Array<{ url: string; loadedConfigHash: string; converged: boolean; healthy: boolean }>;
  key: { id: string; deletionProtection: string; clusters: Record<string, string> } | null;
}

describe("atrest encryption on a SQLite cluster", () => {
  let c: OperationsCluster;
  let ops: EncryptionOperations;
  let values: Map<string, Record<string, string>>;
  const status = async (): Promise<{ code: number | null; json: StatusJson }> => {
    const r = await runAtrest(["encryption", "status", "--cluster", c.clusterFile, "-o", "json"], {
      env: ENV,
    });
    return { code: r.status, json: JSON.parse(r.stdout) as StatusJson };
  };
  before(async () => {
    c = await startOperationsCluster({ name: "ops-flows" });
    ops = operationsOn(c);
    await c.createSecrets("app", 150, "flows");
    await c.createSecrets("other", 30, "flows");
    values = await c.secretValues();
  });
  after(() => c?.close());

  it("enable on an existing cluster through the CLI: Updating → Running, every Secret under the key, key protected", async () => {
    const before = await status();
    assert.equal(before.code, 0);
    assert.equal(before.json.phase, "Running");
    assert.equal(before.json.resources["secrets"]?.writer, "identity");
    assert.equal(before.json.conditions[0]?.reason, "EncryptionDisabled");
    assert.ok(before.json.apiservers[0]?.converged);

    const r = await runAtrest(
      [
        "encryption",
        "enable",
        "--cluster",
        c.clusterFile,
        "--key-id",
        c.sys.kmsKeyId,
        "-o",
        "json",
        "--progress",
        "json",
      ],
      { env: ENV, timeoutMs: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const events = r.stderr
      .trim()
      .split("\n")
      .map(
        (l) =>
          JSON.parse(l) as {
            event: string;
            stage?: string;
            state?: string;
            rewritten?: number;
            total?: number;
          },
      );
    const stages = events.filter((e) => e.event === "stage" && e.state === "succeeded").map((e) => e.stage);
    assert.deepEqual(stages, STAGES.enable);
    const last = events.filter((e) => e.event === "progress").pop();
    assert.ok(last !== undefined && last.total! >= 180 && last.rewritten! >= 180, JSON.stringify(last));
    const out = JSON.parse(r.stdout) as { operation: { state: string; verify: { passed: boolean } } };
    assert.equal(out.operation.state, "Succeeded");
    assert.equal(out.operation.verify.passed, true);

    await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.deepEqual(await c.secretValues(), values);
    assert.doesNotMatch(readFileSync(c.sys.configFile, "utf8"), /identity/);
    const after = await status();
    assert.equal(after.code, 0);
    assert.equal(after.json.phase, "Running");
    assert.deepEqual(after.json.conditions[0], {
      type: "Encrypted",
      status: "True",
      reason: "EncryptionCompleted",
      message: "All resources encrypted: secrets",
    });
    assert.equal(after.json.resources["secrets"]?.writer, "kms:v2:atrest");
    assert.equal(after.json.resources["secrets"]?.keyId, c.sys.pluginKeyId());
    assert.equal(after.json.key?.deletionProtection, "Enabled");
    assert.deepEqual(after.json.key?.clusters, { "ops-flows": "write" });
  });

  it("atrest kms refuses to disable or schedule deletion of the key while the cluster needs it", async () => {
    for (const [action, params] of [
      ["DisableKey", {}],
      ["ScheduleKeyDeletion", { PendingWindowInDays: 7 }],
    ] as const) {
      await assert.rejects(
        c.kms.call(action, { KeyId: c.sys.kmsKeyId, ...params }),
        (err: Error & { details?: Record<string, unknown> }) => {
          assert.equal(err.details?.["kmsCode"], "Rejected.KeyInUse");
          assert.match(err.message, /ops-flows/);
          return true;
        },
      );
    }
  });

  it("rotate: a new key version, every apiserver on it, every Secret rewritten under it", async () => {
    const beforeKeyId = c.sys.pluginKeyId();
    const record = await ops.start({ type: "rotate" });
    assert.equal(record.state, "Succeeded");
    assert.equal(record.rotation?.fromKeyId, beforeKeyId);
    assert.notEqual(record.rotation?.newKeyId, beforeKeyId);
    assert.equal(c.sys.pluginKeyId(), record.rotation?.newKeyId);
    await assertStored(c, "kms:v2", record.rotation?.newKeyId);
    assert.deepEqual(await c.secretValues(), values);
  });

  it("a second rotation while one is in flight is refused, even with --force; resume finishes the first", async () => {
    const failing = operationsOn(c, {
      faults: {
        beforeStage: (s) => {
          if (s === "rewrite") throw new Error("injected failure before the rewrite");
        },
      },
    });
    await assert.rejects(failing.start({ type: "rotate" }), /rotate stopped at stage rewrite/);
    const first = (await ops.records.read()).record!;
    for (const force of [false, true])
      await assert.rejects(
        ops.start({ type: "rotate" }, { force }),
        (err: Error & { code?: string; details?: Record<string, unknown> }) => {
          assert.equal(err.code, "conflict");
          assert.equal(err.details?.["reason"], "RotationInProgress");
          assert.match(
            err.message,
            new RegExp(`a rotation \\(${first.id}\\) is still in flight \\(Failed at stage rewrite\\)`),
          );
          return true;
        },
      );
    const cli = await runAtrest(
      ["encryption", "rotate", "--cluster", c.clusterFile, "--force", "--progress", "none"],
      {
        env: ENV,
      },
    );
    assert.equal(cli.status, 9, cli.stderr);
    assert.equal((await ops.records.read()).record?.id, first.id, "the refused rotations changed nothing");
    const done = await ops.resume();
    assert.equal(done.id, first.id);
    assert.equal(done.state, "Succeeded");
    await assertStored(c, "kms:v2", done.rotation?.newKeyId);
    assert.deepEqual(await c.secretValues(), values);
  });

  it("a rotation made outside is refused to rotate again until reencrypt has caught up", async () => {
    await c.sys.rotateKey(); // CreateKeyVersion through atrest kms, not through the operation
    await assert.rejects(ops.start({ type: "rotate" }), /still under an older key version.*reencrypt/);
    const record = await ops.start({ type: "reencrypt" });
    assert.equal(record.state, "Succeeded");
    await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.equal((await ops.start({ type: "rotate" })).state, "Succeeded");
  });

  it("disable: everything decrypted, the key released (tag gone, deletion protection off)", async () => {
    const record = await ops.start({ type: "disable" });
    assert.equal(record.state, "Succeeded");
    await assertStored(c, "identity");
    assert.deepEqual(await c.secretValues(), values);
    const s = await status();
    assert.equal(s.json.conditions[0]?.reason, "DecryptionCompleted");
    const key = (await c.kms.call("DescribeKey", { KeyId: c.sys.kmsKeyId }))["KeyMetadata"] as Record<
      string,
      unknown
    >;
    assert.equal(key["DeletionProtection"], "Disabled");
    const tags = JSON.stringify((await c.kms.call("ListResourceTags", { KeyId: c.sys.kmsKeyId }))["Tags"]);
    assert.doesNotMatch(tags, /atrest:cluster/);
  });

  it("a failure at any stage of enable or disable stops it there; no provider leaves before verify; resume completes", async () => {
    // The cluster is disabled here; each stage fails once, alternately in an enable and a disable (the
    // resume of one leaves the cluster ready for the other).
    const order = STAGES.enable;
    const pruneAt = order.indexOf("prune");
    const stages = order.slice(1);
    for (let i = 0; i < stages.length; i++) {
      const failAt = stages[i]!;
      const type = i % 2 === 0 ? ("enable" as const) : ("disable" as const);
      const old = type === "enable" ? /identity/ : /kms:/;
      const faulty = operationsOn(c, {
        faults: {
          beforeStage: (s) => {
            if (s === failAt) throw new Error(`injected failure at ${s}`);
          },
        },
      });
      await assert.rejects(
        faulty.start(type === "enable" ? { type, keyId: c.sys.kmsKeyId } : { type }),
        new RegExp(`${type} stopped at stage ${failAt} .*injected`),
      );
      const record = (await faulty.records.read()).record!;
      assert.equal(record.state, "Failed");
      assert.equal(record.failure?.stage, failAt);
      const file = readFileSync(c.sys.configFile, "utf8");
      if (order.indexOf(failAt) <= pruneAt) {
        assert.match(
          file,
          old,
          `${type} failed at ${failAt}: the old provider is still in the configuration`,
        );
        assert.notEqual(record.stages.find((s) => s.name === "prune")?.state, "succeeded");
      } else {
        assert.equal(
          record.verify?.passed,
          true,
          `${type} failed at ${failAt}: pruned only after verify passed`,
        );
      }
      assert.deepEqual(await c.secretValues(), values, `${type} failed at ${failAt}: every Secret readable`);
      assert.equal((await ops.resume()).state, "Succeeded", `${type} failed at ${failAt}: resume`);
      if (type === "enable") await assertStored(c, "kms:v2", c.sys.pluginKeyId());
      else await assertStored(c, "identity");
    }
  });

  it("a partial rewrite is caught by verify: nothing is pruned, a forced prune is refused, resume rewrites the rest", async () => {
    assert.equal((await ops.start({ type: "disable" })).state, "Succeeded");
    const skipped = new Set(["app/s-3", "app/s-77", "other/s-5"]);
    const partial = operationsOn(c, {
      faults: { rewrite: { skipObject: (key) => skipped.has(key) } },
    });
    await assert.rejects(
      partial.start({ type: "enable", keyId: c.sys.kmsKeyId }),
      /stopped at stage verify .*3 of \d+ secrets are not stored by kms:v2:atrest/,
    );
    let record = (await partial.records.read()).record!;
    assert.equal(record.verify?.passed, false);
    assert.equal(record.stage, "rewrite", "resume starts over at the rewrite");
    assert.match(readFileSync(c.sys.configFile, "utf8"), /identity/);
    const stored = await c.sys.storedSecrets();
    for (const k of skipped) assert.equal(stored.get(`/registry/secrets/${k}`)?.kind, "plaintext");

    // Even a record edited to jump straight to prune cannot prune: the stage checks verify itself.
    await partial.records.update((s) => {
      const r = s.record!;
      r.stage = "prune";
      r.cursor.done = true;
      return { record: r, lease: s.lease };
    });
    await assert.rejects(
      ops.resume(),
      /stopped at stage prune .*refusing to remove a provider: verify has not passed/,
    );
    assert.match(readFileSync(c.sys.configFile, "utf8"), /identity/);
    record = (await partial.records.read()).record!;
    await partial.records.update((s) => {
      const r = s.record!;
      r.stage = "rewrite";
      r.cursor = { resourceIndex: 0, lastKey: null, done: false };
      return { record: r, lease: s.lease };
    });
    assert.equal((await ops.resume()).state, "Succeeded");
    await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.deepEqual(await c.secretValues(), values);
    assert.equal(record.type, "enable");
  });
});

describe("atrest encryption migrate --to v2", () => {
  let c: OperationsCluster;
  before(async () => {
    c = await startOperationsCluster({
      name: "ops-migrate",
      config: (endpoint) => secretsConfig([kmsV1(endpoint), IDENTITY]),
    });
    await c.createSecrets("app", 60, "v1");
  });
  after(() => c?.close());

  it("moves every KMS v1 value to KMS v2 and drops the v1 provider", async () => {
    const values = await c.secretValues();
    const stored = await c.sys.storedSecrets();
    assert.ok(
      [...stored.values()].every(
        (v) => v.kind === "encrypted" && v.provider === "kms" && v.kmsApiVersion === "v1",
      ),
    );
    const r = await runAtrest(
      ["encryption", "migrate", "--to", "v2", "--cluster", c.clusterFile, "--progress", "none"],
      {
        env: ENV,
        timeoutMs: 120_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /migrate .*: Succeeded/);
    await eventually("the plugin key_id", () => Promise.resolve(c.sys.pluginKeyId() !== ""));
    await assertStored(c, "kms:v2", c.sys.pluginKeyId());
    assert.deepEqual(await c.secretValues(), values);
    const file = readFileSync(c.sys.configFile, "utf8");
    assert.doesNotMatch(file, /apiVersion: v1\b/);
    assert.match(file, /apiVersion: v2/);
  });
});
