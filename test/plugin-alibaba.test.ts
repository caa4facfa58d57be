/**
 * The plugin as kube-apiserver sees it (the at-rest core's gRPC clients), backed by a real atrest kms
 * over HTTPS with its private CA, through the official Alibaba SDK.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { queryAuditEvents } from "../src/kms/audit-log.js";
import { createLogger } from "../src/common/logger.js";
import { createKmsV1Client, createKmsV2Client, type KmsV2Client } from "../src/kms-plugin-client/index.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";
import { AtrestKmsSdkClient, SdkConfig, kmsSdk } from "../src/plugin/alibaba-sdk-client.js";
import { isAtrestError } from "../src/common/errors.js";

const REFRESH_MS = 200;
/**
 * How late a rotation may reach Status: the check that was running when the key rotated may still have
 * seen the old version, so the next one (one interval later) must see the new one. Two intervals plus
 * 500 ms leave room for a loaded 2-core machine; a plugin checking 50× too slowly (10 s) fails.
 */
const ROTATION_BOUND_MS = 2 * REFRESH_MS + 500;

/** Milliseconds until `probe` first holds, polling every 10 ms; Infinity if not within `giveUpMs`. */
async function msUntil(probe: () => Promise<boolean>, giveUpMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - started;
    if (performance.now() - started > giveUpMs) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

describe("atrest plugin with the alibaba backend against atrest kms", { timeout: 120_000 }, () => {
  let dir: string;
  let kmsDir: string;
  let kms: KmsServer;
  let kmsListen: string;
  let admin: AtrestKmsSdkClient;
  let creds: { accessKeyId: string; accessKeySecret: string };
  let caPem: string;
  let keyId: string;
  let plugin: RunningPlugin;
  let client: KmsV2Client;
  const logLines: string[] = [];
  const sdk = (rt = {}) => rt as never;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-plugin-alibaba-"));
    kmsDir = join(dir, "kms");
    const init = await initKmsDataDir({ dataDir: kmsDir, accountId: "1234567890123456" });
    kms = await startKmsServer({ dataDir: kmsDir, cacheTtlMs: 0 });
    kmsListen = new URL(kms.url).host;
    creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as typeof creds;
    caPem = readFileSync(init.caCertFile, "utf8");
    admin = new AtrestKmsSdkClient(
      new SdkConfig({ ...creds, endpoint: kmsListen, regionId: "cn-hangzhou", protocol: "https" }),
      caPem,
    );
    const created = await admin.createKeyEx(
      new kmsSdk.CreateKeyRequest({ description: "kubernetes secrets" }),
      sdk(),
    );
    keyId = created.keyMetadata.keyId;
    await admin.createAliasEx(
      new kmsSdk.CreateAliasRequest({ aliasName: "alias/k8s-secrets", keyId }),
      sdk(),
    );
    plugin = await startPlugin({
      listen: `unix://${join(dir, "kms.sock")}`,
      backend: {
        kind: "alibaba",
        endpoint: kms.url,
        regionId: "cn-hangzhou",
        keyId: "alias/k8s-secrets",
        credentials: creds,
        caPem,
      },
      statusRefreshMs: REFRESH_MS,
      probeTimeoutMs: 1_000,
      healthListen: "127.0.0.1:0",
      logger: createLogger({
        name: "plugin-test",
        destination: { write: (line: string) => void logLines.push(line) },
      }),
    });
    client = createKmsV2Client({ endpoint: `unix://${join(dir, "kms.sock")}`, timeoutMs: 5_000 });
    await waitFor("first healthy check", () => (plugin.status().healthy ? true : undefined));
  });

  after(async () => {
    client?.close();
    await plugin?.close();
    await kms?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves v2 Status, Encrypt and Decrypt; key_id names the key and its primary version", async () => {
    const described = await admin.describeKeyEx(new kmsSdk.DescribeKeyRequest({ keyId }), sdk());
    const status = await client.status();
    assert.equal(status.version, "v2");
    assert.equal(status.healthz, "ok");
    assert.equal(status.keyId, `${keyId}:${described.keyMetadata.primaryKeyVersion}`);
    const seed = Buffer.alloc(32, 7);
    const encrypted = await client.encrypt(seed, { uid: "uid-encrypt-1" });
    assert.equal(encrypted.keyId, status.keyId);
    assert.equal(encrypted.annotations["key-id.kms.atrest.io"]?.toString(), keyId);
    assert.equal(
      encrypted.annotations["version.kms.atrest.io"]?.toString(),
      described.keyMetadata.primaryKeyVersion,
    );
    assert.ok(!encrypted.ciphertext.includes(seed));
    const plaintext = await client.decrypt({
      ciphertext: encrypted.ciphertext,
      keyId: encrypted.keyId,
      annotations: encrypted.annotations,
      uid: "uid-decrypt-1",
    });
    assert.deepEqual(plaintext, seed);
    assert.equal(statSync(join(dir, "kms.sock")).mode & 0o777, 0o600);
  });

  it("serves v1beta1 Version, Encrypt and Decrypt on the same socket", async () => {
    const v1 = createKmsV1Client({ endpoint: `unix://${join(dir, "kms.sock")}`, timeoutMs: 5_000 });
    try {
      const dek = Buffer.alloc(32, 9);
      const cipher = await v1.encrypt(dek);
      assert.deepEqual(await v1.decrypt(cipher), dek);
    } finally {
      v1.close();
    }
  });

  it("puts each call's uid in the plugin's log and in the KMS audit record", async () => {
    const uid = "0b9d3f5e-uid-audit-check";
    await client.encrypt(Buffer.from("audited"), { uid });
    await kms.journal.idle();
    const rows = await queryAuditEvents(kms.kdb, { action: "Encrypt" });
    assert.ok(
      rows.some((r) => r.client_uid === uid),
      "audit record carries the uid",
    );
    const line = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l["uid"] === uid && l["method"] === "v2/Encrypt");
    assert.ok(line, "plugin log line carries the uid");
    assert.equal(line["code"], "OK");
    assert.ok(!logLines.join("").includes(creds.accessKeySecret), "the secret is never logged");
  });

  it("reports a KMS rotation as a new key_id within the refresh interval; old ciphertexts still decrypt", async (t) => {
    const before = await client.status();
    const old = await client.encrypt(Buffer.from("before rotation"));
    const rotated = await admin.createKeyVersionEx(new kmsSdk.CreateKeyVersionRequest({ keyId }), sdk());
    const newKeyId = `${keyId}:${rotated.keyVersion.keyVersionId}`;
    assert.notEqual(newKeyId, before.keyId);
    // From the CreateKeyVersion answer to the first Status (over the socket) with the new key_id.
    const seenAfterMs = await msUntil(
      async () => (await client.status()).keyId === newKeyId,
      ROTATION_BOUND_MS + 2_000,
    );
    const seen = Number.isFinite(seenAfterMs)
      ? `after ${seenAfterMs.toFixed(0)} ms`
      : `not within ${ROTATION_BOUND_MS + 2_000} ms`;
    t.diagnostic(`rotation reached Status ${seen} (bound ${ROTATION_BOUND_MS} ms)`);
    assert.ok(
      seenAfterMs <= ROTATION_BOUND_MS,
      `the new key_id reached Status ${seen}; allowed ${ROTATION_BOUND_MS} ms with a ${REFRESH_MS} ms refresh`,
    );
    const fresh = await client.encrypt(Buffer.from("after rotation"));
    assert.equal(fresh.keyId, newKeyId);
    assert.deepEqual(
      await client.decrypt({ ciphertext: old.ciphertext, keyId: old.keyId, annotations: old.annotations }),
      Buffer.from("before rotation"),
    );
    assert.deepEqual(
      await client.decrypt({
        ciphertext: fresh.ciphertext,
        keyId: fresh.keyId,
        annotations: fresh.annotations,
      }),
      Buffer.from("after rotation"),
    );
    const metrics = await httpGet(`${plugin.health!.url}/metrics`);
    assert.match(metrics.body, /atrest_plugin_key_id_info\{key_id_hash="sha256:[0-9a-f]{64}"\} 1/);
    assert.ok(!metrics.body.includes(keyId), "metrics carry the key id only hashed");
  });

  it("polling Status does not multiply KMS calls", async () => {
    const callsBefore = plugin.backend.kmsCalls();
    const checksBefore = plugin.status().checks;
    const started = Date.now();
    for (let i = 0; i < 200; i++) await client.status();
    const elapsed = Date.now() - started;
    const checks = plugin.status().checks - checksBefore;
    const calls = plugin.backend.kmsCalls() - callsBefore;
    // One check (Encrypt + Decrypt) per refresh interval, whatever the poll count.
    assert.ok(checks <= Math.ceil(elapsed / REFRESH_MS) + 1, `${checks} checks in ${elapsed} ms`);
    assert.ok(calls <= 2 * (checks + 1), `${calls} KMS calls for ${checks} checks`);
    assert.ok(calls < 200);
  });

  it("a disabled key: healthz fails with the reason, Decrypt is FAILED_PRECONDITION, livez stays green", async () => {
    const sealed = await client.encrypt(Buffer.from("while enabled"));
    await admin.disableKeyEx(new kmsSdk.DisableKeyRequest({ keyId }), sdk());
    try {
      const healthz = await waitFor("healthz to fail", async () => {
        const r = await httpGet(`${plugin.health!.url}/healthz`);
        return r.status === 503 ? r : undefined;
      });
      assert.match(healthz.body, /disabled/);
      const status = await client.status();
      assert.notEqual(status.healthz, "ok");
      assert.match(status.healthz, /Rejected\.Disabled/);
      const err = await client
        .decrypt({ ciphertext: sealed.ciphertext, keyId: sealed.keyId, annotations: sealed.annotations })
        .then(
          () => assert.fail("decrypt must fail"),
          (e: unknown) => e,
        );
      assert.ok(isAtrestError(err, "failed-precondition"), String(err));
      assert.equal(err.details["grpcCode"], "FAILED_PRECONDITION");
      assert.match(err.message, /disabled/);
      const livez = await httpGet(`${plugin.health!.url}/livez`);
      assert.equal(livez.status, 200);
      const metrics = await httpGet(`${plugin.health!.url}/metrics`);
      assert.match(metrics.body, /atrest_plugin_healthy 0/);
      assert.match(
        metrics.body,
        /atrest_plugin_grpc_calls_total\{method="v2\/Decrypt",code="FAILED_PRECONDITION"\} 1/,
      );
    } finally {
      await admin.enableKeyEx(new kmsSdk.EnableKeyRequest({ keyId }), sdk());
    }
    await waitFor("healthy again", () => (plugin.status().healthy ? true : undefined));
  });

  it("the KMS down: healthz fails, key_id is kept; the KMS back: healthy again", async () => {
    const before = await client.status();
    assert.equal(before.healthz, "ok");
    await kms.close();
    try {
      const healthz = await waitFor("healthz to fail", async () => {
        const r = await httpGet(`${plugin.health!.url}/healthz`);
        return r.status === 503 ? r : undefined;
      });
      assert.match(healthz.body, /unreachable|ECONNREFUSED/);
      const down = await client.status();
      assert.notEqual(down.healthz, "ok");
      assert.equal(down.keyId, before.keyId, "no spurious rotation while the KMS is down");
      assert.equal((await httpGet(`${plugin.health!.url}/livez`)).status, 200);
      const err = await client.encrypt(Buffer.from("x")).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isAtrestError(err, "unavailable") || isAtrestError(err, "deadline-exceeded"), String(err));
    } finally {
      kms = await startKmsServer({ dataDir: kmsDir, listen: kmsListen, cacheTtlMs: 0 });
    }
    await waitFor("healthy after restart", async () =>
      (await client.status()).healthz === "ok" ? true : undefined,
    );
    assert.equal((await client.status()).keyId, before.keyId);
  });

  it("a transient outage is retried with backoff inside the caller's deadline", async () => {
    await kms.close();
    const pending = client.encrypt(Buffer.from("retried"), { uid: "uid-retry" });
    await new Promise((r) => setTimeout(r, 700));
    kms = await startKmsServer({ dataDir: kmsDir, listen: kmsListen, cacheTtlMs: 0 });
    const sealed = await pending;
    assert.deepEqual(
      await client.decrypt({
        ciphertext: sealed.ciphertext,
        keyId: sealed.keyId,
        annotations: sealed.annotations,
      }),
      Buffer.from("retried"),
    );
    const metrics = await httpGet(`${plugin.health!.url}/metrics`);
    assert.match(
      metrics.body,
      /atrest_plugin_kms_request_duration_seconds_count\{action="Encrypt",outcome="error"\} [1-9]/,
    );
    assert.match(
      metrics.body,
      /atrest_plugin_kms_request_duration_seconds_count\{action="Encrypt",outcome="ok"\} [1-9]/,
    );
    // A Status probe that ran during the outage may be remembered as unhealthy until the next one;
    // the next test starts from a healthy plugin.
    await waitFor("healthy after the outage", async () =>
      (await client.status()).healthz === "ok" ? true : undefined,
    );
  });

  it("bad input through the KMS: garbage ciphertext and foreign annotations are INVALID_ARGUMENT", async () => {
    const sealed = await client.encrypt(Buffer.from("x"));
    const garbage = Buffer.from(Buffer.from("not a ciphertext blob at all").toString("base64"));
    const corrupt = await client
      .decrypt({ ciphertext: garbage, keyId: sealed.keyId, annotations: sealed.annotations })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isAtrestError(corrupt, "invalid-argument"), String(corrupt));
    assert.match(corrupt.message, /InvalidCiphertext/);
    const wrongKey = await client
      .decrypt({
        ciphertext: sealed.ciphertext,
        keyId: `${keyId}:someone-elses-version`,
        annotations: sealed.annotations,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isAtrestError(wrongKey, "invalid-argument"), String(wrongKey));
    // Without annotations the key_id is all there is to check the KMS's answer against.
    for (const unchecked of ["bogus", keyId, `${keyId}:`]) {
      const noAnnotations = await client
        .decrypt({ ciphertext: sealed.ciphertext, keyId: unchecked, annotations: {} })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(isAtrestError(noAnnotations, "invalid-argument"), `${unchecked}: ${String(noAnnotations)}`);
    }
    const otherVersion = await client
      .decrypt({ ciphertext: sealed.ciphertext, keyId: `${keyId}:someone-elses-version`, annotations: {} })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isAtrestError(otherVersion, "invalid-argument"), String(otherVersion));
    assert.match(otherVersion.message, /different key or key version/);
    assert.deepEqual(
      await client.decrypt({ ciphertext: sealed.ciphertext, keyId: sealed.keyId, annotations: {} }),
      Buffer.from("x"),
      "the key_id alone names the right version",
    );
    assert.equal((await client.status()).healthz, "ok");
  });

  it("a principal the policy denies gets a clear PERMISSION_DENIED", async () => {
    await kms.access.createPrincipal("readonly-plugin");
    await kms.access.attachPolicy("AliyunKMSReadOnlyAccess", "readonly-plugin");
    const readonly = await kms.access.createAccessKey("readonly-plugin");
    const socket = join(dir, "denied.sock");
    const denied = await startPlugin({
      listen: `unix://${socket}`,
      backend: {
        kind: "alibaba",
        endpoint: kms.url,
        regionId: "cn-hangzhou",
        keyId,
        credentials: readonly,
        caPem,
      },
      statusRefreshMs: 60_000,
    });
    const deniedClient = createKmsV2Client({ endpoint: `unix://${socket}`, timeoutMs: 5_000 });
    try {
      const status = await deniedClient.status();
      assert.notEqual(status.healthz, "ok");
      assert.match(status.healthz, /not allowed|Forbidden/);
      const err = await deniedClient.encrypt(Buffer.from("x")).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isAtrestError(err, "permission-denied"), String(err));
      assert.match(err.message, /PERMISSION_DENIED/);
      assert.match(err.message, /kms:Encrypt|not allowed/);
      assert.ok(!err.message.includes(readonly.accessKeySecret));
    } finally {
      deniedClient.close();
      await denied.close();
    }
  });

  it("without the private CA the KMS endpoint is refused, with a hint", async () => {
    const socket = join(dir, "noca.sock");
    const noCa = await startPlugin({
      listen: `unix://${socket}`,
      backend: { kind: "alibaba", endpoint: kms.url, regionId: "cn-hangzhou", keyId, credentials: creds },
      statusRefreshMs: 60_000,
      probeTimeoutMs: 500,
    });
    try {
      const status = await waitFor("first check", () =>
        noCa.status().checks > 0 ? noCa.status() : undefined,
      );
      assert.equal(status.healthy, false);
      assert.match(status.reason, /--ca-file/);
    } finally {
      await noCa.close();
    }
  });
});
