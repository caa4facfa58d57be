import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import pg from "pg";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import { runAtrest } from "./support/cli.js";
import { eventually, kmsV2, secretsConfig } from "./support/encryption-system.js";
import { freePort } from "./support/etcd.js";
import { Kubectl } from "./support/kubectl.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

// The whole chain: 1,000 Secrets written through the apiserver (real kubectl), encrypted with KMS v2
// through the atrest plugin and atrest kms under two key versions; a KMS backup taken while it serves;
// the KMS data dir deleted; restored with `atrest kms restore`; a fresh apiserver (no seed in memory)
// reads every Secret again through the restored KMS. On SQLite and on PostgreSQL.

const SECRETS = 1000;

interface Chain {
  readonly kms: KmsServer;
  readonly plugin: RunningPlugin;
  readonly apiserver: ApiServer;
  close(): Promise<void>;
}

async function startChain(o: {
  dir: string;
  kmsDir: string;
  kmsListen: string;
  database: string | undefined;
  keyId: string;
}): Promise<Chain> {
  const kms = await startKmsServer({
    dataDir: o.kmsDir,
    listen: o.kmsListen,
    schedulerIntervalMs: 0,
    cacheTtlMs: 0,
    ...(o.database === undefined ? {} : { database: o.database }),
  });
  const creds = JSON.parse(readFileSync(join(o.kmsDir, "credentials.json"), "utf8")) as {
    accessKeyId: string;
    accessKeySecret: string;
  };
  const plugin = await startPlugin({
    listen: `unix://${join(o.dir, "plugin.sock")}`,
    backend: {
      kind: "alibaba",
      endpoint: kms.url,
      regionId: "cn-hangzhou",
      keyId: o.keyId,
      credentials: creds,
      caPem: readFileSync(join(o.kmsDir, "tls", "ca.crt"), "utf8"),
    },
    statusRefreshMs: 300,
  });
  await eventually("the plugin's first healthy check", () =>
    Promise.resolve(plugin.status().healthy && plugin.status().keyId !== ""),
  );
  const store = new SqliteStore({ path: join(o.dir, "apiserver.db") });
  const apiserver = await startApiServer({
    store,
    storeCheckName: "datastore",
    dataDir: join(o.dir, "apiserver"),
    securePort: 0,
    kubeconfigOut: join(o.dir, "kubeconfig"),
    encryptionProviderConfig: join(o.dir, "encryption-config.yaml"),
  });
  return {
    kms,
    plugin,
    apiserver,
    async close() {
      await apiserver.close();
      await store.close();
      await plugin.close({ graceMs: 500 });
      await kms.close();
    },
  };
}

function secretsYaml(from: number, to: number, values: Map<string, string>): string {
  const docs: string[] = [];
  for (let i = from; i < to; i++) {
    const ns = i % 2 === 0 ? "default" : "team-b";
    const value = `marker-${i}-${randomBytes(8).toString("hex")}`;
    values.set(`${ns}/s-${i}`, Buffer.from(value).toString("base64"));
    docs.push(
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-${i}\n  namespace: ${ns}\nstringData:\n  value: ${value}\n`,
    );
  }
  return docs.join("---\n");
}

async function runScenario(
  name: string,
  database: () => Promise<{ first?: string; restored?: string }>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `atrest-recovery-chain-${name}-`));
  let chain: Chain | undefined;
  try {
    const { first, restored } = await database();
    const kmsDir = join(dir, "kms");
    await initKmsDataDir({ dataDir: kmsDir, ...(first === undefined ? {} : { database: first }) });
    const kmsListen = `127.0.0.1:${await freePort()}`;
    // A key, made through the KMS API.
    const boot = await startKmsServer({
      dataDir: kmsDir,
      listen: kmsListen,
      schedulerIntervalMs: 0,
      ...(first === undefined ? {} : { database: first }),
    });
    const creds = JSON.parse(readFileSync(join(kmsDir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const admin = new KmsRpcTestClient({ url: boot.url, ...creds, caCertPem: boot.caCertPem });
    const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    admin.close();
    await boot.close();

    writeFileSync(
      join(dir, "encryption-config.yaml"),
      secretsConfig([kmsV2(`unix://${join(dir, "plugin.sock")}`)]),
    );
    const values = new Map<string, string>();
    const cfg = { dir, kmsDir, kmsListen, database: first, keyId };
    chain = await startChain(cfg);
    const kubectl = new Kubectl(join(dir, "kubeconfig"), { cacheDir: mkdtempSync(join(dir, "kubectl-")) });
    await kubectl.ok(["create", "namespace", "team-b"]);
    const manifests = join(dir, "secrets-1.yaml");
    writeFileSync(manifests, secretsYaml(0, SECRETS / 2, values), { mode: 0o600 });
    await kubectl.ok(["create", "-f", manifests], { timeoutMs: 300_000 });
    // A second key version; a restarted apiserver makes its seed under it.
    const rotated = await runAtrest(
      [
        "kms",
        "create-key-version",
        "--key-id",
        keyId,
        "--endpoint",
        chain.kms.url,
        "--access-key-id",
        creds.accessKeyId,
        "--access-key-secret",
        creds.accessKeySecret,
        "--ca-file",
        join(kmsDir, "tls", "ca.crt"),
        "-o",
        "json",
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(rotated.status, 0, rotated.stderr);
    const version2 = String(
      (JSON.parse(rotated.stdout) as { KeyVersion: { KeyVersionId: string } }).KeyVersion.KeyVersionId,
    );
    await eventually("the plugin to report the new key version", () =>
      Promise.resolve(chain!.plugin.status().keyId === `${keyId}:${version2}`),
    );
    await chain.close();
    chain = await startChain(cfg);
    writeFileSync(manifests, secretsYaml(SECRETS / 2, SECRETS, values), { mode: 0o600 });
    await kubectl.ok(["create", "-f", manifests], { timeoutMs: 300_000 });
    rmSync(manifests);

    // The backup, taken while everything runs.
    const pass = join(dir, "pass");
    writeFileSync(pass, "a passphrase for the chain test\n", { mode: 0o600 });
    const backup = join(dir, "kms.backup");
    const b = await runAtrest(
      [
        "kms",
        "backup",
        "--data-dir",
        kmsDir,
        "--out",
        backup,
        "--passphrase-file",
        pass,
        "--insecure-low-kdf-cost",
        ...(first === undefined ? [] : ["--database", first]),
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(b.status, 0, b.stderr);

    // Disaster: the KMS data dir is gone (with PostgreSQL the database outlives it, but nothing in it
    // opens without the root key that went with the dir; the restore goes into a new database).
    await chain.close();
    chain = undefined;
    rmSync(kmsDir, { recursive: true, force: true });
    const r = await runAtrest(
      [
        "kms",
        "restore",
        "--from",
        backup,
        "--data-dir",
        kmsDir,
        "--passphrase-file",
        pass,
        ...(restored === undefined ? [] : ["--database", restored]),
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);

    chain = await startChain({ ...cfg, database: restored });
    const list = JSON.parse(
      await kubectl.ok(["get", "secrets", "--all-namespaces", "-o", "json"], { timeoutMs: 120_000 }),
    ) as { items: Array<{ metadata: { namespace: string; name: string }; data?: { value?: string } }> };
    const read = new Map(
      list.items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s.data?.value]),
    );
    let equal = 0;
    for (const [k, v] of values) if (read.get(k) === v) equal++;
    assert.equal(equal, SECRETS, "every Secret reads back with its value");
    // The values came through the restored KMS: its audit trail shows the Decrypts after the restore.
    const events = JSON.parse(
      (
        await runAtrest(
          [
            "kms",
            "events",
            "--data-dir",
            kmsDir,
            ...(restored === undefined ? [] : ["--database", restored]),
            "-o",
            "json",
          ],
          { timeoutMs: 60_000 },
        )
      ).stdout,
    ) as { events: Array<{ action: string; keyVersionId: string }> };
    const restoreAt = events.events.findIndex((e) => e.action === "RestoreFromBackup");
    assert.ok(restoreAt >= 0);
    const decrypts = events.events.slice(restoreAt).filter((e) => e.action === "Decrypt");
    assert.ok(
      new Set(decrypts.map((e) => e.keyVersionId)).size >= 2,
      "seeds of both key versions were decrypted by the restored KMS",
    );
    const audit = await runAtrest(
      [
        "kms",
        "verify-audit",
        "--data-dir",
        kmsDir,
        ...(restored === undefined ? [] : ["--database", restored]),
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(audit.status, 0, audit.stdout + audit.stderr);

    // The running apiserver's SQLite store, read directly: exported through the live plugin, and
    // checked against the backup alone — 500 Secrets under each key version.
    const sqlite = `sqlite://${join(dir, "apiserver.db")}`;
    const exported = await runAtrest(
      [
        "export",
        "--datastore-endpoint",
        sqlite,
        "--encryption-provider-config",
        join(dir, "encryption-config.yaml"),
        "--resource",
        "secrets",
        "--out",
        join(dir, "export.yaml"),
        "-o",
        "json",
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(exported.status, 0, exported.stderr);
    assert.deepEqual((JSON.parse(exported.stderr) as { byResource: unknown }).byResource, {
      secrets: SECRETS,
    });
    const verified = await runAtrest(
      [
        "verify-backup",
        "--datastore-endpoint",
        sqlite,
        "--kms-backup",
        backup,
        "--passphrase-file",
        pass,
        "-o",
        "json",
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    const byKeyId = (JSON.parse(verified.stdout) as { byKeyId: Record<string, { secrets: number }> }).byKeyId;
    assert.deepEqual(
      Object.values(byKeyId).map((t) => t.secrets),
      [SECRETS / 2, SECRETS / 2],
    );
    assert.ok(`${keyId}:${version2}` in byKeyId);
  } finally {
    await chain?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("1,000 Secrets survive the loss of the KMS data dir", { timeout: 900_000 }, () => {
  let postgres: TestPostgres | undefined;
  after(async () => {
    await postgres?.stop();
  });

  it("on SQLite", () => runScenario("sqlite", () => Promise.resolve({})));

  it("on PostgreSQL", () =>
    runScenario("postgres", async () => {
      postgres = await startTestPostgres();
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      await client.query("create database kms");
      await client.query("create database kms_restored");
      await client.end();
      const url = (db: string) => postgres!.url.replace(/\/postgres$/, `/${db}`);
      return { first: url("kms"), restored: url("kms_restored") };
    }));
});
