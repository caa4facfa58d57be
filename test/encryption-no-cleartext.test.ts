/**
 * No Secret value in the clear anywhere on disk (DESIGN.md §8): random markers written through kubectl
 * (create secret generic, create -f with data and stringData, a patch) into a system on SQLite and one on
 * etcd; after everything has stopped, no file under the etcd data dir, the SQLite files (.db, -wal, -shm
 * as they are), the KMS data dir or the captured logs holds a marker, raw or base64 at any alignment.
 * A ConfigMap marker (ConfigMaps are not encrypted by the configuration) is the positive control: it
 * must be found in the store's files, so the search does see stored bytes.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SCAN_EXIT } from "../src/scan/report.js";
import {
  IDENTITY,
  kmsV2,
  secretsConfig,
  startEncryptionSystem,
  type EncryptionSystem,
} from "./support/encryption-system.js";

const marker = (what: string) => `mk-${what}-${randomBytes(12).toString("hex")}`;

/** The byte strings that would give a marker away: raw, and base64 of it at each of the 3 alignments. */
function needles(m: string): Buffer[] {
  const raw = Buffer.from(m);
  const out = [raw];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k, 0x41), raw]).toString("base64");
    // Drop the groups that mix in bytes before or after the marker.
    out.push(Buffer.from(b64.slice(k === 0 ? 0 : 4, -4)));
  }
  return out;
}

function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  const st = lstatSync(root);
  if (st.isFile()) return [root];
  if (!st.isDirectory()) return []; // sockets
  return readdirSync(root).flatMap((e) => filesUnder(join(root, e)));
}

/** `file: marker` for every needle of every marker found in these files. */
function findings(files: readonly string[], markers: readonly string[]): string[] {
  const found: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const m of markers) if (needles(m).some((n) => bytes.includes(n))) found.push(`${f}: ${m}`);
  }
  return found;
}

async function writeSecrets(sys: EncryptionSystem): Promise<{ secrets: string[]; configMap: string }> {
  const m = {
    lit1: marker("literal1"),
    lit2: marker("literal2"),
    data: marker("data"),
    stringData: marker("stringdata"),
    patched: marker("patched"),
    other: marker("other-ns"),
    configMap: marker("configmap"),
  };
  const k = sys.kubectl;
  await k.ok(["create", "namespace", "vault"]);
  await k.ok([
    "create",
    "secret",
    "generic",
    "gen",
    `--from-literal=a=${m.lit1}`,
    `--from-literal=b=${m.lit2}`,
  ]);
  await k.ok(["create", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "manifest", namespace: "vault" },
      data: { d: Buffer.from(m.data).toString("base64") },
      stringData: { s: m.stringData },
    }),
  });
  await k.ok(["create", "secret", "generic", "other", "-n", "vault", `--from-literal=x=${m.other}`]);
  await k.ok([
    "patch",
    "secret",
    "gen",
    "--type",
    "merge",
    "-p",
    JSON.stringify({ data: { a: Buffer.from(m.patched).toString("base64") } }),
  ]);
  await k.ok(["create", "configmap", "plain", `--from-literal=c=${m.configMap}`]);

  // The values are there (kubectl reads them back), and the scan says every Secret is encrypted.
  const gen = JSON.parse(await k.ok(["get", "secret", "gen", "-o", "json"])) as {
    data: Record<string, string>;
  };
  assert.deepEqual(gen.data, {
    a: Buffer.from(m.patched).toString("base64"),
    b: Buffer.from(m.lit2).toString("base64"),
  });
  const man = JSON.parse(await k.ok(["get", "secret", "manifest", "-n", "vault", "-o", "json"])) as {
    data: Record<string, string>;
  };
  assert.deepEqual(man.data, {
    d: Buffer.from(m.data).toString("base64"),
    s: Buffer.from(m.stringData).toString("base64"),
  });
  const run = await sys.scan({ extraArgs: ["--fail-on-stale"] });
  assert.equal(run.status, SCAN_EXIT.ok, run.stderr);
  assert.deepEqual(run.report.resources["secrets"]?.byProvider, { "kms:v2": 3 });

  const { configMap, ...secretMarkers } = m;
  return { secrets: Object.values(secretMarkers), configMap };
}

async function checkSystem(store: "sqlite" | "etcd"): Promise<void> {
  const sys = await startEncryptionSystem({
    name: `no-cleartext-${store}`,
    store,
    logLevel: "trace",
    config: (endpoint) => secretsConfig([kmsV2(endpoint), IDENTITY]),
  });
  try {
    const { secrets, configMap } = await writeSecrets(sys);
    const storeFilesNow = () =>
      store === "etcd"
        ? filesUnder(sys.etcd!.members[0]!.dataDir)
        : [sys.sqlitePath!, `${sys.sqlitePath!}-wal`, `${sys.sqlitePath!}-shm`].filter((f) => existsSync(f));

    // While everything runs (SQLite's -wal and etcd's WAL hold the latest writes).
    const running = [...storeFilesNow(), ...filesUnder(sys.dir)];
    assert.deepEqual(findings(running, secrets), [], "no Secret marker in any file while running");
    assert.ok(
      findings(storeFilesNow(), [configMap]).length > 0,
      "the ConfigMap marker is in the running store's files",
    );

    await sys.stop();
    const storeFiles = storeFilesNow();
    assert.ok(storeFiles.length > 0, "the store left files");
    const kmsFiles = filesUnder(sys.kmsDataDir!);
    assert.ok(
      kmsFiles.some((f) => f.endsWith("kms.db")),
      `the KMS database is among ${kmsFiles.join(", ")}`,
    );
    // Every other file the system wrote: logs, configuration, kubeconfig, tokens, certificates, caches.
    const allFiles = [...new Set([...storeFiles, ...filesUnder(sys.dir)])];
    for (const log of sys.logs) {
      assert.ok(allFiles.includes(log.file));
      assert.ok(log.contents().split("\n").length > 1, `${log.file} captured log lines`);
    }

    assert.deepEqual(findings(allFiles, secrets), [], "no Secret marker in any file");
    const logText = Buffer.from(
      [...sys.logs.map((l) => l.contents()), sys.scanOutputs(), sys.etcd?.members[0]?.logTail() ?? ""].join(
        "\n",
      ),
    );
    for (const m of secrets)
      assert.ok(!needles(m).some((n) => logText.includes(n)), `marker ${m} in a log or the scan's output`);

    // The positive control: the unencrypted ConfigMap's marker is in the store's files.
    assert.ok(
      findings(storeFiles, [configMap]).length > 0,
      `the ConfigMap marker was not found in ${storeFiles.join(", ")}: the search sees no stored bytes`,
    );
    // Nothing keeps running (or logging) after its component's close() resolved.
    await new Promise((r) => setTimeout(r, 500));
    for (const l of sys.logs) assert.deepEqual(l.late(), [], `${l.file}: lines logged after close()`);
  } finally {
    await sys.close();
  }
}

describe("no Secret value in the clear on disk or in logs", { timeout: 170_000 }, () => {
  test("apiserver on SQLite", () => checkSystem("sqlite"));
  test("apiserver on etcd", () => checkSystem("etcd"));
});
