/**
 * Key rotation end to end, all real parts: kubectl → apiserver (KMS v2) → atrest plugin → atrest kms
 * (HTTPS) and etcd. Secrets are written as kubectl sends them (protobuf for `create secret generic`,
 * JSON for `create -f`), `atrest scan` shows them under the KMS key's current version, a new key
 * version (`atrest kms create-key-version`) makes them stale, and the seed documents' commands
 * (`get -o json | annotate --overwrite -f -`, then `get -o json | replace -f -`) re-encrypt every one
 * under the newest key_id without changing a value.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { keyIdHash } from "../src/common/key-id-hash.js";
import { SCAN_EXIT } from "../src/scan/report.js";
import {
  b64Data,
  kmsV2,
  listSecrets,
  secretsConfig,
  startEncryptionSystem,
  type EncryptionSystem,
  type ScanRun,
} from "./support/encryption-system.js";

const tag = randomBytes(6).toString("hex");
/** namespace/name → the plaintext data each Secret was created with. */
const expected = new Map<string, Record<string, string>>([
  ["team-a/gen-a", { password: `pw-a-${tag}`, user: "alice" }],
  ["team-b/gen-b", { password: `pw-b-${tag}`, "tls.key": `-----k-${tag}-----\n` }],
  ["team-a/json-a", { token: `tok-a-${tag}` }],
  ["team-b/json-b", { token: `tok-b-${tag}`, extra: "from stringData" }],
]);

function storageKey(id: string): string {
  return `/registry/secrets/${id}`;
}

/** Asserts every Secret is stored under KMS v2 with this key_id, nothing stale or plaintext, exit 0. */
function assertAllUnder(run: ScanRun, keyId: string, count: number): void {
  const s = run.report.resources["secrets"];
  assert.ok(s !== undefined, run.stdout);
  assert.equal(run.status, SCAN_EXIT.ok, `scan exit: ${run.stderr}\n${JSON.stringify(s, null, 1)}`);
  assert.equal(s.total, count);
  assert.deepEqual(s.byProvider, { "kms:v2": count });
  assert.deepEqual(s.byKmsProvider, { "kms:v2:atrest": count });
  assert.deepEqual(s.byKeyId, {
    [keyId]: { count, keyIdHash: keyIdHash(keyId), providers: ["kms:v2:atrest"] },
  });
  assert.deepEqual(s.byDekSourceType, { HKDF_SHA256_XNONCE_AES_GCM_SEED: count });
  assert.equal(s.plaintext, 0);
  assert.deepEqual(s.objects.plaintext, []);
  assert.equal(s.verified, count);
  assert.equal(s.stale, 0);
  assert.equal(s.failed, 0);
  assert.equal(run.report.summary.plaintextViolations, 0);
  assert.deepEqual(run.report.summary.findings, []);
}

describe("KMS v2 key rotation with kubectl, atrest kms and etcd", { timeout: 170_000 }, () => {
  let sys: EncryptionSystem;
  let firstKeyId: string;
  let secondKeyId: string;

  const assertValues = async (extra: Map<string, Record<string, string>> = new Map()) => {
    const seen = await listSecrets(sys.kubectl);
    const want = new Map([...expected, ...extra]);
    assert.deepEqual([...seen.keys()].sort(), [...want.keys()].sort());
    for (const [id, plain] of want) assert.deepEqual(seen.get(id)?.data, b64Data(plain), id);
    return seen;
  };

  before(async () => {
    sys = await startEncryptionSystem({
      name: "encryption-rotation",
      config: (endpoint) => secretsConfig([kmsV2(endpoint), "identity: {}"]),
    });
  });
  after(async () => {
    await sys?.close();
  });

  test("Secrets from create secret generic (protobuf) and create -f (JSON) are stored under the key's current version", async () => {
    for (const ns of ["team-a", "team-b"]) await sys.kubectl.ok(["create", "namespace", ns]);
    for (const id of ["team-a/gen-a", "team-b/gen-b"]) {
      const [ns, name] = id.split("/") as [string, string];
      await sys.kubectl.ok([
        "create",
        "secret",
        "generic",
        name,
        "-n",
        ns,
        ...Object.entries(expected.get(id)!).map(([k, v]) => `--from-literal=${k}=${v}`),
      ]);
    }
    const manifest = {
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "json-a", namespace: "team-a" },
          data: b64Data(expected.get("team-a/json-a")!),
        },
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "json-b", namespace: "team-b" },
          data: { token: Buffer.from(`tok-b-${tag}`).toString("base64") },
          stringData: { extra: "from stringData" },
        },
      ],
    };
    const file = join(sys.dir, "secrets.json");
    writeFileSync(file, JSON.stringify(manifest));
    await sys.kubectl.ok(["create", "-f", file]);

    const version = await sys.primaryKeyVersion();
    firstKeyId = `${sys.kmsKeyId}:${version}`;
    assert.equal(sys.pluginKeyId(), firstKeyId, "the plugin's key_id is the key and its primary version");

    const run = await sys.scan({ extraArgs: ["--fail-on-stale"] });
    assertAllUnder(run, firstKeyId, 4);
    const raw = (await sys.store.list("/registry/secrets/")).items;
    assert.equal(raw.length, 4);
    for (const v of expected.values())
      for (const plain of Object.values(v)) {
        assert.ok(!run.stdout.includes(plain), "the scan prints no value");
        for (const kv of raw) assert.ok(!kv.value.includes(plain), `${kv.key} holds a value in the clear`);
      }
    await assertValues();
  });

  test("after create-key-version new Secrets use the new key_id; the old ones are stale on the old one", async () => {
    secondKeyId = await sys.rotateKey();
    assert.notEqual(secondKeyId, firstKeyId);
    assert.equal(secondKeyId, `${sys.kmsKeyId}:${await sys.primaryKeyVersion()}`);
    const plain = { password: `pw-new-${tag}` };
    await sys.kubectl.ok([
      "create",
      "secret",
      "generic",
      "after-rotation",
      "-n",
      "team-a",
      "--from-literal=password=" + plain.password,
    ]);
    expected.set("team-a/after-rotation", plain);

    const run = await sys.scan({ extraArgs: ["--fail-on-stale"] });
    const s = run.report.resources["secrets"]!;
    assert.equal(run.status, SCAN_EXIT.stale, run.stderr);
    assert.deepEqual(run.report.summary.findings, ["stale"]);
    assert.deepEqual(s.byKeyId, {
      [firstKeyId]: { count: 4, keyIdHash: keyIdHash(firstKeyId), providers: ["kms:v2:atrest"] },
      [secondKeyId]: { count: 1, keyIdHash: keyIdHash(secondKeyId), providers: ["kms:v2:atrest"] },
    });
    assert.deepEqual(
      s.objects.stale,
      ["team-a/gen-a", "team-a/json-a", "team-b/gen-b", "team-b/json-b"].map(storageKey),
    );
    assert.equal(s.verified, 5, "old values still decrypt");
    const stored = await sys.storedSecrets();
    const fresh = stored.get(storageKey("team-a/after-rotation"));
    assert.ok(fresh?.kind === "encrypted" && fresh.provider === "kms" && fresh.kmsApiVersion === "v2");
    assert.equal(fresh.keyId, secondKeyId);
    await assertValues();
  });

  test("get -A -o json | annotate --overwrite -f - re-encrypts every Secret under the new key_id", async () => {
    const date = new Date().toISOString();
    const before = await listSecrets(sys.kubectl);
    const r = await sys.pipe(
      ["get", "secrets", "--all-namespaces", "-o", "json"],
      ["annotate", "--overwrite", "-f", "-", `encryption-key-rotation-time=${date}`],
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 5, r.stdout);

    assertAllUnder(await sys.scan({ extraArgs: ["--fail-on-stale"] }), secondKeyId, 5);
    const seen = await assertValues();
    for (const [id, s] of seen) {
      assert.equal(s.annotations["encryption-key-rotation-time"], date, id);
      assert.notEqual(s.resourceVersion, before.get(id)?.resourceVersion, `${id} was rewritten`);
    }
  });

  test("another version, then get -A -o json | replace -f -: every Secret under the newest key_id, values unchanged", async () => {
    const third = await sys.rotateKey();
    assert.notEqual(third, secondKeyId);
    const stale = await sys.scan({ extraArgs: ["--fail-on-stale"] });
    assert.equal(stale.status, SCAN_EXIT.stale);
    assert.equal(stale.report.resources["secrets"]!.stale, 5);

    const before = await listSecrets(sys.kubectl);
    const r = await sys.pipe(["get", "secrets", "--all-namespaces", "-o", "json"], ["replace", "-f", "-"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 5, r.stdout);

    assertAllUnder(await sys.scan({ extraArgs: ["--fail-on-stale"] }), third, 5);
    const seen = await assertValues();
    for (const [id, s] of seen) {
      assert.deepEqual(s.annotations, before.get(id)?.annotations, id);
      assert.notEqual(s.resourceVersion, before.get(id)?.resourceVersion, `${id} was rewritten`);
    }
    // The KMS did the work: every key_id the store holds names a version of the plugin's key.
    for (const [key, c] of await sys.storedSecrets()) {
      assert.ok(c.kind === "encrypted" && c.provider === "kms" && c.kmsApiVersion === "v2", key);
      assert.equal(c.keyId, third, key);
    }
  });
});
