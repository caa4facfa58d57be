/**
 * `--encryption-provider-config` in the apiserver: per-resource provider chains from the file, KMS v2
 * through a real plugin socket, KMS checks on /healthz and /readyz but not /livez, kube's metric names,
 * and automatic reload (a broken new file keeps the old configuration).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { keyIdHash } from "../src/common/key-id-hash.js";
import { startFakeKmsPlugin, type FakeKmsPlugin } from "./support/fake-kms-plugin.js";
import { Kubectl } from "./support/kubectl.js";

const AES_KEY = Buffer.alloc(32, 7).toString("base64");

function config(first: "kms" | "identity", endpoint: string): string {
  const kms = `    - kms:\n        apiVersion: v2\n        name: fake\n        endpoint: ${endpoint}\n        timeout: 2s\n`;
  const identity = "    - identity: {}\n";
  return [
    "apiVersion: apiserver.config.k8s.io/v1",
    "kind: EncryptionConfiguration",
    "resources:",
    "  - resources: [secrets]",
    "    providers:",
    (first === "kms" ? kms + identity : identity + kms).trimEnd(),
    "  - resources: [configmaps]",
    "    providers:",
    "    - aesgcm:",
    "        keys:",
    `        - {name: key1, secret: "${AES_KEY}"}`,
    "",
  ].join("\n");
}

function get(server: ApiServer, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(
      new URL(path, server.url),
      { headers: { Authorization: `Bearer ${server.adminToken ?? ""}` }, ca: server.caCertPem },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    )
      .on("error", reject)
      .end();
  });
}

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("apiserver with --encryption-provider-config", { timeout: 120_000 }, () => {
  let dir: string;
  let store: SqliteStore;
  let plugin: FakeKmsPlugin;
  let server: ApiServer;
  let configFile: string;
  let kc: Kubectl;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-encryption-"));
    plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
    configFile = join(dir, "encryption-config.yaml");
    writeFileSync(configFile, config("kms", plugin.endpoint));
    store = new SqliteStore({ path: join(dir, "apiserver.db") });
    server = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      kubeconfigOut: join(dir, "kubeconfig"),
      encryptionProviderConfig: configFile,
      encryptionProviderConfigAutomaticReload: true,
      encryptionReloadIntervalMs: 200,
    });
    kc = new Kubectl(join(dir, "kubeconfig"), { cacheDir: mkdtempSync(join(dir, "cache-")) });
  });
  after(async () => {
    await server?.close();
    await store?.close();
    await plugin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("secrets are stored under KMS v2 and configmaps under aesgcm; kubectl reads them back", async () => {
    await kc.ok(["create", "secret", "generic", "s1", "--from-literal=password=marker-s1"]);
    await kc.ok(["create", "configmap", "c1", "--from-literal=k=marker-c1"]);
    const secret = await store.get("/registry/secrets/default/s1");
    const cm = await store.get("/registry/configmaps/default/c1");
    assert.ok(secret !== undefined && cm !== undefined);
    assert.ok(secret.value.subarray(0, 22).toString().startsWith("k8s:enc:kms:v2:fake:"));
    assert.ok(cm.value.toString("latin1").startsWith("k8s:enc:aesgcm:v1:key1:"));
    assert.ok(!secret.value.includes("marker-s1") && !cm.value.includes("marker-c1"));
    const ns = await store.get("/registry/namespaces/default");
    assert.equal(ns?.value.subarray(0, 1).toString(), "{", "namespaces have no rule: identity (JSON)");
    const out = JSON.parse(await kc.ok(["get", "secret", "s1", "-o", "json"])) as {
      data: { password: string };
    };
    assert.equal(Buffer.from(out.data.password, "base64").toString(), "marker-s1");
  });

  test("kube's metric names, with key ids hashed", async () => {
    const { body } = await get(server, "/metrics");
    const hash = keyIdHash(plugin.keyId);
    assert.match(
      body,
      new RegExp(
        `apiserver_envelope_encryption_key_id_hash_total\\{apiserver_id_hash="sha256:[0-9a-f]{64}",key_id_hash="${hash}",provider_name="fake",transformation_type="to_storage"\\} [1-9]`,
      ),
    );
    assert.match(body, /apiserver_envelope_encryption_dek_source_cache_size\{provider_name="fake"\} 1/);
    assert.match(
      body,
      /apiserver_storage_transformation_operations_total\{transformation_type="to_storage",transformer_prefix="k8s:enc:kms:v2:fake:",status="OK"\} [1-9]/,
    );
    assert.ok(!body.includes(`key_id="${plugin.keyId}"`), "the raw key id is never a label");
  });

  test("the KMS check is on /healthz and /readyz, not /livez; an unhealthy plugin fails readiness only", async () => {
    assert.equal((await get(server, "/healthz/kms-providers")).status, 200);
    assert.equal((await get(server, "/readyz/kms-providers")).status, 200);
    assert.equal((await get(server, "/livez/kms-providers")).status, 404);
    plugin.healthz = "broken";
    try {
      // kube reuses a good result for 20 s; the reload controller's own checks do not change that.
      await eventually(
        "readyz to fail",
        async () => (await get(server, "/readyz?verbose")).status === 500,
        30_000,
      );
      const readyz = await get(server, "/readyz?verbose");
      assert.match(readyz.body, /\[-\]kms-providers failed/);
      assert.equal((await get(server, "/livez")).status, 200);
    } finally {
      plugin.healthz = "ok";
    }
    await eventually(
      "readyz to pass again",
      async () => (await get(server, "/readyz")).status === 200,
      30_000,
    );
  });

  test("automatic reload: identity first makes new writes plaintext; a broken file keeps the old config", async () => {
    writeFileSync(configFile, config("identity", plugin.endpoint));
    await eventually("the reload", async () =>
      (await get(server, "/metrics")).body.includes(
        "apiserver_encryption_config_controller_automatic_reloads_total{apiserver_id_hash",
      ),
    );
    await kc.ok(["create", "secret", "generic", "s2", "--from-literal=password=plain"]);
    assert.equal((await store.get("/registry/secrets/default/s2"))?.value.subarray(0, 1).toString(), "{");
    // The KMS v2 secret written before still reads (all providers read).
    await kc.ok(["get", "secret", "s1"]);

    writeFileSync(
      configFile,
      "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: [{resources: ['*'], providers: [{identity: {}}]}]\n",
    );
    await eventually("the failed reload", async () =>
      /automatic_reloads_total\{apiserver_id_hash="[^"]+",status="failure"\} 1/.test(
        (await get(server, "/metrics")).body,
      ),
    );
    await kc.ok(["create", "secret", "generic", "s3", "--from-literal=password=plain"]);
    assert.equal((await store.get("/registry/secrets/default/s3"))?.value.subarray(0, 1).toString(), "{");
    const cm = await kc.ok(["create", "configmap", "c2", "--from-literal=k=v"]);
    assert.ok(cm.length > 0);
    assert.ok(
      (await store.get("/registry/configmaps/default/c2"))?.value
        .toString("latin1")
        .startsWith("k8s:enc:aesgcm:"),
      "the previous (valid) configuration stayed in force",
    );
  });
});
