/**
 * Automatic re-encryption (src/control-plane/auto-reencrypt/) with a real rotation: a managed cluster
 * (atrest apiserver + plugin as the service role on atrest kms) holds Secrets under its key; the KMS
 * makes a new key version (CreateKeyVersion, as automatic rotation does); once the plugin and the
 * apiserver report the new key_id the watcher starts a `reencrypt` on its own, recorded as started by
 * the control plane, and afterwards every Secret is under the new key_id (atrest scan). With the
 * per-cluster setting off, a rotation starts nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  AutoReencrypt,
  STARTED_BY_PREFIX,
  type AutoReencryptEvent,
  type Decision,
  type WatchedCluster,
} from "../src/control-plane/auto-reencrypt/index.js";
import type { ManagedClusterInfo, ManagedClusters } from "../src/control-plane/managed/index.js";
import {
  EncryptionOperations,
  KubeClient,
  loadClusterFile,
  loadKubeconfig,
} from "../src/operations/index.js";
import { storeScanner } from "../src/scan/index.js";
import { startManagedStack, type ManagedStack } from "./support/managed-stack.js";

const ID = "rotating";
let m: ManagedStack;
let clusters: ManagedClusters;
let info: ManagedClusterInfo;
let keyId: string;
let kube: KubeClient;
const watchers: AutoReencrypt[] = [];

function watched(): WatchedCluster {
  const cluster = loadClusterFile(info.clusterFile);
  const kms = m.kmsClient();
  const store = info.store as { sqlite: string; prefix: string };
  const scanner = storeScanner({
    endpoint: { sqlitePath: store.sqlite },
    prefix: store.prefix,
    resources: cluster.resources,
  });
  return {
    clusterId: ID,
    cluster,
    kube,
    operations: (owner) => ({
      ops: new EncryptionOperations({ cluster, kube, kms, scanner, owner }),
      close: () => undefined,
    }),
  };
}

/** The stored Secrets per KMS v2 key_id, read from the store (no plaintext). */
async function secretsByKeyId(): Promise<Record<string, number>> {
  const w = watched();
  const status = await w.operations("test").ops.status();
  return Object.fromEntries(
    Object.entries(status.resources["secrets"]!.byKeyId).map(([k, v]) => [k, v.count]),
  );
}

/** Every stored Secret (ours, and the operation's own staged-configuration Secret) under `keyId`. */
function assertAllUnder(byKeyId: Record<string, number>, keyId: string): void {
  assert.deepEqual(Object.keys(byKeyId), [keyId]);
  assert.ok(byKeyId[keyId]! >= 12, JSON.stringify(byKeyId));
}

/** CreateKeyVersion; returns the new key_id `<key>:<version>`. */
async function rotate(): Promise<string> {
  const r = await m.kms("CreateKeyVersion", { KeyId: keyId });
  return `${keyId}:${(r["KeyVersion"] as { KeyVersionId: string }).KeyVersionId}`;
}

/**
 * Checks until the watcher decides `until`, at most `timeoutMs`. The apiserver asks its plugin's
 * Status every 60 s, or on a health check (reused for 20 s): asking /healthz gets there sooner.
 */
async function checkUntil(
  watcher: AutoReencrypt,
  until: (d: Decision) => boolean,
  timeoutMs = 90_000,
): Promise<Decision[]> {
  const seen: Decision[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await kube.request("GET", "/healthz/kms-providers", { accept: "text/plain" }).catch(() => undefined);
    const d = await watcher.checkNow(ID);
    seen.push(d);
    if (until(d)) return seen;
    assert.ok(Date.now() < deadline, `no such decision in time: ${JSON.stringify(seen.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

before(async () => {
  m = await startManagedStack("cp-auto-reencrypt");
  keyId = await m.createKey();
  // Plugins re-check their key every 500 ms, so a new key version shows quickly.
  clusters = m.managed({ pluginStatusRefreshMs: 500 });
  info = await clusters.create({ clusterId: ID, kmsKeyId: keyId });
  kube = new KubeClient(loadKubeconfig(info.kubeconfig));
  for (let i = 0; i < 12; i++)
    await kube.postJson("/api/v1/namespaces/default/secrets", {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `s-${i}` },
      stringData: { v: `value-${i}` },
    });
});

after(async () => {
  for (const w of watchers) w.close();
  kube?.close();
  await m?.close();
});

test(
  "after a rotation every apiserver reports, the watcher re-encrypts on its own",
  { timeout: 240_000 },
  async () => {
    const events: AutoReencryptEvent[] = [];
    const watcher = new AutoReencrypt({ intervalMs: 3_600_000, settleMs: 0, onEvent: (e) => events.push(e) });
    watchers.push(watcher);
    watcher.watch(watched());
    const before = await secretsByKeyId();
    assert.equal(Object.keys(before).length, 1);
    assert.equal(Object.values(before)[0], 12);
    const idle = await watcher.checkNow(ID);
    assert.deepEqual([idle.action, idle.action === "wait" ? idle.reason : ""], ["wait", "UpToDate"]);

    const newKeyId = await rotate();
    const seen = await checkUntil(watcher, (d) => d.action === "reencrypt");
    const started = seen[seen.length - 1]!;
    assert.equal(started.action, "reencrypt");
    if (started.action === "reencrypt") {
      assert.equal(started.keyId, newKeyId);
      assert.deepEqual(started.stale, before);
    }
    // Until then it waited for the key_id (never started early).
    for (const d of seen.slice(0, -1)) assert.equal(d.action, "wait");
    const record = await watcher.running(ID);
    assert.ok(record !== undefined, `the re-encrypt ran: ${JSON.stringify(events)}`);
    assert.equal(record.type, "reencrypt");
    assert.equal(record.state, "Succeeded");
    assert.ok(record.startedBy.startsWith(STARTED_BY_PREFIX), record.startedBy);
    assertAllUnder(await secretsByKeyId(), newKeyId);
    assert.deepEqual(
      events.map((e) => e.type),
      ["AutoReencryptStarted", "AutoReencryptSucceeded"],
    );
    // The cluster's own record says who started it (what DescribeClusterEvents / status will show).
    const status = await watched().operations("test").ops.status();
    assert.equal(status.operation?.id, record.id);
    assert.equal(status.operation?.startedBy, record.startedBy);
    const after = await watcher.checkNow(ID);
    assert.deepEqual([after.action, after.action === "wait" ? after.reason : ""], ["wait", "UpToDate"]);
  },
);

test("with the cluster's setting off, a rotation starts nothing", { timeout: 180_000 }, async () => {
  const events: AutoReencryptEvent[] = [];
  let enabled = false;
  const watcher = new AutoReencrypt({
    intervalMs: 3_600_000,
    settleMs: 0,
    enabled: () => enabled,
    onEvent: (e) => events.push(e),
  });
  watchers.push(watcher);
  watcher.watch(watched());
  const lastOperation = (await watched().operations("test").ops.status()).operation?.id;
  const newKeyId = await rotate();
  // Wait (the same way as above) until the plugin serves the new key_id, asking the watcher meanwhile.
  const deadline = Date.now() + 60_000;
  while ((await watched().operations("test").ops.status()).resources["secrets"]!.keyId !== newKeyId) {
    assert.ok(Date.now() < deadline, "the plugin serves the new key version in time");
    const d = await watcher.checkNow(ID);
    assert.deepEqual([d.action, d.action === "wait" ? d.reason : ""], ["wait", "AutoReencryptDisabled"]);
    await new Promise((r) => setTimeout(r, 500));
  }
  const d = await watcher.checkNow(ID);
  assert.deepEqual([d.action, d.action === "wait" ? d.reason : ""], ["wait", "AutoReencryptDisabled"]);
  assert.equal(watcher.running(ID), undefined);
  assert.deepEqual(events, []);
  assert.equal((await watched().operations("test").ops.status()).operation?.id, lastOperation);
  // Turned on again, it catches up.
  enabled = true;
  await checkUntil(watcher, (x) => x.action === "reencrypt");
  assert.equal((await watcher.running(ID))?.state, "Succeeded");
  assertAllUnder(await secretsByKeyId(), newKeyId);
});
