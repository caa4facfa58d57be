/**
 * Turning encryption on and off on a running apiserver (automatic reload of
 * --encryption-provider-config), all real parts: kubectl, etcd, the atrest plugin and atrest kms.
 * identity → KMS v2 first → identity first, each followed by `get -A -o json | replace -f -`, and a KMS
 * v1 → KMS v2 migration through the same plugin socket (it serves v1beta1 too). `atrest scan` shows
 * where every Secret is after each step; kubectl reads the same values throughout.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { SCAN_EXIT } from "../src/scan/report.js";
import {
  IDENTITY,
  b64Data,
  kmsV1,
  kmsV2,
  listSecrets,
  secretsConfig,
  startEncryptionSystem,
  type EncryptionSystem,
  type SecretView,
} from "./support/encryption-system.js";

const tag = randomBytes(6).toString("hex");
const plain = new Map<string, Record<string, string>>([
  ["default/db", { password: `db-${tag}` }],
  ["default/api", { key: `api-${tag}`, url: "https://example.test" }],
  ["apps/cert", { "tls.crt": `crt-${tag}`, "tls.key": `key-${tag}` }],
]);
const storageKeys = [...plain.keys()].map((id) => `/registry/secrets/${id}`).sort();

describe("turning Secret encryption on and off by reloading the configuration", { timeout: 170_000 }, () => {
  let sys: EncryptionSystem;
  let endpoint: string;

  const assertValues = async (): Promise<Map<string, SecretView>> => {
    const seen = await listSecrets(sys.kubectl);
    assert.deepEqual([...seen.keys()].sort(), [...plain.keys()].sort());
    for (const [id, data] of plain) assert.deepEqual(seen.get(id)?.data, b64Data(data), id);
    return seen;
  };
  const replaceAll = async (): Promise<void> => {
    const before = await listSecrets(sys.kubectl);
    const r = await sys.pipe(["get", "secrets", "--all-namespaces", "-o", "json"], ["replace", "-f", "-"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, plain.size, r.stdout);
    const seen = await assertValues();
    for (const [id, s] of seen)
      assert.notEqual(s.resourceVersion, before.get(id)?.resourceVersion, `${id} was rewritten`);
  };
  const secrets = async (options: { config?: boolean; failOnStale?: boolean } = {}) => {
    const run = await sys.scan({
      ...(options.config === undefined ? {} : { config: options.config }),
      extraArgs: options.failOnStale === true ? ["--fail-on-stale"] : [],
    });
    const s = run.report.resources["secrets"];
    assert.ok(s !== undefined, run.stdout);
    return { run, s };
  };

  before(async () => {
    sys = await startEncryptionSystem({
      name: "encryption-toggle",
      config: () => secretsConfig([IDENTITY]),
    });
    endpoint = sys.pluginEndpoint;
  });
  after(async () => {
    await sys?.close();
  });

  test("identity only: Secrets are stored in plaintext and the scan says so", async () => {
    await sys.kubectl.ok(["create", "namespace", "apps"]);
    for (const [id, data] of plain) {
      const [ns, name] = id.split("/") as [string, string];
      await sys.kubectl.ok([
        "create",
        "secret",
        "generic",
        name,
        "-n",
        ns,
        ...Object.entries(data).map(([k, v]) => `--from-literal=${k}=${v}`),
      ]);
    }
    // Without a configuration the scan expects Secrets to be encrypted: exit 10, every one listed.
    const bare = await secrets({ config: false });
    assert.equal(bare.run.status, SCAN_EXIT.plaintext, bare.run.stderr);
    assert.equal(bare.s.plaintext, plain.size);
    assert.deepEqual(bare.s.byProvider, { identity: plain.size });
    assert.deepEqual(bare.s.objects.plaintext, storageKeys);
    assert.deepEqual(bare.run.report.summary.findings, ["plaintext"]);
    // With the identity configuration plaintext is what it asks for: counted, not a finding.
    const withConfig = await secrets();
    assert.equal(withConfig.run.status, SCAN_EXIT.ok);
    assert.equal(withConfig.s.plaintext, plain.size);
    assert.equal(withConfig.s.encryptionExpected, false);
    for (const [, data] of plain)
      for (const v of Object.values(data))
        assert.ok(!bare.run.stdout.includes(v) && !bare.run.stderr.includes(v), "the scan prints no value");
    await assertValues();
  });

  test("KMS v2 first, identity second: after the reload, replace encrypts every Secret", async () => {
    await sys.writeConfig(secretsConfig([kmsV2(endpoint), IDENTITY]));
    // Before the rewrite the plaintext Secrets are findings (and stale: not the first provider).
    const pending = await secrets();
    assert.equal(pending.run.status, SCAN_EXIT.plaintext);
    assert.deepEqual(pending.s.objects.plaintext, storageKeys);
    assert.deepEqual(pending.s.objects.stale, storageKeys);
    await assertValues();

    await replaceAll();
    const { run, s } = await secrets({ failOnStale: true });
    assert.equal(run.status, SCAN_EXIT.ok, `${run.stderr}\n${JSON.stringify(s, null, 1)}`);
    assert.deepEqual(s.byProvider, { "kms:v2": plain.size });
    assert.equal(s.plaintext, 0);
    assert.deepEqual(s.objects.plaintext, []);
    assert.equal(s.stale, 0);
    assert.deepEqual(Object.keys(s.byKeyId), [sys.pluginKeyId()]);
    assert.equal(s.writer, "kms:v2:atrest");
    // No value in the clear in the store (raw bytes of every Secret).
    for (const kv of (await sys.store.list("/registry/secrets/")).items)
      for (const data of plain.values())
        for (const v of Object.values(data)) assert.ok(!kv.value.includes(v), `${kv.key} holds a value`);
  });

  test("identity first, KMS v2 second: after the reload, replace decrypts every Secret to plaintext", async () => {
    await sys.writeConfig(secretsConfig([IDENTITY, kmsV2(endpoint)]));
    const pending = await secrets({ failOnStale: true });
    assert.equal(pending.run.status, SCAN_EXIT.stale, "KMS values are stale once identity writes");
    assert.deepEqual(pending.s.objects.stale, storageKeys);
    await assertValues();

    await replaceAll();
    const { run, s } = await secrets({ failOnStale: true });
    assert.equal(run.status, SCAN_EXIT.ok, run.stderr);
    assert.deepEqual(s.byProvider, { identity: plain.size });
    assert.equal(s.plaintext, plain.size);
    assert.equal(s.stale, 0);
    assert.deepEqual(s.byKeyId, {});
    const bare = await secrets({ config: false });
    assert.equal(bare.run.status, SCAN_EXIT.plaintext);
    assert.deepEqual(bare.s.objects.plaintext, storageKeys);
  });

  test("KMS v1 (v1beta1 on the same plugin socket) migrated to KMS v2 with the same replace", async () => {
    await sys.writeConfig(secretsConfig([kmsV1(endpoint), IDENTITY]));
    await replaceAll();
    const v1 = await secrets({ failOnStale: true });
    assert.equal(v1.run.status, SCAN_EXIT.ok, `${v1.run.stderr}\n${JSON.stringify(v1.s, null, 1)}`);
    assert.deepEqual(v1.s.byProvider, { "kms:v1": plain.size });
    assert.deepEqual(v1.s.byKmsProvider, { "kms:v1:atrest-v1": plain.size });
    assert.deepEqual(v1.s.byDekSourceType, { AES_GCM: plain.size });
    assert.equal(v1.s.plaintext, 0);

    await sys.writeConfig(secretsConfig([kmsV2(endpoint), kmsV1(endpoint), IDENTITY]));
    const pending = await secrets({ failOnStale: true });
    assert.equal(pending.run.status, SCAN_EXIT.stale);
    assert.deepEqual(pending.s.objects.stale, storageKeys);
    assert.equal(pending.s.verified, plain.size, "v1 values still read through the v1 provider");

    await replaceAll();
    const v2 = await secrets({ failOnStale: true });
    assert.equal(v2.run.status, SCAN_EXIT.ok, v2.run.stderr);
    assert.deepEqual(v2.s.byProvider, { "kms:v2": plain.size });
    assert.deepEqual(v2.s.byKmsProvider, { "kms:v2:atrest": plain.size });
    assert.deepEqual(Object.keys(v2.s.byKeyId), [sys.pluginKeyId()]);
    assert.equal(v2.s.stale, 0);
    assert.equal(v2.s.plaintext, 0);
  });
});
