import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import { repoRoot, runAtrest, spawnAtrest } from "./support/cli.js";
import { eventually, IDENTITY, kmsV2, secretsConfig } from "./support/encryption-system.js";
import { freePort, startEtcd, type EtcdCluster } from "./support/etcd.js";
import { KUBECTL } from "./support/kubectl.js";
import { passphraseFile, startUpProcess, type UpProcess } from "./recovery-support.js";

// docs/runbook.md, run: each `sh runbook:<scenario>:<step>` block is executed by bash (set -euo
// pipefail) with `atrest` and `kubectl` on PATH and the runbook's variables set, after the test has
// caused the failure the scenario is about; then the cluster is checked. At the end every block of
// the runbook must have been run.

const RUNBOOK = join(repoRoot, "docs", "runbook.md");
const BLOCK = /^```sh runbook:([a-z-]+:[a-z-]+)\n([\s\S]*?)^```$/gm;

function runbookBlocks(): Map<string, string> {
  const text = readFileSync(RUNBOOK, "utf8");
  const blocks = new Map<string, string>();
  for (const m of text.matchAll(BLOCK)) {
    assert.equal(blocks.has(m[1]!), false, `block ${m[1]} appears twice`);
    blocks.set(m[1]!, m[2]!);
  }
  return blocks;
}

const blocks = runbookBlocks();
const ran = new Set<string>();
const scratch = mkdtempSync(join(tmpdir(), "atrest-runbook-"));
const bin = join(scratch, "bin");
mkdirSync(bin);
// `atrest` as the runbook's reader has it: the package's bin script (sources through tsx here).
writeFileSync(
  join(bin, "atrest"),
  `#!/bin/sh\nexec "${process.execPath}" "${join(repoRoot, "bin", "atrest.js")}" "$@"\n`,
);
chmodSync(join(bin, "atrest"), 0o755);
writeFileSync(
  join(bin, "kubectl"),
  `#!/bin/sh\nexec "${KUBECTL}" --cache-dir "${join(scratch, "kubectl-cache")}" "$@"\n`,
);
chmodSync(join(bin, "kubectl"), 0o755);

interface BlockRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one runbook block with bash; `env` holds the runbook's variables. */
function runBlock(name: string, env: Record<string, string>): Promise<BlockRun> {
  const script = blocks.get(name);
  assert.ok(script !== undefined, `docs/runbook.md has no block runbook:${name}`);
  ran.add(name);
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
      cwd: scratch,
      env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH ?? ""}`, ATREST_FROM_SOURCE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

async function runOk(name: string, env: Record<string, string>): Promise<BlockRun> {
  const r = await runBlock(name, env);
  assert.equal(r.status, 0, `runbook:${name} exited ${String(r.status)}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Runs a verify block until it passes (the plugin and apiserver notice a fix at their next check). */
async function verifyEventually(name: string, env: Record<string, string>): Promise<void> {
  let last: BlockRun | undefined;
  await eventually(
    `runbook:${name} to pass${last === undefined ? "" : ` (last: ${last.stderr})`}`,
    async () => {
      last = await runBlock(name, env);
      return last.status === 0;
    },
    120_000,
    1_000,
  );
}

async function kubectl(env: Record<string, string>, args: string[]): Promise<BlockRun> {
  return runBlockLike(`kubectl ${args.map((a) => `'${a}'`).join(" ")}`, env);
}

function runBlockLike(script: string, env: Record<string, string>): Promise<BlockRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
      cwd: scratch,
      env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH ?? ""}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

async function secretValues(env: Record<string, string>, kubeconfig?: string): Promise<Map<string, string>> {
  const r = await kubectl(env, [
    ...(kubeconfig === undefined ? [] : ["--kubeconfig", kubeconfig]),
    "get",
    "secrets",
    "--all-namespaces",
    "-o",
    "json",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout) as {
    items: Array<{ metadata: { namespace: string; name: string }; data?: Record<string, string> }>;
  };
  return new Map(
    list.items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, JSON.stringify(s.data ?? {})]),
  );
}

async function createSecrets(env: Record<string, string>, n: number): Promise<void> {
  const docs = Array.from(
    { length: n },
    (_, i) =>
      `apiVersion: v1\nkind: Secret\nmetadata: {name: app-${i}, namespace: default}\nstringData: {password: "${randomBytes(9).toString("hex")}"}\n`,
  );
  const f = join(scratch, `secrets-${randomBytes(3).toString("hex")}.yaml`);
  writeFileSync(f, docs.join("---\n"), { mode: 0o600 });
  const r = await kubectl(env, ["create", "-f", f]);
  rmSync(f);
  assert.equal(r.status, 0, r.stderr);
}

after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe(
  "runbook on a kubeadm-style deployment: KMS, a plugin with its own principal, the apiserver",
  { timeout: 600_000 },
  () => {
    let kms: KmsServer;
    let apiserver: ApiServer;
    let store: SqliteStore;
    let plugin: ChildProcess | undefined;
    let env: Record<string, string>;
    let pluginArgs: string[];
    let before_: Map<string, string>;
    const dir = join(scratch, "deploy");

    async function startPluginProcess(): Promise<void> {
      const child = spawnAtrest(pluginArgs, { env: { ATREST_LOG_LEVEL: "error" } });
      plugin = child;
      await eventually("the plugin to listen", async () => {
        try {
          await fetch(`${env.PLUGIN_HEALTH_URL}/livez`);
          return true;
        } catch {
          return child.exitCode === null ? false : assert.fail(`the plugin exited ${String(child.exitCode)}`);
        }
      });
    }

    async function stopPluginProcess(): Promise<void> {
      const child = plugin;
      if (child === undefined || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }

    async function admin(args: string[]): Promise<Record<string, unknown>> {
      const r = await runAtrest(["kms", ...args, "--profile", env.PROFILE!, "-o", "json"], {
        timeoutMs: 60_000,
      });
      assert.equal(r.status, 0, `atrest kms ${args.join(" ")}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    }

    const unhealthy = (what: string) =>
      eventually(
        what,
        async () => (await kubectl(env, ["get", "--raw", "/readyz/kms-providers"])).status !== 0,
        90_000,
        1_000,
      );

    before(async () => {
      mkdirSync(dir);
      const kmsDir = join(dir, "kms");
      await initKmsDataDir({ dataDir: kmsDir });
      kms = await startKmsServer({
        dataDir: kmsDir,
        listen: `127.0.0.1:${await freePort()}`,
        schedulerIntervalMs: 0,
        cacheTtlMs: 0,
      });
      const creds = JSON.parse(readFileSync(join(kmsDir, "credentials.json"), "utf8")) as Record<
        string,
        string
      >;
      const profile = join(dir, "admin-profile.json");
      writeFileSync(
        profile,
        JSON.stringify({
          endpoint: kms.url,
          regionId: "cn-hangzhou",
          ...creds,
          caFile: join(kmsDir, "tls", "ca.crt"),
        }),
        { mode: 0o600 },
      );
      env = {
        KMS_DIR: kmsDir,
        PROFILE: profile,
        PLUGIN_PRINCIPAL: "kms-plugin",
        PLUGIN_CREDENTIALS: join(dir, "plugin-credentials.json"),
      };
      const key = (await admin(["create-key"])).KeyMetadata as Record<string, string>;
      env.KEY_ID = key.KeyId!;
      // The plugin's own principal, as deploy/README.md sets it up.
      await admin(["create-principal", "--principal-name", "kms-plugin"]);
      await admin([
        "attach-policy",
        "--policy-name",
        "AliyunKMSCryptoUserAccess",
        "--principal-name",
        "kms-plugin",
      ]);
      const ak = await admin(["create-access-key", "--principal-name", "kms-plugin"]);
      writeFileSync(
        env.PLUGIN_CREDENTIALS!,
        JSON.stringify({ accessKeyId: ak.AccessKeyId, accessKeySecret: ak.AccessKeySecret }),
        { mode: 0o600 },
      );
      const socket = join(dir, "kms.sock");
      env.PLUGIN_HEALTH_URL = `http://127.0.0.1:${await freePort()}`;
      pluginArgs = [
        "plugin",
        "--listen",
        `unix://${socket}`,
        "--kms-endpoint",
        kms.url,
        "--region",
        "cn-hangzhou",
        "--key-id",
        env.KEY_ID,
        "--credentials-file",
        env.PLUGIN_CREDENTIALS!,
        "--ca-file",
        join(kmsDir, "tls", "ca.crt"),
        "--status-refresh",
        "1s",
        "--health-listen",
        env.PLUGIN_HEALTH_URL.replace("http://", ""),
      ];
      await startPluginProcess();
      await eventually(
        "the plugin to be healthy",
        async () => (await fetch(`${env.PLUGIN_HEALTH_URL}/healthz`)).ok,
      );
      env.ENCRYPTION_CONFIG = join(dir, "encryption-config.yaml");
      writeFileSync(env.ENCRYPTION_CONFIG, secretsConfig([kmsV2(`unix://${socket}`), IDENTITY]));
      store = new SqliteStore({ path: join(dir, "apiserver.db") });
      env.KUBECONFIG = join(dir, "kubeconfig");
      apiserver = await startApiServer({
        store,
        storeCheckName: "datastore",
        dataDir: join(dir, "apiserver"),
        securePort: 0,
        kubeconfigOut: env.KUBECONFIG,
        encryptionProviderConfig: env.ENCRYPTION_CONFIG,
        encryptionProviderConfigAutomaticReload: true,
      });
      await createSecrets(env, 5);
      before_ = await secretValues(env);
    });

    after(async () => {
      await stopPluginProcess();
      await apiserver?.close();
      await store?.close();
      await kms?.close();
    });

    it("1. key disabled by mistake", async () => {
      await admin(["disable-key", "--key-id", env.KEY_ID!]);
      await unhealthy("the apiserver to see the KMS provider fail");
      const d = await runOk("key-disabled:diagnose", env);
      assert.match(d.stdout, /KeyState: Disabled/);
      assert.match(d.stdout, /DisableKey Allowed principal=admin key=/);
      await runOk("key-disabled:fix", env);
      await verifyEventually("key-disabled:verify", env);
      assert.deepEqual(await secretValues(env), before_);
    });

    it("2. key pending deletion", async () => {
      await admin(["schedule-key-deletion", "--key-id", env.KEY_ID!, "--pending-window-in-days", "7"]);
      await unhealthy("the apiserver to see the KMS provider fail");
      const d = await runOk("key-pending-deletion:diagnose", env);
      assert.match(d.stdout, /KeyState: PendingDeletion/);
      assert.match(d.stdout, /DeleteDate: \d{4}-/);
      assert.match(d.stdout, /ScheduleKeyDeletion Allowed/);
      await runOk("key-pending-deletion:fix", env);
      await verifyEventually("key-pending-deletion:verify", env);
      // The second mistake is now refused.
      const again = await runAtrest(
        [
          "kms",
          "schedule-key-deletion",
          "--key-id",
          env.KEY_ID!,
          "--pending-window-in-days",
          "7",
          "--profile",
          env.PROFILE!,
        ],
        { timeoutMs: 60_000 },
      );
      assert.notEqual(again.status, 0);
      assert.deepEqual(await secretValues(env), before_);
    });

    it("4. plugin credentials revoked", async () => {
      const old = JSON.parse(readFileSync(env.PLUGIN_CREDENTIALS!, "utf8")) as { accessKeyId: string };
      await admin(["delete-access-key", "--user-access-key-id", old.accessKeyId]);
      await unhealthy("the apiserver to see the KMS provider fail");
      const d = await runOk("plugin-credentials:diagnose", env);
      assert.match(d.stdout, /InvalidAccessKeyId/);
      assert.match(d.stdout, /DeleteAccessKey Allowed principal=admin/);
      await runOk("plugin-credentials:fix", env);
      const fresh = JSON.parse(readFileSync(env.PLUGIN_CREDENTIALS!, "utf8")) as { accessKeyId: string };
      assert.notEqual(fresh.accessKeyId, old.accessKeyId);
      assert.equal((await import("node:fs")).statSync(env.PLUGIN_CREDENTIALS!).mode & 0o077, 0);
      await stopPluginProcess();
      await startPluginProcess();
      await verifyEventually("plugin-credentials:verify", env);
      assert.deepEqual(await secretValues(env), before_);
    });
  },
);

describe(
  "runbook on atrest up with etcd: backups, the KMS data dir lost, the cluster lost",
  { timeout: 900_000 },
  () => {
    let etcd: EtcdCluster;
    let up: UpProcess | undefined;
    let newUp: UpProcess | undefined;
    let env: Record<string, string>;
    let original: Map<string, string>;
    const dir = join(scratch, "up");
    const dataDir = join(dir, "cluster");

    before(async () => {
      mkdirSync(dir);
      etcd = await startEtcd();
      up = await startUpProcess(dataDir, ["--etcd-servers", etcd.endpoints[0]!]);
      env = {
        KMS_DIR: join(dataDir, "kms"),
        PROFILE: up.ready.kmsProfile,
        KEY_ID: up.ready.keyId,
        KUBECONFIG: up.ready.kubeconfig,
        ENCRYPTION_CONFIG: up.ready.encryptionConfig,
        BACKUP: join(dir, "kms.backup"),
        PASSPHRASE_FILE: passphraseFile(dir),
        ETCDCTL_API: "3",
        ETCDCTL_ENDPOINTS: etcd.endpoints[0]!,
        SNAPSHOT: join(dir, "etcd.snapshot"),
        EXPORT: join(dir, "cluster-export.yaml"),
        NEW_DATA_DIR: join(dir, "new-cluster"),
        NEW_KUBECONFIG: join(dir, "new-cluster", "kubeconfig"),
      };
      await createSecrets(env, 8);
      original = await secretValues(env);
      await runOk("prepare:kms-backup", env);
      const v = await runOk("prepare:etcd-snapshot", env);
      assert.match(v.stdout, / 8 decrypted, 0 stored in plaintext, 0 failed/);
    });

    after(async () => {
      await up?.stop();
      await newUp?.stop();
      await etcd?.stop();
    });

    it("3. KMS data dir lost", async () => {
      await up!.stop();
      rmSync(env.KMS_DIR!, { recursive: true, force: true });
      const r = await runOk("kms-dir-lost:restore", env);
      assert.match(r.stdout, /restored into .* \(sqlite\)/);
      up = await startUpProcess(dataDir, ["--etcd-servers", etcd.endpoints[0]!]);
      assert.equal(up.ready.keyId, env.KEY_ID, "the same key, not a new one");
      const v = await runOk("kms-dir-lost:verify", { ...env, PROFILE: up.ready.kmsProfile });
      assert.match(v.stdout, /audit chain OK/);
      assert.match(v.stdout, /RestoreFromBackup Allowed/);
      assert.deepEqual(await secretValues(env), original);
    });

    it("5. cluster lost: snapshot → new cluster", async () => {
      await up!.stop();
      up = undefined;
      await etcd.stop(); // its data dir goes with it
      rmSync(dataDir, { recursive: true, force: true }); // the KMS too: only the snapshot and the backup are left
      const check = await runOk("cluster-lost:check", env);
      assert.match(check.stdout, / 8 decrypted, 0 stored in plaintext, 0 failed/);
      await runOk("cluster-lost:export", env);
      assert.equal((await import("node:fs")).statSync(env.EXPORT!).mode & 0o777, 0o600);
      newUp = await startUpProcess(env.NEW_DATA_DIR!);
      assert.equal(newUp.ready.kubeconfig, env.NEW_KUBECONFIG);
      await runOk("cluster-lost:apply", env);
      assert.equal(existsSync(env.EXPORT!), false, "the export is removed after the apply");
      const v = await runOk("cluster-lost:verify", env);
      assert.match(v.stdout, /app-7/);
      assert.deepEqual(await secretValues(env, env.NEW_KUBECONFIG), original);
    });

    it("every block of the runbook was run", () => {
      assert.deepEqual(
        [...blocks.keys()].filter((b) => !ran.has(b)),
        [],
      );
    });
  },
);
