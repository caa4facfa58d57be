/**
 * `npm run bench -- recovery`: how fast recovery reads a cluster. 10,000 Secrets (1 KiB each, as JSON
 * objects) are written into a real etcd through the real KMS v2 envelope, the atrest plugin (in
 * process, unix socket) and atrest kms (in process, HTTPS) — the bytes an apiserver would store.
 * Then, in interleaved rounds, in this one process:
 *
 * - baseline: `etcdctl get --prefix /registry/secrets/` (the real etcdctl, output to a pipe), and a
 *   plain paginated list of the same keys through the EtcdStore recovery reads with;
 * - export: every Secret decrypted, decoded, stripped and rendered as YAML (the `atrest export` loop),
 *   with KMS access through the plugin, and through a KMS backup instead;
 * - verify-backup: every Secret decrypted with the backup's key material and decoded.
 *
 * Once: an etcd snapshot of the same data restored into a temporary member (etcdctl snapshot restore
 * + start), and verify-backup on it. Rates are Secrets/s (medians over the rounds).
 * Sizes: BENCH_RECOVERY_COUNT (default 10000), BENCH_RECOVERY_ROUNDS (3).
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildEncryptionState } from "../src/encryption-config/build.js";
import { grpcKmsClients } from "../src/encryption-config/grpc-clients.js";
import { loadEncryptionConfigurationFile } from "../src/encryption-config/load.js";
import { contextForKey } from "../src/envelope/transformer.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "../test/support/kms-rpc-test-client.js";
import { startKmsServer } from "../src/kms/server.js";
import { startPlugin } from "../src/plugin/plugin.js";
import { readBackupSecret } from "../src/recovery/backup-key.js";
import { BackupKeyring } from "../src/recovery/backup-keyring.js";
import { unlockBackup } from "../src/recovery/backup-reader.js";
import { openEtcdSnapshot } from "../src/recovery/etcd-snapshot.js";
import { exportObjects } from "../src/recovery/export.js";
import { keyringPlugin } from "../src/recovery/keyring-plugin.js";
import { backupKms } from "../src/recovery/kms-backup.js";
import { listAtRevision } from "../src/recovery/object-source.js";
import {
  backupOnlyValueReader,
  configuredValueReader,
  type ValueReader,
} from "../src/recovery/value-reader.js";
import { verifyBackup } from "../src/recovery/verify-backup.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import type { Store } from "../src/storage/store.js";
import { startEtcd } from "../test/support/etcd.js";
import { median, pool, secretJson } from "./support-api.js";

const COUNT = Number(process.env.BENCH_RECOVERY_COUNT ?? 10_000);
const ROUNDS = Number(process.env.BENCH_RECOVERY_ROUNDS ?? 3);
const execFileAsync = promisify(execFile);

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** `etcdctl get --prefix` into a pipe; resolves to [seconds, bytes read]. */
function etcdctlGetPrefix(endpoint: string, prefix: string): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn("etcdctl", ["--endpoints", endpoint, "get", "--prefix", prefix], {
      env: { ...process.env, ETCDCTL_API: "3" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let bytes = 0;
    let err = "";
    child.stdout.on("data", (c: Buffer) => (bytes += c.length));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve([seconds(started), bytes])
        : reject(new Error(`etcdctl exited ${String(code)}: ${err}`)),
    );
  });
}

async function listOnly(store: Store): Promise<number> {
  const revision = await store.currentRevision();
  let n = 0;
  for await (const kv of listAtRevision(store, "/registry/secrets/", revision)) if (kv.value.length > 0) n++;
  return n;
}

async function exportAll(store: Store, reader: ValueReader): Promise<{ objects: number; yamlBytes: number }> {
  let yamlBytes = 0;
  const r = await exportObjects({ store, reader, resources: ["secrets"] }, (doc) => {
    yamlBytes += doc.length;
  });
  return { objects: r.objects, yamlBytes };
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-recovery-"));
  const etcd = await startEtcd();
  const kmsDir = join(dir, "kms");
  await initKmsDataDir({ dataDir: kmsDir });
  const kms = await startKmsServer({ dataDir: kmsDir, schedulerIntervalMs: 0 });
  const creds = JSON.parse(readFileSync(join(kmsDir, "credentials.json"), "utf8")) as {
    accessKeyId: string;
    accessKeySecret: string;
  };
  const admin = new KmsRpcTestClient({ url: kms.url, ...creds, caCertPem: kms.caCertPem });
  const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
  admin.close();
  const socket = join(dir, "kms.sock");
  const plugin = await startPlugin({
    listen: `unix://${socket}`,
    backend: {
      kind: "alibaba",
      endpoint: kms.url,
      regionId: "cn-hangzhou",
      keyId,
      credentials: creds,
      caPem: readFileSync(join(kmsDir, "tls", "ca.crt"), "utf8"),
    },
  });
  const configFile = join(dir, "encryption-config.yaml");
  writeFileSync(
    configFile,
    [
      "apiVersion: apiserver.config.k8s.io/v1",
      "kind: EncryptionConfiguration",
      "resources:",
      "  - resources: [secrets]",
      "    providers:",
      `      - kms: {apiVersion: v2, name: bench, endpoint: "unix://${socket}", timeout: 5s}`,
      "      - identity: {}",
      "",
    ].join("\n"),
  );
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  const readers: ValueReader[] = [];
  let keyring: BackupKeyring | undefined;
  try {
    // The data, as an apiserver would write it.
    const { config } = await loadEncryptionConfigurationFile(configFile);
    const writer = await buildEncryptionState(config, {
      clients: grpcKmsClients,
      background: false,
    });
    const transformer = writer.transformerFor("secrets");
    const writeSeconds = await pool(0, COUNT, 32, async (i) => {
      const key = `/registry/secrets/default/s${i}`;
      await store.create(
        key,
        await transformer.transformToStorage(Buffer.from(secretJson(i)), contextForKey(key)),
      );
    });
    writer.close();

    const passFile = join(dir, "pass");
    writeFileSync(passFile, "benchmark backup passphrase\n", { mode: 0o600 });
    const secret = readBackupSecret({ passphraseFile: passFile });
    const backupFile = join(dir, "kms.backup");
    let t = process.hrtime.bigint();
    await backupKms({ dataDir: kmsDir, out: backupFile, secret, insecureLowKdfCost: true });
    const backupSeconds = seconds(t);
    const { opened, encryptionKey } = await unlockBackup(backupFile, secret);
    keyring = await BackupKeyring.load(opened, encryptionKey);
    const backupClients = keyringPlugin(keyring).clients;
    const viaPlugin = await configuredValueReader(config, grpcKmsClients, { livePlugins: true });
    const viaBackup = await backupOnlyValueReader(backupClients);
    readers.push(viaPlugin, viaBackup);

    const samples: Record<string, number[]> = {
      etcdctlGetPrefix: [],
      storeList: [],
      exportViaPlugin: [],
      exportViaBackup: [],
      verifyBackup: [],
    };
    let etcdctlBytes = 0;
    let yamlBytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const [s, bytes] = await etcdctlGetPrefix(etcd.endpoints[0]!, "/registry/secrets/");
      etcdctlBytes = bytes;
      samples.etcdctlGetPrefix!.push(COUNT / s);
      t = process.hrtime.bigint();
      if ((await listOnly(store)) !== COUNT) throw new Error("list saw the wrong count");
      samples.storeList!.push(COUNT / seconds(t));
      for (const [name, reader] of [
        ["exportViaPlugin", viaPlugin],
        ["exportViaBackup", viaBackup],
      ] as const) {
        t = process.hrtime.bigint();
        const r = await exportAll(store, reader);
        if (r.objects !== COUNT) throw new Error(`${name} exported ${r.objects}`);
        yamlBytes = r.yamlBytes;
        samples[name]!.push(COUNT / seconds(t));
      }
      t = process.hrtime.bigint();
      const v = await verifyBackup({
        store,
        reader: viaBackup,
        keyring,
        backup: { id: opened.header.backupId, createdAt: opened.header.createdAt },
      });
      if (v.decrypted !== COUNT) throw new Error(`verify-backup decrypted ${v.decrypted}`);
      samples.verifyBackup!.push(COUNT / seconds(t));
    }

    // An etcd snapshot of the same data: restore + temporary member, then verify-backup on it.
    const snapshotFile = join(dir, "etcd.snapshot");
    await execFileAsync("etcdctl", ["--endpoints", etcd.endpoints[0]!, "snapshot", "save", snapshotFile], {
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    t = process.hrtime.bigint();
    const member = await openEtcdSnapshot(snapshotFile);
    const openSeconds = seconds(t);
    let snapshotVerify: number;
    try {
      t = process.hrtime.bigint();
      const v = await verifyBackup({
        store: member.store,
        reader: viaBackup,
        keyring,
        backup: { id: opened.header.backupId, createdAt: opened.header.createdAt },
      });
      if (v.decrypted !== COUNT) throw new Error(`verify-backup on the snapshot decrypted ${v.decrypted}`);
      snapshotVerify = COUNT / seconds(t);
    } finally {
      await member.close();
    }

    const rate = (k: string) => Math.round(median(samples[k]!));
    const baseline = rate("etcdctlGetPrefix");
    return {
      secrets: COUNT,
      rounds: ROUNDS,
      setup: {
        writeSecretsPerSecond: Math.round(COUNT / writeSeconds),
        kmsBackupSeconds: Number(backupSeconds.toFixed(3)),
        etcdctlOutputBytes: etcdctlBytes,
        exportYamlBytes: yamlBytes,
      },
      secretsPerSecond: {
        baselineEtcdctlGetPrefix: baseline,
        baselineStoreList: rate("storeList"),
        exportViaPlugin: rate("exportViaPlugin"),
        exportViaBackup: rate("exportViaBackup"),
        verifyBackup: rate("verifyBackup"),
        verifyBackupOnSnapshotMember: Math.round(snapshotVerify),
      },
      relativeToEtcdctl: {
        exportViaPlugin: Number((rate("exportViaPlugin") / baseline).toFixed(2)),
        exportViaBackup: Number((rate("exportViaBackup") / baseline).toFixed(2)),
        verifyBackup: Number((rate("verifyBackup") / baseline).toFixed(2)),
      },
      snapshotRestoreAndStartSeconds: Number(openSeconds.toFixed(3)),
    };
  } finally {
    for (const r of readers) r.close();
    keyring?.close();
    await store.close();
    await plugin.close({ graceMs: 500 });
    await kms.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
