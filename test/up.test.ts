/**
 * `atrest up` as a user runs it: the real CLI as a child process, the real kubectl against it, the
 * stored bytes read straight from the SQLite file, a clean SIGINT stop and a second start on the same
 * data dir that finds the same key, Secrets, token and certificates. Then the bad inputs.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Etcd3 } from "etcd3";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { etcdBinary, startEtcd } from "./support/etcd.js";
import { Kubectl } from "./support/kubectl.js";

interface Ready {
  msg: string;
  dataDir: string;
  kubeconfig: string;
  apiserverUrl: string;
  kmsEndpoint: string;
  identityEndpoint: string;
  pluginRoleArn: string;
  pluginRoleSessionName: string;
  kmsProfile: string;
  pluginSocket: string;
  keyId: string;
  keyAlias: string;
  keyCreated: boolean;
  encryptionConfig: string;
  store: string;
  clusterFile: string;
}

const ENV = { ATREST_FROM_SOURCE: "1", ATREST_LOG_LEVEL: "warn" };
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

const root = mkdtempSync(join(tmpdir(), "atrest-up-"));
const children = new Set<ChildProcess>();
const servers: Server[] = [];

after(() => {
  for (const c of children) c.kill("SIGKILL");
  for (const s of servers) s.close();
  rmSync(root, { recursive: true, force: true });
});

/** Starts `atrest up -o json` and resolves with its ready line (rejects with stderr if it exits first). */
async function startUp(
  dataDir: string,
  extraArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; ready: Ready; stderr: () => string }> {
  const args = ["up", "--data-dir", dataDir, "--secure-port", "0", "-o", "json", ...extraArgs];
  const child = spawnAtrest(args, { env: ENV });
  children.add(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line in time; stderr: ${err}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.includes('"atrest up ready"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Ready);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`atrest up exited ${String(code)} before it was ready: ${err}`));
    });
  });
  return { child, ready, stderr: () => err };
}

/** SIGINT, then the exit status (SIGKILL and fail if it does not stop in time). */
async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
    children.delete(child);
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** The newest stored value of a key, read from the apiserver's SQLite file (read-only). */
function storedValue(dbFile: string, key: string): Buffer {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare("SELECT value FROM atrest_kv WHERE CAST(name AS TEXT) = ? ORDER BY id DESC LIMIT 1")
      .get(key) as { value: Buffer | null } | undefined;
    assert.ok(row?.value, `${key} is stored`);
    return row.value;
  } finally {
    db.close();
  }
}

/** The lines of stderr a person reads (the JSON log lines aside). */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("{"));
}

async function busyPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

describe("atrest up", { timeout: 300_000 }, () => {
  it("runs kms, plugin and apiserver; Secrets are stored KMS v2-encrypted; a second start reuses all data", async () => {
    const dataDir = join(root, "data");
    const marker = `up-marker-${randomBytes(12).toString("hex")}`;
    const first = await startUp(dataDir);
    const r1 = first.ready;
    assert.equal(r1.dataDir, dataDir);
    assert.match(r1.apiserverUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(r1.kmsEndpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(r1.identityEndpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(r1.pluginSocket, join(dataDir, "kms-plugin.sock"));
    assert.equal(r1.kubeconfig, join(dataDir, "kubeconfig"));
    assert.equal(r1.keyCreated, true);
    assert.equal(r1.keyAlias, "alias/atrest-up");
    assert.ok(r1.keyId.length > 0);
    assert.equal(statSync(r1.kmsProfile).mode & 0o777, 0o600);
    const config = readFileSync(r1.encryptionConfig, "utf8");
    assert.match(config, /apiVersion: v2/);
    assert.ok(config.includes(`unix://${r1.pluginSocket}`));

    // The key, seen through the KMS's own API with the profile `up` wrote.
    const described = await runAtrest(
      ["kms", "describe-key", "--profile", r1.kmsProfile, "--key-id", r1.keyAlias, "-o", "json"],
      { env: ENV },
    );
    assert.equal(described.status, 0, described.stderr);
    const md = (JSON.parse(described.stdout) as { KeyMetadata: Record<string, unknown> }).KeyMetadata;
    assert.equal(md["KeyId"], r1.keyId);
    assert.equal(md["KeyState"], "Enabled");
    assert.equal(md["KeySpec"], "Aliyun_AES_256");
    assert.equal(md["ProtectionLevel"], "SOFTWARE");
    // Protected as a cluster's key from the start: up's cluster writes with it.
    assert.equal(md["DeletionProtection"], "Enabled");
    const disable = await runAtrest(
      ["kms", "disable-key", "--profile", r1.kmsProfile, "--key-id", r1.keyId],
      {
        env: ENV,
      },
    );
    assert.notEqual(disable.status, 0);
    assert.match(disable.stderr, /KeyInUse[\s\S]*atrest-up/);

    const kc = new Kubectl(r1.kubeconfig, { cacheDir: join(root, "kubectl-cache-1") });
    await kc.ok(["create", "secret", "generic", "up-secret", `--from-literal=token=${marker}`]);
    const got = await kc.ok(["get", "secret", "up-secret", "-o", "jsonpath={.data.token}"]);
    assert.equal(Buffer.from(got, "base64").toString(), marker);

    // RBAC decides: up's admin is in system:masters, anyone else holds only what is bound, here ACK's
    // developer role (cs:dev) in one namespace.
    const canI = async (args: string[]): Promise<string> =>
      (await kc.run(["auth", "can-i", ...args])).stdout.trim();
    assert.equal(await canI(["*", "*"]), "yes");
    assert.equal(await canI(["--as=dev-user", "get", "secrets", "-n", "default"]), "no");
    assert.match(
      await kc.ok(["get", "clusterroles"]),
      /^cs:admin\s[\s\S]*^cs:dev\s[\s\S]*^cs:ops\s[\s\S]*^cs:restricted\s/m,
    );
    await kc.ok([
      "create",
      "rolebinding",
      "dev-user-cs:dev-rolebinding",
      "--clusterrole=cs:dev",
      "--user=dev-user",
    ]);
    assert.equal(await canI(["--as=dev-user", "get", "secrets", "-n", "default"]), "yes");
    assert.equal(await canI(["--as=dev-user", "get", "secrets", "-n", "kube-system"]), "no");
    assert.equal(await canI(["--as=dev-user", "create", "clusterroles"]), "no");

    // The cluster file `up` wrote: `atrest encryption status` works on it right away.
    assert.equal(r1.clusterFile, join(dataDir, "cluster.yaml"));
    const status = await runAtrest(["encryption", "status", "--cluster", r1.clusterFile, "-o", "json"], {
      env: ENV,
    });
    assert.equal(status.status, 0, status.stderr);
    const s = JSON.parse(status.stdout) as {
      phase: string;
      operation: unknown;
      conditions: Array<{ reason: string }>;
      resources: Record<string, { writer: string; total: number; underWriter: number }>;
      apiservers: Array<{ url: string; converged: boolean; healthy: boolean; loadedConfigHash: string }>;
      key: { id: string; state: string } | null;
    };
    assert.equal(s.phase, "Running");
    assert.equal(s.operation, null);
    assert.equal(s.conditions[0]?.reason, "EncryptionCompleted");
    assert.equal(s.resources["secrets"]?.writer, "kms:v2:atrest");
    assert.equal(s.resources["secrets"]?.total, 1);
    assert.equal(s.resources["secrets"]?.underWriter, 1);
    assert.deepEqual(
      s.apiservers.map((a) => [a.url, a.converged, a.healthy]),
      [[r1.apiserverUrl, true, true]],
    );
    assert.match(s.apiservers[0]!.loadedConfigHash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(s.key?.id, r1.keyId);
    assert.equal(s.key?.state, "Enabled");

    const tokensBefore = readFileSync(join(dataDir, "apiserver", "tokens.csv"), "utf8");
    const kubeconfigBefore = readFileSync(r1.kubeconfig, "utf8");
    const keyFileBefore = readFileSync(join(dataDir, "kms-key.json"), "utf8");
    assert.equal(await stop(first.child), 0, first.stderr());
    assert.ok(!existsSync(r1.pluginSocket), "the plugin removed its socket");

    // At rest: KMS v2 through the `atrest` provider, and the marker in no file (plain or base64).
    const stored = storedValue(join(dataDir, "apiserver.db"), "/registry/secrets/default/up-secret");
    assert.equal(stored.subarray(0, 22).toString(), "k8s:enc:kms:v2:atrest:");
    const base64Marker = Buffer.from(marker).toString("base64");
    for (const file of filesUnder(dataDir)) {
      const bytes = readFileSync(file);
      assert.ok(!bytes.includes(marker), `no plaintext marker in ${file}`);
      assert.ok(!bytes.includes(base64Marker), `no base64 marker in ${file}`);
    }

    // The plugin ran as ACK's service role (quick-authorized at first start), its session named after
    // the cluster, on STS credentials; the key it keeps only assumes the role.
    const pluginCredsFile = join(dataDir, "kms-plugin-credentials.json");
    assert.equal(statSync(pluginCredsFile).mode & 0o777, 0o600);
    const pluginCreds = JSON.parse(readFileSync(pluginCredsFile, "utf8")) as { accessKeyId: string };
    const adminCreds = JSON.parse(readFileSync(join(dataDir, "kms", "credentials.json"), "utf8")) as {
      accessKeyId: string;
    };
    assert.notEqual(pluginCreds.accessKeyId, adminCreds.accessKeyId);
    assert.equal(
      r1.pluginRoleArn,
      `acs:ram::${/acs:ram::(\d+):/.exec(r1.pluginRoleArn)?.[1]}:role/AliyunCSManagedSecurityRole`,
    );
    const crypto = await runAtrest(
      ["kms", "events", "--data-dir", join(dataDir, "kms"), "--key-id", r1.keyId, "-o", "json"],
      { env: ENV },
    );
    assert.equal(crypto.status, 0, crypto.stderr);
    const cryptoEvents = (
      JSON.parse(crypto.stdout) as {
        events: {
          action: string;
          principal: string;
          accessKeyId: string;
          identityType: string;
          userName: string;
        }[];
      }
    ).events.filter((e) => e.action === "Encrypt" || e.action === "Decrypt");
    assert.ok(cryptoEvents.length >= 2, "the plugin's status probe and the Secret's seed were audited");
    for (const e of cryptoEvents) {
      assert.equal(e.principal, "AliyunCSManagedSecurityRole", JSON.stringify(e));
      assert.equal(e.identityType, "assumed-role", JSON.stringify(e));
      assert.equal(e.userName, `AliyunCSManagedSecurityRole:${r1.pluginRoleSessionName}`);
      assert.match(e.accessKeyId, /^STS\./);
    }

    // Second start: same key, same token and CA, the Secret still reads.
    const second = await startUp(dataDir);
    const r2 = second.ready;
    assert.equal(r2.keyId, r1.keyId);
    assert.equal(r2.keyCreated, false);
    assert.equal(readFileSync(join(dataDir, "kms-key.json"), "utf8"), keyFileBefore);
    assert.equal(readFileSync(join(dataDir, "apiserver", "tokens.csv"), "utf8"), tokensBefore);
    const caOf = (kubeconfig: string) => /certificate-authority-data: (\S+)/.exec(kubeconfig)?.[1];
    assert.equal(caOf(readFileSync(r2.kubeconfig, "utf8")), caOf(kubeconfigBefore));
    assert.equal(readFileSync(r2.encryptionConfig, "utf8"), config);
    const kc2 = new Kubectl(r2.kubeconfig, { cacheDir: join(root, "kubectl-cache-2") });
    const again = await kc2.ok(["get", "secret", "up-secret", "-o", "jsonpath={.data.token}"]);
    assert.equal(Buffer.from(again, "base64").toString(), marker);
    const keys = await runAtrest(["kms", "list-keys", "--profile", r2.kmsProfile, "-o", "json"], {
      env: ENV,
    });
    assert.equal(keys.status, 0, keys.stderr);
    const listed = (JSON.parse(keys.stdout) as { Keys: { Key: { KeyId: string }[] } }).Keys.Key;
    assert.deepEqual(
      listed.map((k) => k.KeyId),
      [r1.keyId],
      "no second key was created",
    );
    // The service key was reused, and on the KMS it can do nothing at all: only assume the role.
    assert.equal(
      (JSON.parse(readFileSync(pluginCredsFile, "utf8")) as { accessKeyId: string }).accessKeyId,
      pluginCreds.accessKeyId,
    );
    const pluginProfile = join(root, "plugin-profile.json");
    writeFileSync(
      pluginProfile,
      JSON.stringify({
        ...(JSON.parse(readFileSync(r2.kmsProfile, "utf8")) as object),
        ...(JSON.parse(readFileSync(pluginCredsFile, "utf8")) as object),
      }),
      { mode: 0o600 },
    );
    const asPlugin = (args: string[]) =>
      runAtrest(["kms", ...args, "--profile", pluginProfile, "-o", "json"], { env: ENV });
    for (const denied of [
      ["describe-key", "--key-id", r1.keyId],
      ["create-key"],
      ["list-keys"],
      ["disable-key", "--key-id", r1.keyId],
    ]) {
      const r = await asPlugin(denied);
      assert.notEqual(r.status, 0, denied.join(" "));
      assert.match(r.stderr, /Forbidden\.RAM/, denied.join(" "));
    }
    // The seed documents' check, with the profile up wrote: the role's Encrypt/Decrypt events exist.
    const lookedUp = await runAtrest(
      [
        "events",
        "--profile",
        r2.kmsProfile,
        "--user",
        "aliyuncsmanagedsecurityrole",
        "--event-name",
        "Decrypt",
        "-o",
        "json",
      ],
      { env: ENV },
    );
    assert.equal(lookedUp.status, 0, lookedUp.stderr);
    const found = (
      JSON.parse(lookedUp.stdout) as { Events: { userIdentity: { type: string; userName: string } }[] }
    ).Events;
    assert.ok(found.length >= 1);
    for (const e of found)
      assert.deepEqual(
        [e.userIdentity.type, e.userIdentity.userName],
        ["assumed-role", "AliyunCSManagedSecurityRole:atrest-up"],
      );
    assert.equal(await stop(second.child), 0, second.stderr());
  });

  it("a port in use fails with one clear line, and the next start on that data dir works", async () => {
    const dataDir = join(root, "busy");
    const port = await busyPort();
    const r = await runAtrest(["up", "--data-dir", dataDir, "--secure-port", String(port), "-o", "json"], {
      env: ENV,
      timeoutMs: READY_TIMEOUT_MS,
    });
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, "");
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", /^atrest: apiserver: 127\.0\.0\.1:\d+ is already in use/);
    const keyId = (JSON.parse(readFileSync(join(dataDir, "kms-key.json"), "utf8")) as { keyId: string })
      .keyId;

    const next = await startUp(dataDir);
    assert.equal(next.ready.keyId, keyId, "the key made by the failed start is the one used");
    assert.equal(await stop(next.child), 0, next.stderr());
  });

  it("an unwritable data dir and a damaged kms dir fail with one clear line", async () => {
    const file = join(root, "a-file");
    writeFileSync(file, "");
    const unwritable = await runAtrest(["up", "--data-dir", join(file, "data"), "--secure-port", "0"], {
      env: ENV,
    });
    assert.equal(unwritable.status, 2, unwritable.stderr);
    assert.deepEqual(errorLines(unwritable.stderr), [
      `atrest: the data dir ${join(file, "data")} is not writable (ENOTDIR)`,
    ]);

    const damaged = join(root, "damaged");
    mkdirSync(join(damaged, "kms"), { recursive: true });
    writeFileSync(join(damaged, "kms", "kms.json"), "{not json");
    const r = await runAtrest(["up", "--data-dir", damaged, "--secure-port", "0"], { env: ENV });
    assert.equal(r.status, 4, r.stderr);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", /^atrest: the KMS data dir .*\/kms is damaged \(missing .*root\.key/);
    assert.equal(readFileSync(join(damaged, "kms", "kms.json"), "utf8"), "{not json", "left as it was");

    // The KMS dir gone while the data dir still names the key its Secrets are under: no new, empty KMS.
    const lost = join(root, "lost-kms");
    mkdirSync(lost);
    writeFileSync(
      join(lost, "kms-key.json"),
      JSON.stringify({ keyId: "key-lost", alias: "alias/atrest-up" }),
    );
    const refused = await runAtrest(["up", "--data-dir", lost, "--secure-port", "0"], { env: ENV });
    assert.equal(refused.status, 4, refused.stderr);
    const refusal = errorLines(refused.stderr);
    assert.equal(refusal.length, 1, refused.stderr);
    assert.match(
      refusal[0] ?? "",
      /^atrest: the KMS data dir .*\/kms is missing, but .*kms-key\.json names the key/,
    );
    assert.match(refusal[0] ?? "", /atrest kms restore --from BACKUP --data-dir .*\/kms/);
    assert.equal(existsSync(join(lost, "kms")), false, "no KMS was made");
  });

  it(
    "--etcd-servers keeps the objects in etcd, under --etcd-prefix, encrypted",
    { skip: etcdBinary() === undefined ? "no etcd binary" : false },
    async () => {
      const etcd = await startEtcd();
      const client = new Etcd3({ hosts: etcd.endpoints });
      try {
        const dataDir = join(root, "etcd");
        const up = await startUp(dataDir, [
          "--etcd-servers",
          etcd.endpoints.join(","),
          "--etcd-prefix",
          "/up",
        ]);
        assert.match(up.ready.store, /^etcd /);
        const marker = `up-etcd-${randomBytes(12).toString("hex")}`;
        const kc = new Kubectl(up.ready.kubeconfig, { cacheDir: join(root, "kubectl-cache-etcd") });
        await kc.ok(["create", "secret", "generic", "in-etcd", `--from-literal=token=${marker}`]);
        const raw = await client.get("/up/secrets/default/in-etcd").buffer();
        assert.ok(raw !== null, "the Secret is in etcd under the prefix");
        assert.equal(raw.subarray(0, 22).toString(), "k8s:enc:kms:v2:atrest:");
        assert.ok(!raw.includes(marker));
        assert.ok(!existsSync(join(dataDir, "apiserver.db")), "no SQLite store with etcd");
        assert.equal(await stop(up.child), 0, up.stderr());
      } finally {
        client.close();
        await etcd.stop();
      }
    },
  );
});
