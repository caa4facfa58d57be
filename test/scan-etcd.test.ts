/**
 * `atrest scan --etcd-servers` against a real etcd holding what a kube-apiserver would: KMS v2 values
 * through a base64 test plugin, the v1.27 legacy value under its own prefix, local-provider vectors,
 * plaintext JSON / protobuf objects, cluster-scoped and group resources.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { keyIdHash } from "../src/common/key-id-hash.js";
import { SCAN_EXIT } from "../src/scan/report.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { field, hexField, loadAtRestVectors } from "./support/at-rest-vectors.js";
import { runAtrest } from "./support/cli.js";
import { etcdBinary, startEtcd, type EtcdCluster } from "./support/etcd.js";
import { startFakeKmsPlugin, type FakeKmsPlugin } from "./support/fake-kms-plugin.js";
import { localKeys, parseReport, writeConfig, writeThrough } from "./scan-support.js";

const MARKER = `etcd-scan-marker-${process.pid}-${Date.now()}`;
const vectors = loadAtRestVectors();
const legacy = vectors.kubernetes["kmsv2_legacy_aes_gcm_key"];
const LEGACY_PREFIX = "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry";
const secretJson = (name: string) =>
  JSON.stringify({
    kind: "Secret",
    metadata: { name },
    data: { v: Buffer.from(MARKER).toString("base64") },
    raw: MARKER,
  });

const dir = mkdtempSync(join(tmpdir(), "atrest-scan-etcd-"));
let etcd: EtcdCluster | undefined;
let plugin: FakeKmsPlugin;
let config: string;
let servers: string;

before(async () => {
  assert.ok(etcdBinary(), "etcd is installed (Debian etcd-server)");
  etcd = await startEtcd();
  servers = etcd.endpoints.join(",");
  plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock"), keyId: "key-a" });
  config = writeConfig(dir, "config.yaml", [
    {
      resources: ["secrets"],
      providers: [
        `kms: {apiVersion: v2, name: kms-provider, endpoint: "${plugin.endpoint}"}`,
        `aesgcm: ${localKeys()}`,
        "identity: {}",
      ],
    },
    { resources: ["configmaps"], providers: [`aesgcm: ${localKeys()}`, "identity: {}"] },
  ]);
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  try {
    const secrets: Record<string, string> = {};
    for (let i = 0; i < 7; i++) secrets[`/registry/secrets/ns${i % 2}/s${i}`] = secretJson(`s${i}`);
    await writeThrough(config, store, "secrets", secrets);
    await writeThrough(config, store, "configmaps", {
      "/registry/configmaps/ns0/enc": `{"kind":"ConfigMap","x":"${MARKER}"}`,
    });
    const put = (key: string, value: Buffer | string) => store.create(key, Buffer.from(value));
    const gcm = hexField(vectors.derived["D-aesgcm"], "etcd_value_hex");
    await put("/registry/secrets/default/mysecret", gcm);
    await put("/registry/secrets/default/moved", gcm);
    await put("/registry/secrets/ns1/plain", secretJson("plain"));
    await put("/registry/configmaps/ns0/plain", `{"kind":"ConfigMap","x":"${MARKER}"}`);
    await put(
      "/registry/namespaces/ns0",
      Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0]), Buffer.from("namespace")]),
    );
    await put("/registry/minions/node-1", '{"kind":"Node"}');
    await put("/registry/apiregistration.k8s.io/apiservices/v1.apps", '{"kind":"APIService"}');
    await put(field(legacy, "etcd_key"), hexField(legacy, "etcd_value_hex"));
  } finally {
    await store.close();
  }
});

after(async () => {
  await plugin?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("atrest scan on etcd", () => {
  test("paginated scan with the configuration: KMS v2 key_id, failures, plaintext by resource; exit 12", async () => {
    const r = await runAtrest([
      "scan",
      "--etcd-servers",
      servers,
      "--encryption-provider-config",
      config,
      "--page-size",
      "2",
      "-o",
      "json",
    ]);
    assert.ok(!r.stdout.includes(MARKER) && !r.stderr.includes(MARKER), "no plaintext in the output");
    assert.equal(r.status, SCAN_EXIT.failed, r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(Object.keys(report.resources), [
      "apiservices.apiregistration.k8s.io",
      "configmaps",
      "namespaces",
      "nodes",
      "secrets",
    ]);
    const s = report.resources["secrets"]!;
    assert.equal(s.total, 10);
    assert.deepEqual(s.byProvider, { aesgcm: 2, identity: 1, "kms:v2": 7 });
    assert.deepEqual(s.byKeyId, {
      "key-a": { count: 7, keyIdHash: keyIdHash("key-a"), providers: ["kms:v2:kms-provider"] },
    });
    assert.deepEqual(s.byDekSourceType, { HKDF_SHA256_XNONCE_AES_GCM_SEED: 7 });
    assert.equal(s.verified, 9);
    assert.deepEqual(
      s.objects.failed.map((f) => f.key),
      ["/registry/secrets/default/moved"],
    );
    assert.deepEqual(s.objects.plaintext, ["/registry/secrets/ns1/plain"]);
    assert.deepEqual(s.objects.stale, ["/registry/secrets/default/mysecret", "/registry/secrets/ns1/plain"]);
    const cm = report.resources["configmaps"]!;
    assert.equal(cm.encryptionExpected, true);
    assert.deepEqual(cm.byKeyName, { "aesgcm:key1": 1 });
    assert.deepEqual(cm.objects.plaintext, ["/registry/configmaps/ns0/plain"]);
    assert.deepEqual(report.resources["namespaces"]!.byPlaintextEncoding, { protobuf: 1 });
    assert.equal(report.resources["nodes"]!.total, 1);
    assert.equal(report.summary.total, 15);
    assert.deepEqual(report.summary.findings, ["failed", "plaintext"]);
  });

  test("the v1.27 value under its prefix, and a rotation: after the key_id changes every KMS v2 Secret is stale", async () => {
    const legacyConfig = writeConfig(dir, "legacy.yaml", [
      {
        resources: ["secrets"],
        providers: [`kms: {apiVersion: v2, name: kms-provider, endpoint: "${plugin.endpoint}"}`],
      },
    ]);
    plugin.keyId = "1";
    const r = await runAtrest([
      "scan",
      "--etcd-servers",
      servers,
      "--etcd-prefix",
      LEGACY_PREFIX,
      "--encryption-provider-config",
      legacyConfig,
      "-o",
      "json",
    ]);
    assert.equal(r.status, 0, r.stderr);
    const s = parseReport(r.stdout).resources["secrets"]!;
    assert.equal(s.verified, 1);
    assert.deepEqual(s.byDekSourceType, { AES_GCM_KEY: 1 });

    plugin.keyId = "key-b";
    const rotated = await runAtrest([
      "scan",
      "--etcd-servers",
      servers,
      "--encryption-provider-config",
      config,
      "--resource",
      "secrets",
      "--fail-on-stale",
      "-o",
      "json",
    ]);
    const report = parseReport(rotated.stdout);
    assert.equal(report.resources["secrets"]!.stale, 9);
    assert.equal(rotated.status, SCAN_EXIT.failed, rotated.stderr); // the moved Secret still outranks staleness
    assert.deepEqual(report.summary.findings, ["failed", "plaintext", "stale"]);
    plugin.keyId = "key-a";
  });

  test("an unreachable etcd is a clear error, exit 3", async () => {
    const r = await runAtrest(["scan", "--etcd-servers", "http://127.0.0.1:1", "-o", "json"], {
      timeoutMs: 60_000,
    });
    assert.equal(r.stdout, "");
    assert.equal(r.status, 3, r.stderr);
  });
});
