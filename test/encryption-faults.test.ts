/**
 * Faults under a steady load, with the whole chain real (apiserver → plugin process → atrest kms over
 * HTTPS) and kube's 3-minute write window driven by an injected clock:
 *   - the KMS stops for longer than 3 minutes: reads go on, writes go on until the window closes, then
 *     fail cleanly (503, a clear message), and everything recovers by itself when the KMS is back;
 *   - the plugin is killed with SIGKILL and restarted: no read of a cached seed fails; nothing is lost.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { ChildProcess } from "node:child_process";
import { request } from "node:https";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../src/common/clock.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { AtrestKmsSdkClient, SdkConfig, kmsSdk } from "../src/plugin/alibaba-sdk-client.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import { spawnAtrest } from "./support/cli.js";
import { freePort } from "./support/etcd.js";

interface Reply {
  status: number;
  body: string;
}

function call(server: ApiServer, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      new URL(path, server.url),
      {
        method,
        ca: server.caCertPem,
        headers: {
          Authorization: `Bearer ${server.adminToken ?? ""}`,
          ...(payload === undefined ? {} : { "Content-Type": "application/json" }),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const secret = (name: string, value: string) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name },
  data: { v: Buffer.from(value).toString("base64") },
});

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("encryption at rest under faults", { timeout: 240_000 }, () => {
  let dir: string;
  let kmsDir: string;
  let kmsListen: string;
  let kms: KmsServer | undefined;
  let plugin: ChildProcess | undefined;
  let pluginArgs: string[];
  let store: SqliteStore;
  let server: ApiServer;
  const clock = new ManualClock(Date.now());
  /** name → value of every Secret whose create was answered 201. */
  const written = new Map<string, string>();
  let seq = 0;

  async function startPluginProcess(): Promise<void> {
    const child = spawnAtrest(pluginArgs);
    plugin = child; // stopped by after() even when it never comes up
    let stdout = "";
    let log = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
    await eventually("the plugin to serve", () => Promise.resolve(/serving unix:/.test(stdout)));
    // Its first KMS check done, so the apiserver's first Status (which primes the seed; the injected
    // clock brings no retry) does not depend on how fast a loaded machine answers it.
    await eventually("the plugin's first KMS check", () => Promise.resolve(/"kms healthy"/.test(log)));
  }

  /** One write and one read of every Secret written so far; returns what failed. */
  async function loadRound(): Promise<{ writeStatus: number; writeBody: string; failedReads: string[] }> {
    const name = `s-${++seq}`;
    const value = `value-${seq}-${Math.random()}`;
    const w = await call(server, "POST", "/api/v1/namespaces/default/secrets", secret(name, value));
    if (w.status === 201) written.set(name, value);
    const failedReads: string[] = [];
    await Promise.all(
      [...written].map(async ([n, v]) => {
        const r = await call(server, "GET", `/api/v1/namespaces/default/secrets/${n}`);
        const got =
          r.status === 200
            ? Buffer.from((JSON.parse(r.body) as { data: { v: string } }).data.v, "base64").toString()
            : undefined;
        if (got !== v) failedReads.push(`${n}: ${r.status}`);
      }),
    );
    return { writeStatus: w.status, writeBody: w.body, failedReads };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-encryption-faults-"));
    kmsDir = join(dir, "kms");
    kmsListen = `127.0.0.1:${await freePort()}`;
    const init = await initKmsDataDir({ dataDir: kmsDir });
    kms = await startKmsServer({ dataDir: kmsDir, listen: kmsListen, cacheTtlMs: 0 });
    const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const admin = new AtrestKmsSdkClient(
      new SdkConfig({ ...creds, endpoint: kmsListen, regionId: "cn-hangzhou", protocol: "https" }),
      readFileSync(init.caCertFile, "utf8"),
    );
    const keyId = (await admin.createKeyEx(new kmsSdk.CreateKeyRequest({}), {} as never)).keyMetadata.keyId;
    const socket = join(dir, "kms.sock");
    pluginArgs = [
      "plugin",
      "--listen",
      `unix://${socket}`,
      "--kms-endpoint",
      kms.url,
      "--key-id",
      keyId,
      "--credentials-file",
      init.credentialsFile,
      "--ca-file",
      init.caCertFile,
      "--status-refresh",
      "300ms",
    ];
    await startPluginProcess();
    writeFileSync(
      join(dir, "encryption-config.yaml"),
      [
        "apiVersion: apiserver.config.k8s.io/v1",
        "kind: EncryptionConfiguration",
        "resources:",
        "  - resources: [secrets]",
        "    providers:",
        "      - kms: {apiVersion: v2, name: atrest, endpoint: " + `"unix://${socket}"` + ", timeout: 2s}",
        "      - identity: {}",
        "",
      ].join("\n"),
    );
    store = new SqliteStore({ path: join(dir, "apiserver.db") });
    server = await startApiServer({
      store,
      dataDir: join(dir, "apiserver"),
      securePort: 0,
      clock,
      encryptionProviderConfig: join(dir, "encryption-config.yaml"),
    });
  });

  after(async () => {
    await server?.close();
    await store?.close();
    plugin?.kill("SIGKILL");
    await kms?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the KMS down for longer than 3 minutes: reads go on, writes stop after the window, then recover", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await loadRound();
      assert.equal(r.writeStatus, 201, r.writeBody);
      assert.deepEqual(r.failedReads, []);
    }
    const stored = await store.get("/registry/secrets/default/s-1");
    assert.ok(stored?.value.toString("latin1").startsWith("k8s:enc:kms:v2:atrest:"));

    await kms?.close();
    kms = undefined;
    // The plugin notices at its next check; the apiserver's Status polls (every 10 s of the clock while
    // unhealthy) now fail and no longer extend the write window.
    await eventually("the apiserver to see the KMS as down", async () => {
      clock.advance(10_000);
      return (await call(server, "GET", "/readyz/kms-providers")).status === 500;
    });
    // Still inside the 3-minute window (the last good check was under a minute ago on the clock).
    let r = await loadRound();
    assert.equal(r.writeStatus, 201, "writes go on inside the window: " + r.writeBody);
    assert.deepEqual(r.failedReads, []);

    clock.advance(3 * 60_000);
    for (let i = 0; i < 3; i++) {
      r = await loadRound();
      assert.equal(r.writeStatus, 503, "writes fail cleanly after the window: " + r.writeBody);
      assert.match(r.writeBody, /"kind":"Status"/);
      assert.match(r.writeBody, /expired/);
      assert.deepEqual(r.failedReads, [], "reads of cached seeds never fail");
    }

    kms = await startKmsServer({ dataDir: kmsDir, listen: kmsListen, cacheTtlMs: 0 });
    await eventually("writes to resume by themselves", async () => {
      clock.advance(10_000);
      return (await loadRound()).writeStatus === 201;
    });
    r = await loadRound();
    assert.equal(r.writeStatus, 201, r.writeBody);
    assert.deepEqual(r.failedReads, []);
  });

  test("the plugin killed with SIGKILL and restarted: no failed read of a cached seed; nothing lost", async () => {
    const before = written.size;
    const child = plugin;
    assert.ok(child);
    child.kill("SIGKILL");
    await once(child, "exit");
    plugin = undefined;
    // The seed is cached and the write window is open: both reads and writes go on without the plugin.
    for (let i = 0; i < 3; i++) {
      const r = await loadRound();
      assert.deepEqual(r.failedReads, [], "reads of cached seeds while the plugin is gone");
      assert.equal(r.writeStatus, 201, "writes inside the window need no plugin call: " + r.writeBody);
    }
    await startPluginProcess();
    await eventually("the apiserver's KMS check to pass again", async () => {
      clock.advance(10_000);
      return (await call(server, "GET", "/readyz/kms-providers")).status === 200;
    });
    const r = await loadRound();
    assert.equal(r.writeStatus, 201, r.writeBody);
    assert.deepEqual(r.failedReads, []);
    assert.ok(written.size > before);
    // Nothing lost: every Secret ever acknowledged is stored, encrypted, and reads back (loadRound checked).
    const list = await store.list("/registry/secrets/default/");
    assert.equal(list.items.length, written.size);
    for (const kv of list.items) assert.ok(kv.value.toString("latin1").startsWith("k8s:enc:kms:v2:atrest:"));
  });
});
