/**
 * CreateCluster's managed clusters (src/control-plane/managed/) on a real atrest kms and its STS: a
 * cluster created with a key has its first Secret — written by the real kubectl — under KMS v2 in its
 * SQLite file (`atrest scan`, verified through the cluster's own configuration and plugin), the
 * plugin's KMS calls are audited as the assumed service role with the cluster as session, the key is
 * tagged and protected; a cluster without a key stores Secrets as they are; a stop/start and a new
 * control plane (startAll) bring the clusters back with their Secrets; delete removes the cluster and
 * releases its key; bad input changes nothing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ManagedClusters } from "../src/control-plane/managed/index.js";
import { loadClusterFile } from "../src/operations/index.js";
import type { ScanReport } from "../src/scan/index.js";
import { runAtrest } from "./support/cli.js";
import { callRpc } from "./support/identity-stack.js";
import { Kubectl } from "./support/kubectl.js";
import { startManagedStack, type ManagedStack } from "./support/managed-stack.js";

let m: ManagedStack;
let dataDir: string;
let keyId: string;

const kms = (action: string, query: Record<string, string> = {}) => m.kms(action, query);
const createKey = () => m.createKey();
const managed = () => m.managed();

async function scan(db: string, config?: string): Promise<ScanReport> {
  const r = await runAtrest([
    "scan",
    "--datastore-endpoint",
    `sqlite://${db}`,
    "--resource",
    "secrets",
    ...(config === undefined ? [] : ["--encryption-provider-config", config]),
    "-o",
    "json",
  ]);
  assert.ok(r.stdout.startsWith("{"), `scan: ${r.stderr}`);
  return JSON.parse(r.stdout) as ScanReport;
}

async function tagsOf(key: string): Promise<Record<string, string>> {
  const r = await kms("ListResourceTags", { KeyId: key });
  const tags = (r["Tags"] as { Tag: Array<{ TagKey: string; TagValue: string }> }).Tag;
  return Object.fromEntries(tags.map((t) => [t.TagKey, t.TagValue]));
}

async function protectionOf(key: string): Promise<string> {
  const r = await kms("DescribeKey", { KeyId: key });
  return (r["KeyMetadata"] as { DeletionProtection: string }).DeletionProtection;
}

before(async () => {
  m = await startManagedStack("cp-managed");
  dataDir = m.dataDir;
  keyId = await createKey();
});

after(async () => {
  await m?.close();
});

describe("a managed cluster created with a key", { timeout: 240_000 }, () => {
  let clusters: ManagedClusters;
  const id = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9";

  test("its first Secret, created with kubectl, is stored under the key; the plugin works as the service role", async () => {
    clusters = managed();
    const info = await clusters.create({ clusterId: id, name: "prod one", kmsKeyId: keyId });
    assert.equal(info.running, true);
    assert.equal(info.name, "prod one");
    assert.deepEqual(
      info.plugins.map((p) => [p.name, p.keyId]),
      [["atrest", keyId]],
    );
    const kubectl = new Kubectl(info.kubeconfig);
    await kubectl.ok(["create", "secret", "generic", "first", "--from-literal=password=managed-s3cr3t"]);
    assert.equal(
      Buffer.from(
        await kubectl.ok(["get", "secret", "first", "-o", "jsonpath={.data.password}"]),
        "base64",
      ).toString(),
      "managed-s3cr3t",
    );
    const store = info.store as { sqlite: string };
    const report = await scan(store.sqlite, info.encryptionConfig);
    const secrets = report.resources["secrets"]!;
    assert.equal(secrets.total, 1);
    assert.equal(secrets.plaintext, 0);
    assert.deepEqual(secrets.byKmsProvider, { "kms:v2:atrest": 1 });
    assert.equal(secrets.verified, 1, "it decrypts through the cluster's plugin");
    assert.equal(secrets.stale, 0);
    // The key is the cluster's: tagged for it, protected from deletion.
    assert.deepEqual(await tagsOf(keyId), { [`atrest:cluster:${id}`]: "write" });
    assert.equal(await protectionOf(keyId), "Enabled");
    // The KMS recorded the plugin's calls as the assumed role, session named after the cluster.
    const events = await callRpc(m.stack.identity.url, m.stack.caPem, m.stack.admin, {
      action: "LookupEvents",
      version: "2020-07-06",
      query: {
        "LookupAttribute.1.Key": "User",
        "LookupAttribute.1.Value": "aliyuncsmanagedsecurityrole",
        "LookupAttribute.2.Key": "EventName",
        "LookupAttribute.2.Value": "Encrypt",
        MaxResults: "50",
      },
    });
    const list = events["Events"] as Array<{ userIdentity: Record<string, string>; errorCode?: string }>;
    assert.ok(list.length > 0, "Encrypt events of the service role");
    for (const e of list) {
      assert.equal(e.userIdentity["type"], "assumed-role");
      assert.equal(e.userIdentity["userName"], `AliyunCSManagedSecurityRole:${id}`);
      assert.match(e.userIdentity["principalId"] ?? "", new RegExp(`:${id}$`));
      assert.match(e.userIdentity["accessKeyId"] ?? "", /^STS\./);
    }
    // The cluster file lets the operations engine run on it.
    const file = loadClusterFile(info.clusterFile);
    assert.equal(file.name, id);
    assert.equal(file.apiservers[0]?.url, info.apiserverUrl);
    assert.deepEqual(
      file.plugins.map((p) => p.name),
      ["atrest"],
    );
  });

  test("a restart, and a new control plane's startAll, bring it back on its port with its Secret", async () => {
    const before = clusters.info(id)!;
    await clusters.stop(id);
    assert.equal(clusters.info(id)?.running, false);
    await clusters.close();
    const again = managed();
    assert.deepEqual(await again.startAll(), [{ clusterId: id, started: true }]);
    const info = again.info(id)!;
    assert.equal(info.running, true);
    assert.equal(info.apiserverUrl, before.apiserverUrl, "the same port: handed-out kubeconfigs still work");
    const kubectl = new Kubectl(before.kubeconfig);
    await kubectl.ok(["create", "secret", "generic", "second", "--from-literal=k=v2"]);
    const names = await kubectl.ok(["get", "secrets", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert.deepEqual(names.split(" ").sort(), ["first", "second"]);
    const report = await scan((info.store as { sqlite: string }).sqlite, info.encryptionConfig);
    assert.deepEqual(report.resources["secrets"]!.byKmsProvider, { "kms:v2:atrest": 2 });
    clusters = again;
  });

  test("a second key gets its own plugin, listed in the cluster file", async () => {
    const other = await createKey();
    const p = await clusters.addKeyPlugin(id, other);
    assert.equal(p.name, "atrest-2");
    assert.deepEqual(await clusters.addKeyPlugin(id, other), p, "idempotent");
    const file = loadClusterFile(clusters.info(id)!.clusterFile);
    assert.deepEqual(
      file.plugins.map((x) => [x.name, x.endpoint]),
      [
        ["atrest", clusters.info(id)!.plugins[0]!.endpoint],
        ["atrest-2", p.endpoint],
      ],
    );
  });

  test("delete stops it, removes its data and releases the key", async () => {
    const info = clusters.info(id)!;
    const r = await clusters.delete(id);
    assert.equal(r.keysReleased[0], keyId);
    assert.equal(clusters.info(id), undefined);
    assert.equal(existsSync(info.clusterFile), false);
    assert.equal(existsSync(join(dataDir, "clusters", id)), false);
    assert.deepEqual(await tagsOf(keyId), {});
    assert.equal(await protectionOf(keyId), "Disabled");
    await assert.rejects(clusters.delete(id), (e: Error & { code?: string }) => e.code === "not-found");
  });
});

describe("a managed cluster created without a key", { timeout: 120_000 }, () => {
  test("stores Secrets as they are (identity), and deletes cleanly", async () => {
    const clusters = managed();
    const info = await clusters.create({ clusterId: "plain" });
    assert.deepEqual(info.plugins, []);
    const kubectl = new Kubectl(info.kubeconfig);
    await kubectl.ok(["create", "secret", "generic", "open", "--from-literal=k=v"]);
    const report = await scan((info.store as { sqlite: string }).sqlite);
    assert.deepEqual(report.resources["secrets"]!.byProvider, { identity: 1 });
    assert.deepEqual(loadClusterFile(info.clusterFile).plugins, []);
    assert.deepEqual(await clusters.delete("plain"), { keysReleased: [] });
    assert.equal(existsSync(join(dataDir, "clusters", "plain")), false);
  });
});

describe("bad input changes nothing", { timeout: 120_000 }, () => {
  test("a malformed id, an unknown, a disabled or a pending-deletion key, a taken id", async () => {
    const clusters = managed();
    const before = existsSync(join(dataDir, "clusters")) ? readdirSync(join(dataDir, "clusters")) : [];
    const code =
      (c: string, reason?: string) => (e: Error & { code?: string; details?: Record<string, unknown> }) =>
        e.code === c && (reason === undefined || e.details?.["reason"] === reason);
    await assert.rejects(
      clusters.create({ clusterId: "Bad_Id" }),
      code("invalid-argument", "InvalidClusterId"),
    );
    await assert.rejects(clusters.create({ clusterId: "../../etc" }), code("invalid-argument"));
    await assert.rejects(
      clusters.create({ clusterId: "x1", etcd: { endpoints: ["not a url"] } }),
      code("invalid-argument", "InvalidEtcd"),
    );
    await assert.rejects(
      clusters.create({ clusterId: "x1", kmsKeyId: "key-does-not-exist" }),
      code("not-found", "KmsKeyNotFound"),
    );
    const disabled = await createKey();
    await kms("DisableKey", { KeyId: disabled });
    await assert.rejects(
      clusters.create({ clusterId: "x1", kmsKeyId: disabled }),
      code("failed-precondition", "KmsKeyDisabled"),
    );
    const pending = await createKey();
    await kms("ScheduleKeyDeletion", { KeyId: pending, PendingWindowInDays: "7" });
    await assert.rejects(
      clusters.create({ clusterId: "x1", kmsKeyId: pending }),
      code("failed-precondition", "KmsKeyMarkedForDeletion"),
    );
    assert.deepEqual(await tagsOf(disabled), {});
    const after = existsSync(join(dataDir, "clusters")) ? readdirSync(join(dataDir, "clusters")) : [];
    assert.deepEqual(after, before, "no folder made");
    await clusters.create({ clusterId: "taken" });
    await assert.rejects(
      clusters.create({ clusterId: "taken" }),
      code("already-exists", "ClusterAlreadyExists"),
    );
    await assert.rejects(clusters.start("nope"), code("not-found", "ClusterNotFound"));
    await clusters.delete("taken");
  });
});
