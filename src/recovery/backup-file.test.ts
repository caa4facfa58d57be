import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AtrestError } from "../common/errors.js";
import { BackupFileWriter, newSalt, type NewBackupHeader } from "./backup-file.js";
import { deriveBackupKey, kdfFor, readBackupSecret, type BackupSecret } from "./backup-key.js";
import { backupRecords, unlockBackup } from "./backup-reader.js";

const summary = {
  keys: 0,
  keyVersions: 0,
  softwareKeyVersions: 0,
  hsmKeyVersions: 0,
  aliases: 0,
  tags: 0,
  principals: 1,
  accessKeys: 0,
  policies: 0,
  attachments: 0,
  nonces: 0,
  auditRecords: 0,
  files: 0,
};

async function writeBackup(path: string, secret: BackupSecret, records: unknown[]): Promise<void> {
  const salt = newSalt();
  const kdf = kdfFor(secret, { insecureLowKdfCost: true });
  const key = await deriveBackupKey(secret, kdf, salt);
  const header: NewBackupHeader = {
    backupId: "6a0b5c1e-1f1e-4b7e-9a38-2c1d6f0e9b11",
    createdAt: "2026-01-01T00:00:00.000Z",
    source: { accountId: "1", region: "cn-hangzhou", database: "sqlite", schema: ["0001-initial"] },
    kdf,
    salt: salt.toString("base64"),
    keyCheck: key.keyCheck.toString("base64"),
    summary,
    hsm: [],
    auditHead: { seq: 0, hash: "0".repeat(64) },
  };
  const w = await BackupFileWriter.create(path, header, key.encryptionKey);
  for (const r of records) await w.record(r);
  await w.finish();
}

async function readAll(path: string, secret: BackupSecret): Promise<unknown[]> {
  const { opened, encryptionKey } = await unlockBackup(path, secret);
  const out: unknown[] = [];
  for await (const r of backupRecords(opened, encryptionKey)) out.push(r);
  return out;
}

async function errorOf(p: Promise<unknown>): Promise<AtrestError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AtrestError, `not an AtrestError: ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/, "one line");
    return err;
  }
  assert.fail("expected an error");
}

/** Replaces the trailer with the right checksum for the (modified) bytes before it. */
function withFixedTrailer(bytes: Buffer): Buffer {
  const body = bytes.subarray(0, bytes.length - 72);
  return Buffer.concat([body, Buffer.from(`sha256:${createHash("sha256").update(body).digest("hex")}\n`)]);
}

describe("KMS backup file format", () => {
  let dir: string;
  let keySecret: BackupSecret;
  let otherKey: BackupSecret;
  const records = [
    {
      t: "principal",
      principal_name: "admin",
      created_at: 1,
      principal_type: "user",
      principal_id: "",
      display_name: "",
      description: "",
      trust_policy: null,
      max_session_duration_s: null,
      password_hash: null,
      password_reset_required: 0,
    },
    // Big enough for several 64 KiB frames.
    ...Array.from({ length: 3 }, (_, i) => ({
      t: "policy",
      policy_name: `p${i}`,
      document: "x".repeat(70_000),
      created_at: i,
    })),
    { t: "end", records: 4 },
  ];
  let file: string;
  let good: Buffer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-backup-file-"));
    writeFileSync(join(dir, "key"), randomBytes(32).toString("base64") + "\n", { mode: 0o600 });
    writeFileSync(join(dir, "other"), randomBytes(32), { mode: 0o600 });
    keySecret = readBackupSecret({ keyFile: join(dir, "key") });
    otherKey = readBackupSecret({ keyFile: join(dir, "other") });
    file = join(dir, "b.bak");
    await writeBackup(file, keySecret, records);
    good = readFileSync(file);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("round-trips its records across frames; the file is 0600 and its header is readable JSON", async () => {
    assert.deepEqual(await readAll(file, keySecret), records);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const lines = good.subarray(0, 4096).toString("latin1").split("\n");
    assert.equal(lines[0], "atrest-kms-backup");
    const header = JSON.parse(lines[1]!) as Record<string, unknown>;
    assert.equal(header.format, 1);
    assert.equal(header.cipher, "AES-256-GCM");
    assert.equal(good.toString("latin1").includes("x".repeat(64)), false, "the payload is encrypted");
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith(".tmp")),
      [],
      "no temp file left",
    );
  });

  it("refuses to overwrite an existing file", async () => {
    const e = await errorOf(writeBackup(file, keySecret, records));
    assert.equal(e.code, "already-exists");
    assert.deepEqual(readFileSync(file), good);
  });

  it("a flipped byte anywhere is refused as damaged, before any key is derived", async () => {
    const bad = join(dir, "flipped.bak");
    const step = Math.max(1, Math.floor(good.length / 400));
    let tried = 0;
    for (let i = 0; i < good.length; i += step) {
      const copy = Buffer.from(good);
      copy[i] = copy[i]! ^ (1 << (tried % 8));
      writeFileSync(bad, copy, { mode: 0o600 });
      const e = await errorOf(readAll(bad, keySecret));
      assert.equal(e.code, "data-corrupt", `byte ${i}: ${e.message}`);
      assert.match(e.message, /damaged|truncated|does not start like/, `byte ${i}`);
      tried++;
    }
    assert.ok(tried > 350, `tried ${tried} positions`);
  });

  it("a truncated file is refused", async () => {
    const bad = join(dir, "short.bak");
    for (const len of [0, 5, 18, 19, 200, good.length - 73, good.length - 72, good.length - 1]) {
      writeFileSync(bad, good.subarray(0, len), { mode: 0o600 });
      const e = await errorOf(readAll(bad, keySecret));
      assert.equal(e.code, "data-corrupt", `length ${len}: ${e.message}`);
    }
  });

  it("tampering that also fixes the checksum fails authentication (header or any frame byte)", async () => {
    const bad = join(dir, "tampered.bak");
    const headerEnd = good.indexOf(0x0a, 18) + 1;
    const positions = [
      headerEnd - 10, // inside the header JSON
      headerEnd + 2, // a frame length
      headerEnd + 4, // first ciphertext byte
      ...Array.from(
        { length: 40 },
        (_, k) => headerEnd + 5 + Math.floor(((good.length - 80 - headerEnd) * k) / 40),
      ),
    ];
    for (const i of positions) {
      const copy = Buffer.from(good);
      copy[i] = copy[i]! ^ 0x01;
      writeFileSync(bad, withFixedTrailer(copy), { mode: 0o600 });
      const e = await errorOf(readAll(bad, keySecret));
      assert.ok(
        e.code === "data-corrupt" || e.code === "unauthenticated",
        `byte ${i}: ${e.code} ${e.message}`,
      );
    }
    // Dropping the final frame (and fixing the checksum) is caught too.
    const lastFrameLen = (() => {
      let at = headerEnd;
      let last = at;
      while (at < good.length - 72) {
        last = at;
        at += 4 + good.readUInt32BE(at) + 16;
      }
      return good.length - 72 - last;
    })();
    writeFileSync(
      bad,
      withFixedTrailer(
        Buffer.concat([good.subarray(0, good.length - 72 - lastFrameLen), good.subarray(good.length - 72)]),
      ),
      { mode: 0o600 },
    );
    const e = await errorOf(readAll(bad, keySecret));
    assert.equal(e.code, "data-corrupt");
    assert.match(e.message, /failed authentication/);
  });

  it("the wrong key is told apart from damage; a passphrase backup asks for a passphrase", async () => {
    const e = await errorOf(readAll(file, otherKey));
    assert.equal(e.code, "unauthenticated");
    writeFileSync(join(dir, "pass"), "a long enough passphrase\n", { mode: 0o600 });
    const pass = readBackupSecret({ passphraseFile: join(dir, "pass") });
    const e2 = await errorOf(readAll(file, pass));
    assert.equal(e2.code, "invalid-argument");
    assert.match(e2.message, /key file/);
  });

  it("secret files must be owner-only, passphrases long enough, key files 32 bytes", () => {
    writeFileSync(join(dir, "open"), "a long enough passphrase\n", { mode: 0o600 });
    chmodSync(join(dir, "open"), 0o640);
    assert.throws(() => readBackupSecret({ passphraseFile: join(dir, "open") }), /chmod 600/);
    writeFileSync(join(dir, "short"), "short\n", { mode: 0o600 });
    assert.throws(() => readBackupSecret({ passphraseFile: join(dir, "short") }), /at least 12/);
    writeFileSync(join(dir, "k31"), randomBytes(31), { mode: 0o600 });
    assert.throws(() => readBackupSecret({ keyFile: join(dir, "k31") }), /32 bytes/);
    assert.throws(() => readBackupSecret({}), /exactly one/);
  });
});
