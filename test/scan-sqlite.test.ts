/**
 * `atrest scan` end to end on the embedded SQLite store: values written the way kube-apiserver writes
 * them (the shared vectors, and fresh KMS v2 values through a base64 test plugin on a unix socket),
 * scanned by the CLI with and without a configuration.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { keyIdHash } from "../src/common/key-id-hash.js";
import { SCAN_EXIT } from "../src/scan/report.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import { hexField, field, loadAtRestVectors } from "./support/at-rest-vectors.js";
import { runAtrest } from "./support/cli.js";
import { startFakeKmsPlugin, type FakeKmsPlugin } from "./support/fake-kms-plugin.js";
import { localKeys, parseReport, writeConfig, writeThrough } from "./scan-support.js";

const MARKER = `scan-marker-${process.pid}-${Date.now()}`;
const vectors = loadAtRestVectors();
const legacy = vectors.kubernetes["kmsv2_legacy_aes_gcm_key"];
const LEGACY_KEY = field(legacy, "etcd_key");
const LEGACY_PREFIX = "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry";
const MYSECRET = "/registry/secrets/default/mysecret";
const secretJson = (name: string) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: "app" },
    data: { token: Buffer.from(MARKER).toString("base64"), raw: MARKER },
  });

const dir = mkdtempSync(join(tmpdir(), "atrest-scan-sqlite-"));
const dbPath = join(dir, "store.db");
const datastore = `sqlite://${dbPath}`;
/** `atrest scan` of this test's SQLite file with an encryption configuration, plus more arguments. */
const scanWith = (configFile: string, ...args: string[]) =>
  runAtrest(["scan", "--datastore-endpoint", datastore, "--encryption-provider-config", configFile, ...args]);
let plugin: FakeKmsPlugin;
let config: string;

function assertNoMarker(r: { stdout: string; stderr: string }): void {
  assert.ok(!r.stdout.includes(MARKER) && !r.stderr.includes(MARKER), "no plaintext marker in the output");
  assert.ok(!r.stdout.includes(Buffer.from(MARKER).toString("base64")), "no base64 plaintext in the output");
}

before(async () => {
  plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
  // Secrets: KMS v2 writes; aesgcm, aescbc, secretbox and identity still read older data.
  config = writeConfig(dir, "config.yaml", [
    {
      resources: ["secrets"],
      providers: [
        `kms: {apiVersion: v2, name: kms-provider, endpoint: "${plugin.endpoint}"}`,
        `aesgcm: ${localKeys()}`,
        `aescbc: ${localKeys()}`,
        `secretbox: ${localKeys()}`,
        "identity: {}",
      ],
    },
  ]);
  const store = new SqliteStore({ path: dbPath });
  try {
    // Fresh KMS v2 values: three under key_id "1", then the KMS key rotates and two more under "2".
    await writeThrough(config, store, "secrets", {
      "/registry/secrets/app/kms-a": secretJson("kms-a"),
      "/registry/secrets/app/kms-b": secretJson("kms-b"),
      "/registry/secrets/other/kms-c": secretJson("kms-c"),
    });
    plugin.keyId = "2";
    await writeThrough(config, store, "secrets", {
      "/registry/secrets/app/kms-d": secretJson("kms-d"),
      "/registry/secrets/app/kms-e": secretJson("kms-e"),
    });
    const put = (key: string, value: Buffer | string) => store.create(key, Buffer.from(value));
    // The derived vectors, each under the key it was made for (AAD) or any key where there is none.
    const gcm = hexField(vectors.derived["D-aesgcm"], "etcd_value_hex");
    await put(MYSECRET, gcm);
    await put(
      "/registry/secrets/default/cbc10",
      hexField(vectors.derived["D-aescbc (10-byte plaintext)"], "etcd_value_hex"),
    );
    await put(
      "/registry/secrets/default/cbc16",
      hexField(vectors.derived["D-aescbc (16-byte plaintext)"], "etcd_value_hex"),
    );
    await put("/registry/secrets/default/box", hexField(vectors.derived["D-secretbox"], "etcd_value_hex"));
    // The aesgcm value copied to another key: its AAD no longer matches.
    await put("/registry/secrets/default/moved", gcm);
    // Plaintext Secrets, JSON and kube protobuf (k8s\0 + runtime.Unknown).
    await put("/registry/secrets/app/plain-json", secretJson("plain-json"));
    await put(
      "/registry/secrets/app/plain-pb",
      Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0c]), Buffer.from(MARKER)]),
    );
    // Garbage after a KMS v2 prefix.
    await put(
      "/registry/secrets/app/garbled",
      Buffer.concat([
        Buffer.from("k8s:enc:kms:v2:kms-provider:"),
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]),
      ]),
    );
    // Other resources: cluster-scoped namespaces, ConfigMaps, a group resource, a CRD — plaintext is fine for them.
    await put("/registry/namespaces/app", '{"kind":"Namespace"}');
    await put("/registry/configmaps/app/settings", `{"kind":"ConfigMap","data":{"x":"${MARKER}"}}`);
    await put("/registry/deployments/app/web", '{"kind":"Deployment"}');
    await put("/registry/example.com/widgets/app/w1", '{"kind":"Widget"}');
    // kube-apiserver v1.27's KMS v2 value, under its own key and prefix.
    await put(LEGACY_KEY, hexField(legacy, "etcd_value_hex"));
  } finally {
    await store.close();
  }
});

after(async () => {
  await plugin?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("atrest scan on SQLite", () => {
  test("with the configuration: counts per provider, key name, key_id, DEK source; stale, failed, malformed; exit 12", async () => {
    const r = await scanWith(config, "-o", "json");
    assertNoMarker(r);
    assert.equal(r.status, SCAN_EXIT.failed, r.stderr);
    const report = parseReport(r.stdout);
    assert.equal(report.prefix, "/registry");
    assert.match(report.configuration?.contentHash ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(report.resources), [
      "configmaps",
      "deployments.apps",
      "namespaces",
      "secrets",
      "widgets.example.com",
    ]);

    const s = report.resources["secrets"]!;
    assert.equal(s.total, 13);
    assert.equal(s.plaintext, 2);
    assert.equal(s.plaintextViolations, 2);
    assert.equal(s.encrypted, 10);
    assert.equal(s.malformed, 1);
    assert.equal(s.writer, "kms:v2:kms-provider");
    assert.equal(s.encryptionExpected, true);
    assert.deepEqual(s.byProvider, {
      aescbc: 2,
      aesgcm: 2,
      identity: 2,
      "kms:v2": 5,
      malformed: 1,
      secretbox: 1,
    });
    assert.deepEqual(s.byPlaintextEncoding, { json: 1, protobuf: 1 });
    assert.deepEqual(s.byKeyName, { "aescbc:key1": 2, "aesgcm:key1": 2, "secretbox:key1": 1 });
    assert.deepEqual(s.byKmsProvider, { "kms:v2:kms-provider": 5 });
    assert.deepEqual(s.byKeyId, {
      "1": { count: 3, keyIdHash: keyIdHash("1"), providers: ["kms:v2:kms-provider"] },
      "2": { count: 2, keyIdHash: keyIdHash("2"), providers: ["kms:v2:kms-provider"] },
    });
    assert.deepEqual(s.byDekSourceType, { HKDF_SHA256_XNONCE_AES_GCM_SEED: 5 });
    // Everything but the moved value and the garbled one reads back.
    assert.equal(s.verified, 11);
    assert.equal(s.failed, 1);
    assert.equal(s.unverified, 0);
    assert.deepEqual(
      s.objects.failed.map((f) => f.key),
      ["/registry/secrets/default/moved"],
    );
    assert.deepEqual(
      s.objects.malformed.map((f) => f.key),
      ["/registry/secrets/app/garbled"],
    );
    assert.deepEqual(s.objects.plaintext, [
      "/registry/secrets/app/plain-json",
      "/registry/secrets/app/plain-pb",
    ]);
    // Stale: the old key_id, every non-first provider, the plaintext ones; fresh: key_id "2".
    assert.deepEqual(s.objects.stale, [
      "/registry/secrets/app/kms-a",
      "/registry/secrets/app/kms-b",
      "/registry/secrets/app/plain-json",
      "/registry/secrets/app/plain-pb",
      "/registry/secrets/default/box",
      "/registry/secrets/default/cbc10",
      "/registry/secrets/default/cbc16",
      "/registry/secrets/default/mysecret",
      "/registry/secrets/other/kms-c",
    ]);
    assert.equal(s.stale, 9);

    const cm = report.resources["configmaps"]!;
    assert.equal(cm.plaintext, 1);
    assert.equal(cm.plaintextViolations, 0);
    assert.equal(cm.writer, "identity");
    assert.equal(report.resources["deployments.apps"]!.total, 1);
    assert.equal(report.summary.total, 17);
    assert.deepEqual(report.summary.findings, ["failed", "malformed", "plaintext"]);
    assert.equal(report.summary.exitCode, SCAN_EXIT.failed);
    // The legacy value lives under another prefix and is not part of this scan.
    assert.ok(!r.stdout.includes("43da1478"));
  });

  test("the table shows the same story and lists the object keys, never a value", async () => {
    const r = await scanWith(config);
    assertNoMarker(r);
    assert.equal(r.status, SCAN_EXIT.failed, r.stderr);
    assert.match(r.stdout, /^secrets\s+13\s+2!\s+10\s+1\s+9\s+1\s+kms:v2:kms-provider$/m);
    assert.match(r.stdout, new RegExp(`"1" \\(${keyIdHash("1")}\\) 3`));
    assert.match(r.stdout, /fail to authenticate \(1\):\n\s+\/registry\/secrets\/default\/moved: /);
    assert.match(r.stdout, /result: failed, malformed, plaintext \(exit 12\)/);
  });

  test("without a configuration: classified by bytes only; plaintext Secrets and malformed values are findings", async () => {
    const r = await runAtrest(["scan", "--datastore-endpoint", datastore, "-o", "json"]);
    assertNoMarker(r);
    assert.equal(r.status, SCAN_EXIT.malformed, r.stderr);
    const report = parseReport(r.stdout);
    assert.equal(report.configuration, null);
    const s = report.resources["secrets"]!;
    assert.equal(s.total, 13);
    assert.equal(s.stale, null);
    assert.equal(s.failed, null);
    assert.deepEqual(report.summary.findings, ["malformed", "plaintext"]);
  });

  test("--resource narrows the scan: ConfigMaps alone are clean (exit 0)", async () => {
    const r = await scanWith(config, "--resource", "configmaps", "-o", "json");
    assertNoMarker(r);
    assert.equal(r.status, 0, r.stderr);
    const report = parseReport(r.stdout);
    assert.deepEqual(Object.keys(report.resources), ["configmaps"]);
    assert.deepEqual(report.resourceFilter, ["configmaps"]);
  });

  test("kube v1.27's KMS v2 value under its own prefix authenticates through the base64 plugin; it is stale (AES_GCM_KEY)", async () => {
    const legacyConfig = writeConfig(dir, "legacy.yaml", [
      {
        resources: ["secrets"],
        providers: [
          `kms: {apiVersion: v2, name: ${field(legacy, "provider_name")}, endpoint: "${plugin.endpoint}"}`,
        ],
      },
    ]);
    const base = [
      "scan",
      "--datastore-endpoint",
      datastore,
      "--etcd-prefix",
      LEGACY_PREFIX,
      "--encryption-provider-config",
      legacyConfig,
      "-o",
      "json",
    ];
    plugin.keyId = "1";
    const r = await runAtrest(base);
    assert.equal(r.status, 0, r.stderr);
    const report = parseReport(r.stdout);
    assert.equal(report.prefix, LEGACY_PREFIX);
    const s = report.resources["secrets"]!;
    assert.equal(s.total, 1);
    assert.equal(s.verified, 1);
    assert.equal(s.failed, 0);
    assert.deepEqual(s.byKeyId, {
      "1": { count: 1, keyIdHash: keyIdHash("1"), providers: ["kms:v2:kms-provider"] },
    });
    assert.deepEqual(s.byDekSourceType, { AES_GCM_KEY: 1 });
    assert.deepEqual(s.objects.stale, [LEGACY_KEY]);
    // The plaintext is a protobuf Secret; none of its bytes show.
    assert.ok(!r.stdout.includes("086a7ffc-0225-11e8-ba89-0ed5f89f718b"));

    const strict = await runAtrest([...base, "--fail-on-stale"]);
    assert.equal(strict.status, SCAN_EXIT.stale, strict.stderr);
    assert.deepEqual(parseReport(strict.stdout).summary.findings, ["stale"]);

    // Under the wrong provider name it cannot be read: a failure, exit 12.
    const otherName = writeConfig(dir, "other-name.yaml", [
      {
        resources: ["secrets"],
        providers: [`kms: {apiVersion: v2, name: another, endpoint: "${plugin.endpoint}"}`],
      },
    ]);
    const wrong = await scanWith(otherName, "--etcd-prefix", LEGACY_PREFIX, "-o", "json");
    assert.equal(wrong.status, SCAN_EXIT.failed, wrong.stderr);
    assert.match(
      parseReport(wrong.stdout).resources["secrets"]!.objects.failed[0]!.reason,
      /no matching prefix/,
    );
  });

  test("after the plugin's key_id changes, the values under the old key_id are the stale ones", async () => {
    /** The stale KMS Secrets as the scan reports them now. */
    const staleKmsSecrets = async (): Promise<string[]> => {
      const r = await scanWith(config, "--resource", "secrets", "-o", "json");
      return parseReport(r.stdout).resources["secrets"]!.objects.stale.filter((k) => k.includes("/kms-"));
    };
    plugin.keyId = "2";
    const stale = await staleKmsSecrets();
    assert.deepEqual(stale, [
      "/registry/secrets/app/kms-a",
      "/registry/secrets/app/kms-b",
      "/registry/secrets/other/kms-c",
    ]);
    plugin.keyId = "3";
    const stale3 = await staleKmsSecrets();
    assert.equal(stale3.length, 5);
    plugin.keyId = "2";
  });

  test("with the plugin down, KMS values are 'not checked' (exit 3) and local-provider values are still verified", async () => {
    const quick = writeConfig(dir, "quick.yaml", [
      {
        resources: ["secrets"],
        providers: [
          `kms: {apiVersion: v2, name: kms-provider, endpoint: "${plugin.endpoint}", timeout: 1s}`,
          `aesgcm: ${localKeys()}`,
          `aescbc: ${localKeys()}`,
          `secretbox: ${localKeys()}`,
          "identity: {}",
        ],
      },
    ]);
    await plugin.stop();
    try {
      const r = await scanWith(quick, "--resource", "secrets", "-o", "json");
      assertNoMarker(r);
      const s = parseReport(r.stdout).resources["secrets"]!;
      assert.deepEqual(
        s.objects.unverified.map((u) => u.key),
        [
          "/registry/secrets/app/kms-a",
          "/registry/secrets/app/kms-b",
          "/registry/secrets/app/kms-d",
          "/registry/secrets/app/kms-e",
          "/registry/secrets/other/kms-c",
        ],
      );
      assert.equal(s.verified, 6);
      // The moved value and the garbled one still decide the exit status.
      assert.equal(r.status, SCAN_EXIT.failed, r.stderr);
      const onlyKms = await scanWith(quick, "--etcd-prefix", LEGACY_PREFIX, "-o", "json");
      assert.equal(onlyKms.status, SCAN_EXIT.unverified, onlyKms.stderr);
    } finally {
      await plugin.restart();
    }
  });

  test("bad input: no datastore, an unknown output format, an invalid configuration → exit 2, one line", async () => {
    const invalid = writeConfig(dir, "invalid.yaml", [
      {
        resources: ["secrets"],
        providers: ['kms: {apiVersion: v2, name: "a:b", endpoint: "unix:///tmp/x.sock"}'],
      },
    ]);
    const [none, format, bad] = await Promise.all([
      runAtrest(["scan"]),
      runAtrest(["scan", "--datastore-endpoint", datastore, "-o", "yaml"]),
      runAtrest(["scan", "--datastore-endpoint", datastore, "--encryption-provider-config", invalid]),
    ]);
    for (const r of [none, bad]) {
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.notEqual(format.status, 0);
    assert.match(bad.stderr, /must not contain ':'/);
  });

  test("--help documents the exit statuses", async () => {
    const r = await runAtrest(["scan", "--help"]);
    assert.equal(r.status, 0);
    for (const code of [SCAN_EXIT.plaintext, SCAN_EXIT.malformed, SCAN_EXIT.failed, SCAN_EXIT.stale])
      assert.match(r.stdout, new RegExp(`^\\s+${code}\\s`, "m"));
  });
});
