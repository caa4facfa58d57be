/** `atrest plugin` as a process: config file + flags, health endpoints, SIGTERM drains and stops. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKmsV2Client } from "../src/kms-plugin-client/index.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { createSoftHsmToken, findSoftHsmModule } from "./support/softhsm.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer } from "../src/kms/server.js";
import { queryAuditEvents } from "../src/kms/audit-log.js";
import { AtrestKmsSdkClient, SdkConfig, kmsSdk } from "../src/plugin/alibaba-sdk-client.js";

/**
 * The SoftHSM2 tests run everywhere: CI installs softhsm2 (scripts/ensure-deps.mjs, which the test
 * runner calls too). A machine without it fails here with what to install, rather than skipping the
 * PKCS#11 backend silently.
 */
function requireSoftHsm(): void {
  const onPath = (process.env["PATH"] ?? "").split(":").some((d) => existsSync(join(d, "softhsm2-util")));
  if (findSoftHsmModule() === undefined || !onPath) {
    throw new Error(
      "SoftHSM2 is not installed (libsofthsm2.so or softhsm2-util missing): " +
        "run `node scripts/ensure-deps.mjs --system` or `apt-get install softhsm2 opensc`",
    );
  }
}

describe("atrest plugin (CLI)", { timeout: 90_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "atrest-plugin-cli-"));
    writeFileSync(join(dir, "kek"), randomBytes(32).toString("base64") + "\n", { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("serves with a YAML config and flags, reports health, and stops cleanly on SIGTERM", async () => {
    const socket = join(dir, "kms.sock");
    writeFileSync(
      join(dir, "plugin.yaml"),
      [
        `backend: local`,
        `key-file: ${join(dir, "kek")}`,
        `listen: unix://${join(dir, "ignored.sock")}`,
        `status-refresh: 30s`,
        "",
      ].join("\n"),
    );
    const child = spawnAtrest([
      "plugin",
      "--config",
      join(dir, "plugin.yaml"),
      "--listen",
      `unix://${socket}`,
      "--health-listen",
      "127.0.0.1:0",
    ]);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, "exit");
    try {
      const until = Date.now() + 30_000;
      while (!/serving/.test(stdout) && Date.now() < until && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 50));
      assert.match(stdout, /serving unix:\/\//, stderr);
      const healthUrl = /health on (http:\/\/\S+)/.exec(stdout)?.[1];
      assert.ok(healthUrl, stdout);
      assert.equal(statSync(socket).mode & 0o777, 0o600);
      assert.equal(existsSync(join(dir, "ignored.sock")), false, "the flag wins over the config file");
      const client = createKmsV2Client({ endpoint: `unix://${socket}` });
      try {
        const sealed = await client.encrypt(Buffer.from("via the CLI"), { uid: "cli-uid-42" });
        assert.deepEqual(
          await client.decrypt({
            ciphertext: sealed.ciphertext,
            keyId: sealed.keyId,
            annotations: sealed.annotations,
          }),
          Buffer.from("via the CLI"),
        );
      } finally {
        client.close();
      }
      const livez = await fetch(`${healthUrl}/livez`);
      assert.equal(livez.status, 200);
      const healthz = await fetch(`${healthUrl}/healthz`);
      assert.equal(healthz.status, 200);
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.equal(code, 0, stderr);
      assert.equal(existsSync(socket), false, "the socket file is gone after SIGTERM");
      const lines = stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(
        lines.some((l) => l["uid"] === "cli-uid-42" && l["method"] === "v2/Encrypt"),
        "the call's uid is in the JSON log",
      );
      assert.ok(lines.some((l) => l["msg"] === "kms plugin stopped"));
      assert.ok(!stderr.includes("via the CLI"), "no plaintext in the log");
      assert.ok(
        !stderr.includes(readFileSync(join(dir, "kek"), "utf8").trim()),
        "no key material in the log",
      );
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("serves against atrest kms with the files `atrest kms init` writes (--credentials-file, --ca-file)", async () => {
    const kmsDir = join(dir, "kms");
    const init = await initKmsDataDir({ dataDir: kmsDir, accountId: "1234567890123456" });
    const kms = await startKmsServer({ dataDir: kmsDir });
    const socket = join(dir, "alibaba.sock");
    const child = spawnAtrest([
      "plugin",
      "--listen",
      `unix://${socket}`,
      "--kms-endpoint",
      kms.url,
      "--key-id",
      "alias/cli-test",
      "--credentials-file",
      init.credentialsFile,
      "--ca-file",
      init.caCertFile,
      "--status-refresh",
      "1s",
      "--health-listen",
      "127.0.0.1:0",
    ]);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, "exit");
    const admin = new AtrestKmsSdkClient(
      new SdkConfig({
        ...(JSON.parse(readFileSync(init.credentialsFile, "utf8")) as object),
        endpoint: new URL(kms.url).host,
        regionId: "cn-hangzhou",
        protocol: "https",
      }),
      readFileSync(init.caCertFile, "utf8"),
    );
    try {
      const until = Date.now() + 30_000;
      while (!/health on/.test(stdout) && Date.now() < until && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const healthUrl = /health on (http:\/\/\S+)/.exec(stdout)?.[1];
      assert.ok(healthUrl, stderr);
      // The alias does not exist yet: unhealthy with a clear reason, process alive.
      let healthz = await fetch(`${healthUrl}/healthz`);
      for (let i = 0; i < 100 && healthz.status === 200; i++) healthz = await fetch(`${healthUrl}/healthz`);
      assert.equal(healthz.status, 503);
      assert.match(await healthz.text(), /AliasNotFound|does not exist|first KMS check/);
      assert.equal((await fetch(`${healthUrl}/livez`)).status, 200);
      const keyId = (await admin.createKeyEx(new kmsSdk.CreateKeyRequest({}), {} as never)).keyMetadata.keyId;
      await admin.createAliasEx(
        new kmsSdk.CreateAliasRequest({ aliasName: "alias/cli-test", keyId }),
        {} as never,
      );
      const deadline = Date.now() + 20_000;
      while ((await fetch(`${healthUrl}/healthz`)).status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await fetch(`${healthUrl}/healthz`)).status, 200);
      const client = createKmsV2Client({ endpoint: `unix://${socket}`, timeoutMs: 5_000 });
      try {
        const status = await client.status();
        assert.ok(status.keyId.startsWith(`${keyId}:`), status.keyId);
        const sealed = await client.encrypt(Buffer.alloc(32, 3), { uid: "cli-alibaba-uid" });
        assert.deepEqual(
          await client.decrypt({
            ciphertext: sealed.ciphertext,
            keyId: sealed.keyId,
            annotations: sealed.annotations,
          }),
          Buffer.alloc(32, 3),
        );
      } finally {
        client.close();
      }
      await kms.journal.idle();
      const rows = await queryAuditEvents(kms.kdb, { action: "Encrypt" });
      assert.ok(rows.some((r) => r.client_uid === "cli-alibaba-uid"));
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.equal(code, 0, stderr);
      const secret = (JSON.parse(readFileSync(init.credentialsFile, "utf8")) as { accessKeySecret: string })
        .accessKeySecret;
      assert.ok(
        !stderr.includes(secret) && !stdout.includes(secret),
        "the access key secret is never printed",
      );
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await kms.close();
    }
  });

  it("serves with a KEK in a SoftHSM2 token (--pkcs11-* flags)", async () => {
    requireSoftHsm();
    const token = await createSoftHsmToken({ label: "atrest-cli", setProcessEnv: false });
    const socket = join(dir, "hsm.sock");
    const args = [
      "plugin",
      "--backend",
      "local",
      "--listen",
      `unix://${socket}`,
      "--pkcs11-module",
      token.modulePath,
      "--pkcs11-token-label",
      token.tokenLabel,
      "--pkcs11-pin-file",
      token.pinFile,
      "--pkcs11-key-label",
      "kek",
      "--pkcs11-create-key",
    ];
    const child = spawnAtrest(args, { env: token.env });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, "exit");
    try {
      const until = Date.now() + 30_000;
      while (!/serving/.test(stdout) && Date.now() < until && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(stdout, /serving/, stderr);
      const client = createKmsV2Client({ endpoint: `unix://${socket}` });
      try {
        assert.equal((await client.status()).healthz, "ok");
        const sealed = await client.encrypt(Buffer.from("in the token"));
        assert.deepEqual(
          await client.decrypt({
            ciphertext: sealed.ciphertext,
            keyId: sealed.keyId,
            annotations: sealed.annotations,
          }),
          Buffer.from("in the token"),
        );
      } finally {
        client.close();
      }
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.equal(code, 0, stderr);
      assert.ok(!stderr.includes(token.pin), "the PIN is never logged");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      token.cleanup();
    }
  });

  it("rejects unknown config keys and incomplete settings with the key named", async () => {
    writeFileSync(join(dir, "bad.yaml"), "listen: unix:///tmp/x.sock\nbackend: local\nkey_file: /tmp/k\n");
    const bad = await runAtrest(["plugin", "--config", join(dir, "bad.yaml")]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /key_file/);
    const noKey = await runAtrest([
      "plugin",
      "--backend",
      "alibaba",
      "--listen",
      `unix://${join(dir, "n.sock")}`,
      "--kms-endpoint",
      "https://127.0.0.1:1",
    ]);
    assert.equal(noKey.status, 2);
    assert.match(noKey.stderr, /--key-id is required/);
    const noCreds = await runAtrest(
      [
        "plugin",
        "--listen",
        `unix://${join(dir, "n.sock")}`,
        "--kms-endpoint",
        "https://127.0.0.1:1",
        "--key-id",
        "k",
      ],
      {
        env: { ALIBABA_CLOUD_ACCESS_KEY_ID: "", ALIBABA_CLOUD_ACCESS_KEY_SECRET: "" },
      },
    );
    assert.equal(noCreds.status, 2);
    assert.match(noCreds.stderr, /credentials/);
  });
});
