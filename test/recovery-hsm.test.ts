import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { initKmsDataDir } from "../src/kms/init.js";
import { createPkcs11Protection } from "../src/kms/protection/pkcs11.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { readBackupSecret } from "../src/recovery/backup-key.js";
import { backupRecords, unlockBackup } from "../src/recovery/backup-reader.js";
import { runAtrest } from "./support/cli.js";
import { createSoftHsmToken, type SoftHsmToken } from "./support/softhsm.js";

// HSM-protected key versions in a KMS backup (SoftHSM2 through PKCS#11): named in the backup, never
// exported, and restored only onto a token that holds them.

describe("KMS backup and restore with HSM keys (SoftHSM2)", { timeout: 240_000 }, () => {
  let token: SoftHsmToken;
  let dir: string;
  let kmsDir: string;
  let server: KmsServer | undefined;
  let creds: { accessKeyId: string; accessKeySecret: string };
  let hsmKey: string;
  const blobs: Array<{ blob: string; plaintext: string }> = [];
  let backup: string;
  let pass: string;

  async function serve(): Promise<KmsRpcTestClient> {
    const hsm = await createPkcs11Protection({
      modulePath: token.modulePath,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
    });
    server = await startKmsServer({ dataDir: kmsDir, hsm, schedulerIntervalMs: 0 });
    return new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  }

  before(async () => {
    token = await createSoftHsmToken({ label: "atrest-recovery" });
    dir = mkdtempSync(join(tmpdir(), "atrest-recovery-hsm-"));
    kmsDir = join(dir, "kms");
    await initKmsDataDir({ dataDir: kmsDir });
    creds = JSON.parse(readFileSync(join(kmsDir, "credentials.json"), "utf8")) as typeof creds;
    const client = await serve();
    try {
      hsmKey = String(
        ((await client.call("CreateKey", { ProtectionLevel: "HSM" })).KeyMetadata as Record<string, unknown>)
          .KeyId,
      );
      const softKey = String(
        ((await client.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId,
      );
      for (const [k, p] of [
        [hsmKey, "aHNtLW9uZQ=="],
        [softKey, "c29mdA=="],
      ] as const) {
        const enc = await client.call("Encrypt", { KeyId: k, Plaintext: p });
        blobs.push({ blob: String(enc.CiphertextBlob), plaintext: p });
      }
      await client.call("CreateKeyVersion", { KeyId: hsmKey });
      const enc = await client.call("Encrypt", { KeyId: hsmKey, Plaintext: "aHNtLXR3bw==" });
      blobs.push({ blob: String(enc.CiphertextBlob), plaintext: "aHNtLXR3bw==" });
    } finally {
      client.close();
      await server?.close();
      server = undefined;
    }
    pass = join(dir, "pass");
    writeFileSync(pass, "hsm backups name, never export\n", { mode: 0o600 });
    backup = join(dir, "kms.backup");
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    token?.cleanup();
  });

  it("names the HSM key versions in the header and carries no material for them", async () => {
    const r = await runAtrest(
      [
        "kms",
        "backup",
        "--data-dir",
        kmsDir,
        "--out",
        backup,
        "--passphrase-file",
        pass,
        "--insecure-low-kdf-cost",
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const header = JSON.parse(readFileSync(backup, "latin1").split("\n")[1]!) as {
      hsm: Array<{ keyId: string; tokenLabel: string; ckaId: string }>;
      summary: { hsmKeyVersions: number; softwareKeyVersions: number };
    };
    assert.equal(header.summary.hsmKeyVersions, 2);
    assert.equal(header.summary.softwareKeyVersions, 1);
    assert.equal(header.hsm.length, 2);
    for (const h of header.hsm) {
      assert.equal(h.keyId, hsmKey);
      assert.equal(h.tokenLabel, "atrest-recovery");
      assert.match(h.ckaId, /^[0-9a-f]+$/);
    }
    const { opened, encryptionKey } = await unlockBackup(backup, readBackupSecret({ passphraseFile: pass }));
    let hsmVersions = 0;
    for await (const rec of backupRecords(opened, encryptionKey)) {
      if (rec.t !== "keyVersion" || rec.protection_level !== "HSM") continue;
      hsmVersions++;
      assert.equal(rec.material, undefined);
      assert.match(rec.hsmRef!, /"tokenLabel":"atrest-recovery"/);
    }
    assert.equal(hsmVersions, 2);
  });

  it("restores only onto a token that holds the keys, then decrypts what was made before", async () => {
    rmSync(kmsDir, { recursive: true, force: true });
    const restore = (extra: string[]) =>
      runAtrest(
        ["kms", "restore", "--from", backup, "--data-dir", kmsDir, "--passphrase-file", pass, ...extra],
        {
          timeoutMs: 60_000,
        },
      );
    const noToken = await restore([]);
    assert.equal(noToken.status, 6, noToken.stderr);
    assert.match(noToken.stderr, /HSM key versions \(token "atrest-recovery".*give --pkcs11-module/);
    // Another token (same module, no such objects).
    execFileSync(
      "softhsm2-util",
      ["--init-token", "--free", "--label", "empty-token", "--pin", token.pin, "--so-pin", token.soPin],
      { env: { ...process.env, ...token.env }, stdio: "ignore" },
    );
    const hsmFlags = (label: string) => [
      "--pkcs11-module",
      token.modulePath,
      "--pkcs11-token-label",
      label,
      "--pkcs11-pin-file",
      token.pinFile,
    ];
    const wrongToken = await restore(hsmFlags("empty-token"));
    assert.equal(wrongToken.status, 6, wrongToken.stderr);
    assert.match(wrongToken.stderr, /the token given does not hold HSM key .* missing from the token/);
    assert.equal(existsSync(kmsDir), false, "nothing was written");
    const ok = await restore(hsmFlags("atrest-recovery"));
    assert.equal(ok.status, 0, ok.stderr);
    const client = await serve();
    try {
      for (const b of blobs)
        assert.equal((await client.call("Decrypt", { CiphertextBlob: b.blob })).Plaintext, b.plaintext);
    } finally {
      client.close();
    }
  });
});
