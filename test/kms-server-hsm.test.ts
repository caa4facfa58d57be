import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { initKmsDataDir } from "../src/kms/init.js";
import { createPkcs11Protection } from "../src/kms/protection/pkcs11.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { spawnAtrest } from "./support/cli.js";
import { waitForKmsUrl } from "./support/kms.js";
import { createSoftHsmToken, type SoftHsmToken } from "./support/softhsm.js";

describe("HSM keys through the KMS API (SoftHSM2 via PKCS#11)", { timeout: 180_000 }, () => {
  let token: SoftHsmToken;
  let dir: string;
  let server: KmsServer;
  let client: KmsRpcTestClient;
  let creds: { accessKeyId: string; accessKeySecret: string };

  before(async () => {
    token = await createSoftHsmToken({ label: "atrest-kms-server" });
    dir = mkdtempSync(join(tmpdir(), "atrest-kms-hsm-"));
    await initKmsDataDir({ dataDir: dir });
    const hsm = await createPkcs11Protection({
      modulePath: token.modulePath,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
    });
    server = await startKmsServer({ dataDir: dir, hsm, schedulerIntervalMs: 0 });
    creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as typeof creds;
    client = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  });

  after(async () => {
    client?.close();
    await server?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    token?.cleanup();
  });

  it("an HSM key encrypts, rotates and decrypts old ciphertexts; only a token reference is stored", async () => {
    const md = (await client.call("CreateKey", { ProtectionLevel: "HSM" })).KeyMetadata as Record<
      string,
      unknown
    >;
    assert.equal(md.ProtectionLevel, "HSM");
    const keyId = String(md.KeyId);
    const enc = await client.call("Encrypt", {
      KeyId: keyId,
      Plaintext: "aHNt",
      EncryptionContext: '{"k":"v"}',
    });
    await client.call("CreateKeyVersion", { KeyId: keyId });
    const enc2 = await client.call("Encrypt", { KeyId: keyId, Plaintext: "aHNtMg==" });
    assert.notEqual(enc2.KeyVersionId, enc.KeyVersionId);
    assert.equal(
      (
        await client.call("Decrypt", {
          CiphertextBlob: String(enc.CiphertextBlob),
          EncryptionContext: '{"k":"v"}',
        })
      ).Plaintext,
      "aHNt",
    );
    assert.equal(
      (await client.call("Decrypt", { CiphertextBlob: String(enc2.CiphertextBlob) })).Plaintext,
      "aHNtMg==",
    );
    assert.equal(
      (
        await client.raw("Decrypt", {
          CiphertextBlob: String(enc.CiphertextBlob),
          EncryptionContext: '{"k":"w"}',
        })
      ).body.Code,
      "InvalidCiphertext",
    );
    const rows = await server.kdb.db
      .selectFrom("key_versions")
      .select(["protection_level", "stored_ref"])
      .where("key_id", "=", keyId)
      .execute();
    assert.equal(rows.length, 2);
    for (const r of rows) {
      assert.equal(r.protection_level, "HSM");
      assert.match(
        r.stored_ref.toString("utf8"),
        /pkcs11-key-ref/,
        "a reference to a token object, not material",
      );
    }
  });

  it("without a PKCS#11 module, HSM keys are refused with InvalidParameter", async () => {
    const dir2 = mkdtempSync(join(tmpdir(), "atrest-kms-nohsm-"));
    try {
      await initKmsDataDir({ dataDir: dir2 });
      const plain = await startKmsServer({ dataDir: dir2, schedulerIntervalMs: 0 });
      const c2 = new KmsRpcTestClient({
        url: plain.url,
        ...(JSON.parse(readFileSync(join(dir2, "credentials.json"), "utf8")) as typeof creds),
        caCertPem: plain.caCertPem,
      });
      try {
        assert.equal((await c2.raw("CreateKey", { ProtectionLevel: "HSM" })).body.Code, "InvalidParameter");
      } finally {
        c2.close();
        await plain.close();
      }
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it("`atrest kms serve --pkcs11-module … --pkcs11-token-label … --pkcs11-pin-file …` serves HSM keys", async () => {
    // A separate data dir (a token object is reachable from whichever server holds the token).
    const dir3 = mkdtempSync(join(tmpdir(), "atrest-kms-hsmcli-"));
    await initKmsDataDir({ dataDir: dir3 });
    const child = spawnAtrest(
      [
        "kms",
        "serve",
        "--data-dir",
        dir3,
        "--listen",
        "127.0.0.1:0",
        "--pkcs11-module",
        token.modulePath,
        "--pkcs11-token-label",
        token.tokenLabel,
        "--pkcs11-pin-file",
        token.pinFile,
      ],
      { env: { ...token.env } },
    );
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      const url = await waitForKmsUrl(child, 90_000);
      const c3 = new KmsRpcTestClient({
        url,
        ...(JSON.parse(readFileSync(join(dir3, "credentials.json"), "utf8")) as typeof creds),
        caCertPem: readFileSync(join(dir3, "tls", "ca.crt"), "utf8"),
      });
      try {
        const keyId = String(
          ((await c3.call("CreateKey", { ProtectionLevel: "HSM" })).KeyMetadata as Record<string, unknown>)
            .KeyId,
        );
        const enc = await c3.call("Encrypt", { KeyId: keyId, Plaintext: "Y2xp" });
        assert.equal(
          (await c3.call("Decrypt", { CiphertextBlob: String(enc.CiphertextBlob) })).Plaintext,
          "Y2xp",
        );
      } finally {
        c3.close();
      }
    } finally {
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
      rmSync(dir3, { recursive: true, force: true });
    }
  });
});
