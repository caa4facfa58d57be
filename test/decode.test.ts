import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { repoRoot, runAtrest } from "./support/cli.js";
import { startFakeKmsPlugin } from "./support/fake-kms-plugin.js";

interface Vector {
  config_secret_base64?: string;
  plaintext_hex?: string;
  etcd_value_hex: string;
  aad_etcd_key?: string;
}
const vectors = JSON.parse(
  readFileSync(join(repoRoot, "..", "shared", "vectors", "kubernetes-at-rest.json"), "utf8"),
) as {
  derived: Record<string, Vector>;
  kubernetes: Record<string, Vector & { etcd_key: string; plaintext_hex: string; provider_name: string }>;
};
const cbc10 = vectors.derived["D-aescbc (10-byte plaintext)"]!;
const cbc16 = vectors.derived["D-aescbc (16-byte plaintext)"]!;
const gcm = vectors.derived["D-aesgcm"]!;
const box = vectors.derived["D-secretbox"]!;
const SECRET = gcm.config_secret_base64!;
const KEY = "/registry/secrets/default/mysecret";
/** Generous: several CLI processes start at once on a busy machine (a bound, not a timing assertion). */
const CLI_TIMEOUT_MS = 120_000;

const dir = mkdtempSync(join(tmpdir(), "atrest-decode-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, providers: string[]): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      "apiVersion: apiserver.config.k8s.io/v1",
      "kind: EncryptionConfiguration",
      "resources:",
      "  - resources: [secrets]",
      "    providers:",
      ...providers.map((p) => `      - ${p}`),
      "",
    ].join("\n"),
  );
  return path;
}
const keys = (secret: string) => `{keys: [{name: key1, secret: "${secret}"}]}`;

async function decode(config: string, value: string, extra: string[] = [], key = KEY) {
  const r = await runAtrest(
    ["decode", "--encryption-provider-config", config, "--key", key, "--value-hex", value, ...extra],
    { timeoutMs: CLI_TIMEOUT_MS },
  );
  return r;
}

function json(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1, `one JSON line, got: ${stdout}`);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

const b64 = (hex: string) => Buffer.from(hex, "hex").toString("base64");

describe("atrest decode", () => {
  test("aesgcm, aescbc and secretbox vectors: the first provider's values are fresh, the others stale", async () => {
    const config = configFile("all.yaml", [
      `aesgcm: ${keys(SECRET)}`,
      `aescbc: ${keys(SECRET)}`,
      `secretbox: ${keys(SECRET)}`,
    ]);
    const [g, c10, c16, s] = await Promise.all([
      decode(config, gcm.etcd_value_hex),
      decode(config, cbc10.etcd_value_hex),
      decode(config, cbc16.etcd_value_hex),
      decode(config, box.etcd_value_hex),
    ]);
    for (const r of [g, c10, c16, s]) assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(json(g.stdout), {
      provider: "aesgcm",
      keyName: "key1",
      stale: false,
      plaintextBase64: b64(gcm.plaintext_hex!),
    });
    assert.deepEqual(json(c10.stdout), {
      provider: "aescbc",
      keyName: "key1",
      stale: true,
      plaintextBase64: b64(cbc10.plaintext_hex!),
    });
    assert.deepEqual(json(c16.stdout), {
      provider: "aescbc",
      keyName: "key1",
      stale: true,
      plaintextBase64: b64(cbc16.plaintext_hex!),
    });
    assert.deepEqual(json(s.stdout), {
      provider: "secretbox",
      keyName: "key1",
      stale: true,
      plaintextBase64: b64(box.plaintext_hex!),
    });
  });

  test("--plaintext=false leaves the plaintext out; --value-file reads raw bytes; a custom prefix before /registry works", async () => {
    const config = configFile("cbc.yaml", [`aescbc: ${keys(SECRET)}`]);
    const valueFile = join(dir, "value.bin");
    writeFileSync(valueFile, Buffer.from(cbc10.etcd_value_hex, "hex"));
    const r = await runAtrest(
      [
        "decode",
        "--encryption-provider-config",
        config,
        "--key",
        "/0f4e/registry/secrets/ns/name",
        "--value-file",
        valueFile,
        "--plaintext=false",
      ],
      { timeoutMs: CLI_TIMEOUT_MS },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(json(r.stdout), { provider: "aescbc", keyName: "key1", stale: false });
  });

  test("errors: wrong key, unknown prefix, moved object (AAD), invalid config, bad input — one line on stderr, non-zero exit", async () => {
    const otherKey = Buffer.alloc(32, 7).toString("base64");
    const wrong = configFile("wrong.yaml", [`aesgcm: ${keys(otherKey)}`]);
    const cbcOnly = configFile("cbc-only.yaml", [`aescbc: ${keys(SECRET)}`]);
    const right = configFile("gcm.yaml", [`aesgcm: ${keys(SECRET)}`]);
    const invalid = configFile("invalid.yaml", [
      `kms: {apiVersion: v2, name: "a:b", endpoint: "unix:///tmp/x.sock"}`,
    ]);
    const [wrongKey, noPrefix, moved, badConfig, badHex] = await Promise.all([
      decode(wrong, gcm.etcd_value_hex),
      decode(cbcOnly, gcm.etcd_value_hex),
      decode(right, gcm.etcd_value_hex, [], "/registry/secrets/default/other"),
      decode(invalid, gcm.etcd_value_hex),
      decode(right, "zz"),
    ]);
    for (const r of [wrongKey, noPrefix, moved, badConfig, badHex]) {
      assert.notEqual(r.status, 0);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
      assert.ok(!r.stderr.includes(SECRET) && !r.stderr.includes(otherKey), "no key material on stderr");
    }
    assert.equal(wrongKey.status, 4, wrongKey.stderr); // data-corrupt: authentication failed
    assert.equal(moved.status, 4, moved.stderr);
    assert.match(noPrefix.stderr, /no matching prefix/i);
    assert.equal(badConfig.status, 2);
    assert.match(
      badConfig.stderr,
      /resources\[0\]\.providers\[0\]\.kms\.name: Invalid value: "a:b": invalid KMS provider name a:b, must not contain ':'/,
    );
    assert.equal(badHex.status, 2);
  });

  test("KMS v2: the value kube-apiserver v1.27 wrote, through a base64 test plugin on a unix socket", async () => {
    const plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms-v2.sock") });
    try {
      const legacy = vectors.kubernetes["kmsv2_legacy_aes_gcm_key"]!;
      const config = configFile("kms-v2.yaml", [
        `kms: {apiVersion: v2, name: ${legacy.provider_name}, endpoint: "${plugin.endpoint}"}`,
      ]);
      const r = await decode(config, legacy.etcd_value_hex, [], legacy.etcd_key);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(json(r.stdout), {
        provider: "kms",
        kmsApiVersion: "v2",
        providerName: "kms-provider",
        keyId: "1",
        dekSourceType: "AES_GCM_KEY",
        stale: true, // type 0 is not what this apiserver writes (seed mode): an update rewrites it
        plaintextBase64: b64(legacy.plaintext_hex),
      });
      assert.equal(plugin.calls.v2Decrypt, 1);
    } finally {
      await plugin.close();
    }
  });

  test("KMS v1: GCM and legacy CBC values through the same test plugin", async () => {
    const plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms-v1.sock") });
    try {
      const config = configFile("kms-v1.yaml", [`kms: {name: kms-provider, endpoint: "${plugin.endpoint}"}`]);
      const v1Gcm = vectors.derived["D-kms-v1 (AES-GCM payload, written by >=1.25)"]!;
      const v1Cbc =
        vectors.derived[
          "D-kms-v1-legacy-cbc (AES-CBC payload, written by <=1.24; still readable, marked stale)"
        ]!;
      const [rGcm, rCbc] = await Promise.all([
        decode(config, v1Gcm.etcd_value_hex),
        decode(config, v1Cbc.etcd_value_hex),
      ]);
      assert.equal(rGcm.status, 0, rGcm.stderr);
      assert.deepEqual(json(rGcm.stdout), {
        provider: "kms",
        kmsApiVersion: "v1",
        providerName: "kms-provider",
        dekSourceType: "AES_GCM",
        stale: false,
        plaintextBase64: b64(v1Gcm.plaintext_hex!),
      });
      assert.equal(rCbc.status, 0, rCbc.stderr);
      assert.deepEqual(json(rCbc.stdout), {
        provider: "kms",
        kmsApiVersion: "v1",
        providerName: "kms-provider",
        dekSourceType: "AES_CBC",
        stale: true,
        plaintextBase64: b64(v1Cbc.plaintext_hex!),
      });
    } finally {
      await plugin.close();
    }
  });

  test("KMS: plugin unreachable is one line and exit 3", async () => {
    const legacy = vectors.kubernetes["kmsv2_legacy_aes_gcm_key"]!;
    const config = configFile("kms-missing.yaml", [
      `kms: {apiVersion: v2, name: kms-provider, endpoint: "unix://${join(dir, "nobody.sock")}", timeout: 2s}`,
    ]);
    const r = await decode(config, legacy.etcd_value_hex, [], legacy.etcd_key);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /KMS plugin unreachable or unhealthy/);
  });
});
