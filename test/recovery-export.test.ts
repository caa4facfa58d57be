import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runAtrest, type CliResult } from "./support/cli.js";
import {
  IDENTITY,
  kmsV2,
  listSecrets,
  secretsConfig,
  startEncryptionSystem,
  type EncryptionSystem,
  type SecretView,
} from "./support/encryption-system.js";
import { Kubectl } from "./support/kubectl.js";
import { etcdSnapshotSave, passphraseFile, startUpProcess, type UpProcess } from "./recovery-support.js";

// A cluster lost: a real etcd's snapshot (etcdctl snapshot save), the etcd deleted, `atrest export
// --snapshot` (restored by etcd's own tools into a temporary member) → `kubectl apply` into a fresh
// `atrest up` → every Secret equal. `atrest verify-backup` proves the KMS backup opens every Secret of
// the snapshot, and fails — one line per Secret, non-zero exit — for a snapshot of another cluster and
// for Secrets under a key version made after the backup.

const SECRETS_PER_NS = 20;

function snapshotTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith("atrest-snapshot-"));
}

describe("atrest export and verify-backup on a real etcd snapshot", { timeout: 600_000 }, () => {
  let sys: EncryptionSystem;
  let dir: string;
  let pass: string;
  let backup: string;
  let snapshot: string;
  let snapshotAfterRotation: string;
  let original: Map<string, SecretView>;
  let exported: string;
  let up: UpProcess | undefined;
  const markers: string[] = [];
  const tempDirsBefore = new Set(snapshotTempDirs());

  before(async () => {
    sys = await startEncryptionSystem({
      name: "recovery-export",
      config: (e) => secretsConfig([kmsV2(e), IDENTITY]),
    });
    dir = sys.dir;
    for (const ns of ["team-a", "team-b"]) {
      await sys.kubectl.ok(["create", "namespace", ns]);
      const docs: string[] = [];
      for (let i = 0; i < SECRETS_PER_NS; i++) {
        const marker = `m-${ns}-${i}-${randomBytes(6).toString("hex")}`;
        markers.push(marker);
        docs.push(
          [
            "apiVersion: v1",
            "kind: Secret",
            "metadata:",
            `  name: s-${i}`,
            `  namespace: ${ns}`,
            "  labels: {app: payments}",
            "  annotations: {owner: team}",
            ...(i % 5 === 0 ? ["type: kubernetes.io/basic-auth"] : []),
            "data:",
            `  ${i % 5 === 0 ? "password" : "value"}: ${Buffer.from(marker).toString("base64")}`,
            `  blob: ${randomBytes(48).toString("base64")}`,
          ].join("\n") + "\n",
        );
      }
      const f = join(dir, `${ns}.yaml`);
      writeFileSync(f, docs.join("---\n"), { mode: 0o600 });
      await sys.kubectl.ok(["create", "-f", f]);
      rmSync(f);
    }
    await sys.kubectl.ok(["create", "secret", "generic", "plain", "--from-literal=k=created-with-kubectl"]);
    // Names and values that YAML 1.1 (kubectl's parser) reads as booleans, octals and timestamps.
    const tricky = join(dir, "tricky.yaml");
    writeFileSync(
      tricky,
      [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: yaml-one-one",
        '  labels: {flag: "on", "y": "n"}',
        '  annotations: {"no": "0755", date: "2001-12-14", empty: ""}',
        "stringData:",
        '  "yes": "off"',
        '  "on": "1e3"',
        "",
      ].join("\n"),
    );
    await sys.kubectl.ok(["create", "-f", tricky]);
    await sys.kubectl.ok(["create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=fast"]);
    original = await listSecrets(sys.kubectl);
    pass = passphraseFile(dir);
    backup = join(dir, "kms.backup");
    const b = await runAtrest(
      [
        "kms",
        "backup",
        "--data-dir",
        sys.kmsDataDir!,
        "--out",
        backup,
        "--passphrase-file",
        pass,
        "--insecure-low-kdf-cost",
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(b.status, 0, b.stderr);
    snapshot = join(dir, "etcd.snapshot");
    await etcdSnapshotSave(sys.etcd!.endpoints[0]!, snapshot);
    // After the backup: a new key version, and a Secret written under it.
    await sys.rotateKey();
    await sys.kubectl.ok([
      "create",
      "secret",
      "generic",
      "after-rotation",
      "-n",
      "team-b",
      "--from-literal=k=new",
    ]);
    snapshotAfterRotation = join(dir, "etcd-after-rotation.snapshot");
    await etcdSnapshotSave(sys.etcd!.endpoints[0]!, snapshotAfterRotation);
  });

  after(async () => {
    await up?.stop();
    await sys?.close();
  });

  it("exports the snapshot after the cluster's etcd is gone; kubectl apply into a fresh atrest up gives every Secret back", async () => {
    await sys.etcd!.stop(); // the cluster's etcd and its data dir are gone; the KMS and plugin still run
    exported = join(dir, "cluster.yaml");
    const r = await runAtrest(
      ["export", "--snapshot", snapshot, "--encryption-provider-config", sys.configFile, "--out", exported],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "", "the values go to --out only");
    assert.match(r.stderr, /atrest export: \d+ objects \(.*secrets 42.*\) from etcd snapshot/);
    assert.equal(statSync(exported).mode & 0o777, 0o600);
    for (const m of markers) assert.equal(r.stderr.includes(m), false);
    const yaml = readFileSync(exported, "utf8");
    for (const field of ["resourceVersion", "uid:", "creationTimestamp", "managedFields", "selfLink"])
      assert.equal(yaml.includes(field), false, `${field} is stripped`);
    assert.ok(yaml.indexOf("kind: Namespace") < yaml.indexOf("kind: Secret"), "Namespaces come first");

    up = await startUpProcess(join(dir, "new-cluster"));
    const kubectl = new Kubectl(up.ready.kubeconfig, { cacheDir: mkdtempSync(join(dir, "kubectl-new-")) });
    await kubectl.ok(["apply", "-f", exported], { timeoutMs: 180_000 });
    const restored = await listSecrets(kubectl);
    let equal = 0;
    for (const [k, s] of original) {
      const n = restored.get(k);
      assert.ok(n !== undefined, `${k} is in the new cluster`);
      assert.deepEqual(n.data, s.data, `${k}: data`);
      // kubectl apply adds its own last-applied-configuration annotation.
      const { "kubectl.kubernetes.io/last-applied-configuration": _applied, ...annotations } = n.annotations;
      assert.deepEqual(annotations, s.annotations, `${k}: annotations`);
      equal++;
    }
    assert.equal(equal, 2 * SECRETS_PER_NS + 2);
    const tricky = JSON.parse(await kubectl.ok(["get", "secret", "yaml-one-one", "-o", "json"])) as {
      metadata: { labels: Record<string, string> };
    };
    assert.deepEqual(tricky.metadata.labels, { flag: "on", y: "n" });
    const cm = JSON.parse(
      await kubectl.ok(["get", "configmap", "settings", "-n", "team-a", "-o", "json"]),
    ) as {
      data: Record<string, string>;
    };
    assert.deepEqual(cm.data, { mode: "fast" });
  });

  it("exports the same objects with the KMS backup instead of the plugin, to stdout; --resource and --namespace filter", async () => {
    const r = await runAtrest(
      ["export", "--snapshot", snapshot, "--kms-backup", backup, "--passphrase-file", pass],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(exported, "utf8"), "byte for byte the same stream");
    const only = await runAtrest(
      [
        "export",
        "--snapshot",
        snapshot,
        "--kms-backup",
        backup,
        "--passphrase-file",
        pass,
        "--resource",
        "secrets",
        "--namespace",
        "team-b",
        "-o",
        "json",
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(only.status, 0, only.stderr);
    const report = JSON.parse(only.stderr) as { objects: number; byResource: Record<string, number> };
    assert.deepEqual(report.byResource, { secrets: SECRETS_PER_NS });
    assert.equal((only.stdout.match(/^kind: Secret$/gm) ?? []).length, SECRETS_PER_NS);
    assert.equal(only.stdout.includes("namespace: team-a"), false);
    assert.deepEqual(
      snapshotTempDirs().filter((d) => !tempDirsBefore.has(d)),
      [],
      "the temporary etcd members are gone",
    );
  });

  it("verify-backup: every Secret of the snapshot opens with the backup alone, counted per key_id", async () => {
    const r = await runAtrest(
      [
        "verify-backup",
        "--snapshot",
        snapshot,
        "--kms-backup",
        backup,
        "--passphrase-file",
        pass,
        "-o",
        "json",
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as {
      secrets: number;
      decrypted: number;
      failed: number;
      byKeyId: Record<string, { secrets: number; keyState: string }>;
    };
    assert.equal(report.secrets, 2 * SECRETS_PER_NS + 2);
    assert.equal(report.decrypted, report.secrets);
    assert.equal(report.failed, 0);
    const ids = Object.keys(report.byKeyId);
    assert.equal(ids.length, 1);
    assert.match(ids[0]!, new RegExp(`^${sys.kmsKeyId}:`));
    assert.deepEqual(report.byKeyId[ids[0]!], { secrets: report.secrets, failed: 0, keyState: "Enabled" });
    // With the cluster's configuration too (its KMS providers then read through the backup, not the plugin).
    const withConfig = await runAtrest(
      [
        "verify-backup",
        "--snapshot",
        snapshot,
        "--kms-backup",
        backup,
        "--passphrase-file",
        pass,
        "--encryption-provider-config",
        sys.configFile,
        "-o",
        "json",
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(withConfig.status, 0, withConfig.stdout + withConfig.stderr);
    assert.deepEqual((JSON.parse(withConfig.stdout) as { byKeyId: unknown }).byKeyId, report.byKeyId);
  });

  it("verify-backup fails, naming each Secret, for a key version made after the backup and for another cluster's backup", async () => {
    const expectFailure = (r: CliResult, pattern: RegExp, failed: number) => {
      assert.equal(r.status, 12, r.stdout + r.stderr);
      assert.match(r.stdout, pattern);
      assert.match(r.stdout, new RegExp(`, ${failed} failed`));
    };
    const later = await runAtrest(
      [
        "verify-backup",
        "--snapshot",
        snapshotAfterRotation,
        "--kms-backup",
        backup,
        "--passphrase-file",
        pass,
      ],
      { timeoutMs: 120_000 },
    );
    expectFailure(
      later,
      /FAILED \/registry\/secrets\/team-b\/after-rotation \(.*\): .*key version .* is not in backup .* \(made after it\?\)/,
      1,
    );

    // Another cluster: the fresh atrest up's KMS, backed up.
    const other = join(dir, "other.backup");
    const b = await runAtrest(
      [
        "kms",
        "backup",
        "--data-dir",
        join(dir, "new-cluster", "kms"),
        "--out",
        other,
        "--passphrase-file",
        pass,
        "--insecure-low-kdf-cost",
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(b.status, 0, b.stderr);
    const foreign = await runAtrest(
      ["verify-backup", "--snapshot", snapshot, "--kms-backup", other, "--passphrase-file", pass],
      { timeoutMs: 120_000 },
    );
    expectFailure(
      foreign,
      /key .* is not in backup .* \(another KMS, or a key made after the backup\)/,
      2 * SECRETS_PER_NS + 2,
    );
    assert.match(foreign.stdout, /\(key not in the backup\)/);
    const exportForeign = await runAtrest(
      [
        "export",
        "--snapshot",
        snapshot,
        "--kms-backup",
        other,
        "--passphrase-file",
        pass,
        "--resource",
        "secrets",
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(exportForeign.status, 8, exportForeign.stderr);
    assert.equal(exportForeign.stdout, "", "nothing is written when a Secret cannot be read");
    assert.match(
      exportForeign.stderr,
      /^atrest: cannot decrypt \/registry\/secrets\/.*: key .* is not in backup/,
    );
    // A file that is not a snapshot.
    writeFileSync(join(dir, "garbage.snapshot"), randomBytes(4096));
    const garbage = await runAtrest(
      [
        "verify-backup",
        "--snapshot",
        join(dir, "garbage.snapshot"),
        "--kms-backup",
        backup,
        "--passphrase-file",
        pass,
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(garbage.status, 4, garbage.stderr);
    assert.match(garbage.stderr, /does not restore as an etcd snapshot/);
  });
});
