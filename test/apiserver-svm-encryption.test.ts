/**
 * StorageVersionMigration re-encrypts Secrets, all real parts: etcd, atrest kms, the atrest plugin (KMS v2),
 * `atrest apiserver` as a process, real kubectl and `atrest scan`. 5,000 Secrets are written under one
 * key_id, the key gets a new version, and kube's documented manifest (`kubectl create -f`) migrates
 * them; the apiserver is SIGKILLed while the migration runs and resumes it from its checkpoint when it
 * starts again; the scan then finds every Secret under the current key_id, none stale.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import YAML from "yaml";
import { requireResource } from "../src/apiserver/resources.js";
import { keyIdHash } from "../src/common/key-id-hash.js";
import { SCAN_EXIT } from "../src/scan/report.js";
import { spawnAtrest } from "./support/cli.js";
import {
  eventually,
  kmsV2,
  secretsConfig,
  startEncryptionSystem,
  type EncryptionSystem,
  type ScanRun,
} from "./support/encryption-system.js";
import { Kubectl } from "./support/kubectl.js";

type Obj = Record<string, unknown>;
const COUNT = 5_000;
const SVM_PATH = "/apis/storagemigration.k8s.io/v1alpha1/storageversionmigrations";

/** kube's documented manifest (kubernetes.io/docs/tasks/manage-kubernetes-objects/storage-version-migration). */
const MANIFEST = `kind: StorageVersionMigration
apiVersion: storagemigration.k8s.io/v1alpha1
metadata:
  name: secrets-migration
spec:
  resource:
    group: ""
    version: v1
    resource: secrets
`;

interface Apiserver {
  child: ChildProcess;
  output: () => string;
  kubeconfig: string;
}

/** `atrest apiserver` on the system's etcd and configuration; resolves at its ready line. */
async function startApiserverProcess(sys: EncryptionSystem, name: string): Promise<Apiserver> {
  const kubeconfig = join(sys.dir, "cli-kubeconfig");
  const child = spawnAtrest([
    "apiserver",
    "--etcd-servers",
    sys.etcd?.endpoints.join(",") ?? "",
    "--etcd-prefix",
    sys.etcdPrefix,
    "--data-dir",
    join(sys.dir, "cli-apiserver"),
    "--secure-port",
    "0",
    "--kubeconfig-out",
    kubeconfig,
    "--encryption-provider-config",
    sys.configFile,
  ]);
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no ready line: ${out}`)), 60_000);
    const check = (): void => {
      if (out.includes('"msg":"apiserver ready"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited ${String(code)}: ${out}`));
    });
  });
  child.removeAllListeners("exit");
  return { child, output: () => out, kubeconfig };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** GET through the kubeconfig's server, CA and token (polling faster than a kubectl process would). */
function get(kubeconfig: string, path: string): Promise<{ status: number; body: Obj }> {
  const cfg = YAML.parse(readFileSync(kubeconfig, "utf8")) as {
    clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
    users: { user: { token: string } }[];
  };
  const cluster = cfg.clusters[0]?.cluster;
  const token = cfg.users[0]?.user.token ?? "";
  assert.ok(cluster !== undefined);
  return new Promise((resolve, reject) => {
    request(
      new URL(path, cluster.server),
      {
        headers: { Authorization: `Bearer ${token}` },
        ca: Buffer.from(cluster["certificate-authority-data"], "base64").toString(),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Obj }));
      },
    )
      .on("error", reject)
      .end();
  });
}

const conditionOf = (svm: Obj, type: string): Obj | undefined =>
  ((((svm.status ?? {}) as Obj).conditions ?? []) as Obj[]).find((c) => c.type === type);
const progressOf = (svm: Obj): Obj => (((svm.status ?? {}) as Obj).progress ?? {}) as Obj;

function secretsUnder(run: ScanRun): Record<string, number> {
  const s = run.report.resources["secrets"];
  assert.ok(s !== undefined, run.stdout);
  return Object.fromEntries(Object.entries(s.byKeyId).map(([k, v]) => [k, v.count]));
}

describe("StorageVersionMigration re-encrypts Secrets (etcd, KMS v2, kubectl)", { timeout: 600_000 }, () => {
  let sys: EncryptionSystem;
  let api: Apiserver | undefined;
  let oldKeyId: string;
  let newKeyId: string;

  before(async () => {
    sys = await startEncryptionSystem({
      name: "svm-encryption",
      config: (endpoint) => secretsConfig([kmsV2(endpoint)]),
      // The migrations are the process's (the one SIGKILLed); the in-process apiserver only writes.
      storageVersionMigrator: false,
    });
  });
  after(async () => {
    if (api !== undefined && api.child.exitCode === null && api.child.signalCode === null) {
      api.child.kill("SIGTERM");
      await exited(api.child);
    }
    await sys?.close();
  });

  test("5,000 stale Secrets: kubectl create -f the SVM, SIGKILL mid-way, resumed, every Secret under the new key_id", async () => {
    const secrets = requireResource("secrets");
    oldKeyId = sys.pluginKeyId();
    for (let i = 0; i < COUNT; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, COUNT - i) }, (_, j) =>
          sys.apiserver.registry.create(
            secrets,
            "default",
            {
              metadata: { name: `s-${String(i + j).padStart(5, "0")}` },
              data: { k: Buffer.from(`value-${i + j}`).toString("base64") },
            },
            { dryRun: false },
          ),
        ),
      );
    newKeyId = await sys.rotateKey();
    const stale = await sys.scan();
    assert.deepEqual(secretsUnder(stale), { [oldKeyId]: COUNT }, "all under the old key_id");
    assert.equal(stale.report.resources["secrets"]?.stale, COUNT);

    // The apiserver that runs the migration starts after the rotation: it writes under the new key_id.
    api = await startApiserverProcess(sys, "apiserver 1");
    const kubectl = new Kubectl(api.kubeconfig, { cacheDir: join(sys.dir, "kubectl-cache-svm") });
    const file = join(sys.dir, "secrets-migration.yaml");
    writeFileSync(file, MANIFEST);
    assert.match(
      await kubectl.ok(["create", "-f", file]),
      /storageversionmigration.storagemigration.k8s.io\/secrets-migration created/,
    );

    // Running, with a checkpoint and not done yet: kill it there.
    const kubeconfig = api.kubeconfig;
    const midway = await eventually(
      "the migration to be running with a checkpoint",
      async () => {
        const r = await get(kubeconfig, `${SVM_PATH}/secrets-migration`);
        assert.equal(r.status, 200);
        assert.equal(conditionOf(r.body, "Succeeded"), undefined, "the migration finished before the kill");
        const p = progressOf(r.body);
        return conditionOf(r.body, "Running")?.status === "True" && p.checkpoint !== "" ? r.body : undefined;
      },
      60_000,
      10,
    );
    api.child.kill("SIGKILL");
    await exited(api.child);
    const atKill = progressOf(midway);
    assert.equal(atKill.total, COUNT, "total: the Secrets stored when the migration began");
    assert.ok(Number(atKill.rewritten) > 0 && Number(atKill.rewritten) < COUNT, JSON.stringify(atKill));
    assert.equal(conditionOf(midway, "Running")?.reason, "StorageVersionMigrationInProgress");
    const partly = secretsUnder(await sys.scan());
    assert.ok((partly[newKeyId] ?? 0) > 0 && (partly[oldKeyId] ?? 0) > 0, JSON.stringify(partly));

    // A new process picks the migration up after its checkpoint.
    api = await startApiserverProcess(sys, "apiserver 2");
    const restarted = api;
    const done = await eventually(
      "the migration to succeed after the restart",
      async () => {
        const r = await get(restarted.kubeconfig, `${SVM_PATH}/secrets-migration`);
        return conditionOf(r.body, "Succeeded")?.status === "True" ? r.body : undefined;
      },
      180_000,
      200,
    );
    const resumedLine = restarted
      .output()
      .split("\n")
      .find((l) => l.includes("storage version migration resumed"));
    assert.ok(resumedLine !== undefined, "the second process resumed, not restarted, the migration");
    const checkpoint = String((JSON.parse(resumedLine) as Obj).checkpoint);
    assert.ok(checkpoint >= String(atKill.checkpoint), `resumed at ${checkpoint}`);

    // kubectl shows what kube shows: Succeeded True, Running turned False.
    const shown = JSON.parse(
      await kubectl.ok(["get", "storageversionmigrations", "secrets-migration", "-o", "json"]),
    ) as Obj;
    assert.equal(conditionOf(shown, "Succeeded")?.reason, "StorageVersionMigrationSucceeded");
    assert.equal(conditionOf(shown, "Running")?.status, "False");
    const p = progressOf(done);
    assert.equal(p.total, COUNT);
    assert.equal(p.remaining, 0);
    assert.equal(Number(p.rewritten) + Number(p.unchanged) + Number(p.skipped), COUNT, JSON.stringify(p));
    assert.ok(Number(p.unchanged) < COUNT, "the work before the kill was kept");

    const run = await sys.scan({ extraArgs: ["--fail-on-stale"] });
    assert.equal(run.status, SCAN_EXIT.ok, run.stderr);
    const s = run.report.resources["secrets"];
    assert.ok(s !== undefined);
    assert.deepEqual(s.byKeyId, {
      [newKeyId]: { count: COUNT, keyIdHash: keyIdHash(newKeyId), providers: ["kms:v2:atrest"] },
    });
    assert.equal(s.stale, 0);
    assert.equal(s.verified, COUNT);
    // The values are the ones written.
    const one = JSON.parse(
      await kubectl.ok(["get", "secret", "s-04321", "-n", "default", "-o", "json"]),
    ) as Obj;
    assert.equal((one.data as Obj).k, Buffer.from("value-4321").toString("base64"));
  });

  test("kubectl: an SVM for a resource the apiserver does not serve is Failed with kube's message", async () => {
    assert.ok(api !== undefined);
    const kubectl = new Kubectl(api.kubeconfig, { cacheDir: join(sys.dir, "kubectl-cache-svm") });
    const file = join(sys.dir, "widgets-migration.yaml");
    writeFileSync(
      file,
      MANIFEST.replace("secrets-migration", "widgets-migration")
        .replace('group: ""', "group: example.com")
        .replace("resource: secrets", "resource: widgets"),
    );
    await kubectl.ok(["create", "-f", file]);
    const kubeconfig = api.kubeconfig;
    const failed = await eventually(
      "the migration to fail",
      async () => {
        const r = await get(kubeconfig, `${SVM_PATH}/widgets-migration`);
        return conditionOf(r.body, "Failed")?.status === "True" ? r.body : undefined;
      },
      30_000,
      100,
    );
    assert.deepEqual(
      { reason: conditionOf(failed, "Failed")?.reason, message: conditionOf(failed, "Failed")?.message },
      { reason: "StorageVersionMigrationFailed", message: "resource does not exist in discovery" },
    );
    const jsonpath = await kubectl.ok([
      "get",
      "storageversionmigration",
      "widgets-migration",
      "-o",
      'jsonpath={.status.conditions[?(@.type=="Failed")].message}',
    ]);
    assert.equal(jsonpath, "resource does not exist in discovery");
  });
});
