import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ADMIN_IDENTITY_POLICIES, initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { runAtrest, type CliResult } from "./support/cli.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

// atrest kms backup / restore through the CLI, on a KMS holding every kind of state: keys in each
// state, versions, aliases, tags, a rotation policy, principals, an access key, a custom policy and
// its attachment; ciphertexts made before the backup; then the data dir is lost and restored (SQLite,
// and PostgreSQL). Bad input is refused with one line, its own exit code, and nothing written.

interface Creds {
  accessKeyId: string;
  accessKeySecret: string;
}

const PASSPHRASE = "correct horse battery staple, twice";

function kmsCli(args: string[]): Promise<CliResult> {
  return runAtrest(["kms", ...args], { timeoutMs: 120_000 });
}

/** One line on stderr, the expected exit status. */
function refused(r: CliResult, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, `exit ${String(r.status)}: ${r.stderr}`);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

describe("atrest kms backup and restore", { timeout: 300_000 }, () => {
  let dir: string;
  let kmsDir: string;
  let server: KmsServer | undefined;
  let admin: KmsRpcTestClient;
  let adminCreds: Creds;
  let appCreds: Creds;
  let keyA: string;
  let keyB: string;
  let keyC: string;
  let backup: string;
  let pass: string;
  const blobs: Array<{ blob: string; plaintext: string; context?: string }> = [];
  let before_: { a: Record<string, unknown>; b: Record<string, unknown>; c: Record<string, unknown> };
  let pg: TestPostgres | undefined;

  const describeKey = async (c: KmsRpcTestClient, id: string) =>
    (await c.call("DescribeKey", { KeyId: id })).KeyMetadata as Record<string, unknown>;

  async function serve(dataDir: string, database?: string): Promise<void> {
    server = await startKmsServer({
      dataDir,
      schedulerIntervalMs: 0,
      cacheTtlMs: 0,
      ...(database === undefined ? {} : { database }),
    });
    admin = new KmsRpcTestClient({ url: server.url, ...adminCreds, caCertPem: server.caCertPem });
  }

  async function stop(): Promise<void> {
    admin?.close();
    await server?.close();
    server = undefined;
  }

  /** Everything the restored KMS must still do and know. */
  async function assertRestored(): Promise<void> {
    for (const b of blobs) {
      const r = await admin.call("Decrypt", {
        CiphertextBlob: b.blob,
        ...(b.context === undefined ? {} : { EncryptionContext: b.context }),
      });
      assert.equal(r.Plaintext, b.plaintext);
    }
    const a = await describeKey(admin, keyA);
    const b = await describeKey(admin, keyB);
    const c = await describeKey(admin, keyC);
    assert.deepEqual(a, before_.a);
    assert.deepEqual(b, before_.b);
    assert.deepEqual(c, before_.c);
    const versions = (await admin.call("ListKeyVersions", { KeyId: keyA })).KeyVersions as {
      KeyVersion: unknown[];
    };
    assert.equal(versions.KeyVersion.length, 2);
    const aliases = (await admin.call("ListAliasesByKeyId", { KeyId: keyA })).Aliases as {
      Alias: Array<{ AliasName: string }>;
    };
    assert.deepEqual(
      aliases.Alias.map((x) => x.AliasName),
      ["alias/app-a"],
    );
    const tags = (await admin.call("ListResourceTags", { KeyId: keyA })).Tags as {
      Tag: Array<{ TagKey: string; TagValue: string }>;
    };
    assert.deepEqual(tags.Tag.map((t) => `${t.TagKey}=${t.TagValue}`).sort(), ["env=prod", "team=payments"]);
    // The app's access key (secret re-sealed under the new root key) still signs, with its policy.
    const app = new KmsRpcTestClient({ url: server!.url, ...appCreds, caCertPem: server!.caCertPem });
    try {
      const enc = await app.call("Encrypt", { KeyId: "alias/app-a", Plaintext: "YXBw" });
      assert.equal(
        (await app.call("Decrypt", { CiphertextBlob: String(enc.CiphertextBlob) })).Plaintext,
        "YXBw",
      );
      const denied = await app.raw("CreateKey", {});
      assert.equal(denied.status, 403, "the custom policy still limits the app");
    } finally {
      app.close();
    }
    // The disabled key stays disabled, the one pending deletion stays so.
    assert.equal(
      (await admin.raw("Encrypt", { KeyId: keyB, Plaintext: "eA==" })).body.Code,
      "Rejected.Disabled",
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-recovery-kms-"));
    kmsDir = join(dir, "kms");
    await initKmsDataDir({ dataDir: kmsDir, accountId: "1234567890123456" });
    adminCreds = JSON.parse(readFileSync(join(kmsDir, "credentials.json"), "utf8")) as Creds;
    await serve(kmsDir);

    keyA = String(
      ((await admin.call("CreateKey", { Description: "app key" })).KeyMetadata as Record<string, unknown>)
        .KeyId,
    );
    await admin.call("UpdateRotationPolicy", {
      KeyId: keyA,
      EnableAutomaticRotation: "true",
      RotationInterval: "30d",
    });
    await admin.call("CreateAlias", { AliasName: "alias/app-a", KeyId: keyA });
    await admin.call("TagResource", {
      KeyId: keyA,
      Tags: JSON.stringify([
        { TagKey: "team", TagValue: "payments" },
        { TagKey: "env", TagValue: "prod" },
      ]),
    });
    const enc1 = await admin.call("Encrypt", {
      KeyId: keyA,
      Plaintext: "b25l",
      EncryptionContext: '{"ns":"a"}',
    });
    blobs.push({ blob: String(enc1.CiphertextBlob), plaintext: "b25l", context: '{"ns":"a"}' });
    await admin.call("CreateKeyVersion", { KeyId: keyA });
    const enc2 = await admin.call("Encrypt", { KeyId: keyA, Plaintext: "dHdv" });
    blobs.push({ blob: String(enc2.CiphertextBlob), plaintext: "dHdv" });
    assert.notEqual(enc1.KeyVersionId, enc2.KeyVersionId);

    keyB = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    // A cluster's claim overridden with Force: the audit record is marked forced (its own hash field),
    // which the restored chain must keep verifiable.
    await admin.call("TagResource", {
      KeyId: keyB,
      Tags: JSON.stringify([{ TagKey: "atrest:cluster:demo", TagValue: "read" }]),
    });
    await admin.call("DisableKey", { KeyId: keyB, Force: "true" });
    keyC = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    await admin.call("ScheduleKeyDeletion", { KeyId: keyC, PendingWindowInDays: "7" });

    await admin.call("CreatePrincipal", { PrincipalName: "app" });
    const ak = await admin.call("CreateAccessKey", { PrincipalName: "app" });
    appCreds = { accessKeyId: String(ak.AccessKeyId), accessKeySecret: String(ak.AccessKeySecret) };
    await admin.call("CreatePolicy", {
      PolicyName: "app-crypto",
      PolicyDocument: JSON.stringify({
        Version: "1",
        Statement: [{ Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt"], Resource: ["*"] }],
      }),
    });
    await admin.call("AttachPolicy", { PolicyName: "app-crypto", PrincipalName: "app" });
    before_ = {
      a: await describeKey(admin, keyA),
      b: await describeKey(admin, keyB),
      c: await describeKey(admin, keyC),
    };
    pass = join(dir, "passphrase");
    writeFileSync(pass, `${PASSPHRASE}\n`, { mode: 0o600 });
    backup = join(dir, "kms.backup");
  });

  after(async () => {
    await stop();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("backs up the running KMS: counts, HSM-free, no secret in the clear, mode 0600", async () => {
    const r = await kmsCli([
      "backup",
      "--data-dir",
      kmsDir,
      "--out",
      backup,
      "--passphrase-file",
      pass,
      "--insecure-low-kdf-cost",
      "-o",
      "json",
    ]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      summary: Record<string, number>;
      auditHead: { seq: number };
      path: string;
    };
    assert.equal(out.path, backup);
    assert.deepEqual(
      {
        keys: out.summary.keys,
        keyVersions: out.summary.keyVersions,
        hsm: out.summary.hsmKeyVersions,
        aliases: out.summary.aliases,
        tags: out.summary.tags,
        principals: out.summary.principals,
        accessKeys: out.summary.accessKeys,
        policies: out.summary.policies,
        attachments: out.summary.attachments,
        files: out.summary.files,
      },
      {
        keys: 3,
        keyVersions: 4,
        hsm: 0,
        aliases: 1,
        tags: 3,
        principals: 2,
        accessKeys: 2,
        policies: 1,
        // admin: the KMS policy and the identity services' ones; app: app-crypto
        attachments: 1 + ADMIN_IDENTITY_POLICIES.length + 1,
        files: 5,
      },
    );
    assert.ok(out.auditHead.seq >= 10, `audit head ${out.auditHead.seq}`);
    const bytes = readFileSync(backup);
    assert.equal((await import("node:fs")).statSync(backup).mode & 0o777, 0o600);
    for (const secret of [appCreds.accessKeySecret, adminCreds.accessKeySecret, "PRIVATE KEY"])
      assert.equal(bytes.includes(Buffer.from(secret)), false, "a secret is in the backup in the clear");
    // The same name again is refused, the first backup is untouched.
    refused(
      await kmsCli([
        "backup",
        "--data-dir",
        kmsDir,
        "--out",
        backup,
        "--passphrase-file",
        pass,
        "--insecure-low-kdf-cost",
      ]),
      7,
      /exists; refusing to overwrite/,
    );
    assert.deepEqual(readFileSync(backup), bytes);
  });

  it("refuses bad input with one line and its own exit status, writing nothing", async () => {
    const target = join(dir, "restored-bad");
    const restore = (from: string, extra: string[] = [], passFile = pass) =>
      kmsCli(["restore", "--from", from, "--data-dir", target, "--passphrase-file", passFile, ...extra]);
    const good = readFileSync(backup);
    // A flipped byte in the header and in a frame (every position: src/recovery/backup-file.test.ts).
    for (const at of [30, Math.floor(good.length / 2)]) {
      const bad = Buffer.from(good);
      bad[at] = bad[at]! ^ 0x40;
      writeFileSync(join(dir, "bad.backup"), bad, { mode: 0o600 });
      refused(
        await restore(join(dir, "bad.backup")),
        4,
        /is not a usable KMS backup: the file is (damaged|truncated)/,
      );
    }
    writeFileSync(join(dir, "short.backup"), good.subarray(0, good.length - 100), { mode: 0o600 });
    refused(await restore(join(dir, "short.backup")), 4, /truncated|damaged/);
    const wrong = join(dir, "wrong-passphrase");
    writeFileSync(wrong, "not the passphrase at all\n", { mode: 0o600 });
    refused(await restore(backup, [], wrong), 5, /does not open the backup/);
    const open = join(dir, "readable-passphrase");
    writeFileSync(open, `${PASSPHRASE}\n`, { mode: 0o600 });
    chmodSync(open, 0o644);
    refused(await restore(backup, [], open), 2, /chmod 600/);
    // The data dir a running KMS serves.
    refused(
      await kmsCli([
        "restore",
        "--from",
        backup,
        "--data-dir",
        kmsDir,
        "--passphrase-file",
        pass,
        "--replace",
      ]),
      6,
      /in use by a running KMS server/,
    );
    assert.equal(existsSync(target), false, "no data dir was created");
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes(".restore-")),
      [],
      "no temp dir left",
    );
    // A dry run checks everything and writes nothing.
    const dry = await restore(backup, ["--dry-run", "-o", "json"]);
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal((JSON.parse(dry.stdout) as { dryRun: boolean }).dryRun, true);
    assert.equal(existsSync(target), false);
  });

  it("restores a lost data dir with a new root key: every ciphertext decrypts, all state is back, the audit chain continues", async () => {
    const oldRootKey = readFileSync(join(kmsDir, "root.key"), "utf8");
    await stop();
    rmSync(kmsDir, { recursive: true, force: true });
    const r = await kmsCli([
      "restore",
      "--from",
      backup,
      "--data-dir",
      kmsDir,
      "--passphrase-file",
      pass,
      "-o",
      "json",
    ]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { auditHead: { seq: number }; database: string };
    assert.equal(out.database, "sqlite");
    assert.notEqual(readFileSync(join(kmsDir, "root.key"), "utf8"), oldRootKey, "a new root key");
    for (const f of ["root.key", "credentials.json", "kms.json", "tls/tls.key", "kms.db"])
      assert.equal((await import("node:fs")).statSync(join(kmsDir, f)).mode & 0o077, 0, `${f} is owner-only`);
    await serve(kmsDir);
    await assertRestored();
    const audit = await kmsCli(["verify-audit", "--data-dir", kmsDir, "-o", "json"]);
    assert.equal(audit.status, 0, audit.stdout + audit.stderr);
    assert.equal((JSON.parse(audit.stdout) as { ok: boolean }).ok, true);
    const events = JSON.parse(
      (await kmsCli(["events", "--data-dir", kmsDir, "--action", "RestoreFromBackup", "-o", "json"])).stdout,
    ) as { events: Array<{ seq: number; clientUid: string }> };
    assert.equal(events.events.length, 1);
    assert.equal(events.events[0]!.seq, out.auditHead.seq);
    assert.match(events.events[0]!.clientUid, /^backup:/);
    const disables = JSON.parse(
      (await kmsCli(["events", "--data-dir", kmsDir, "--action", "DisableKey", "-o", "json"])).stdout,
    ) as { events: Array<{ keyId: string; forced?: boolean }> };
    assert.ok(
      disables.events.some((e) => e.keyId === keyB && e.forced === true),
      "the forced DisableKey is still recorded as forced after the restore",
    );
  });

  it("--replace keeps the replaced dir beside the restored one", async () => {
    await stop();
    const r = await kmsCli([
      "restore",
      "--from",
      backup,
      "--data-dir",
      kmsDir,
      "--passphrase-file",
      pass,
      "-o",
      "json",
    ]);
    refused(r, 7, /already holds a KMS data dir/);
    const replaced = await kmsCli([
      "restore",
      "--from",
      backup,
      "--data-dir",
      kmsDir,
      "--passphrase-file",
      pass,
      "--replace",
      "-o",
      "json",
    ]);
    assert.equal(replaced.status, 0, replaced.stderr);
    const prev = (JSON.parse(replaced.stdout) as { previousDataDir: string }).previousDataDir;
    assert.ok(existsSync(join(prev, "root.key")) && existsSync(join(prev, "kms.db")), "the old dir is kept");
    assert.equal(existsSync(join(prev, "restoring.json")), false);
    await serve(kmsDir);
    await assertRestored();
  });

  it("restores into an empty PostgreSQL database, backs up from it, and refuses a database that holds a key store", async () => {
    await stop();
    pg = await startTestPostgres();
    const pgDir = join(dir, "kms-pg");
    const r = await kmsCli([
      "restore",
      "--from",
      backup,
      "--data-dir",
      pgDir,
      "--database",
      pg.url,
      "--passphrase-file",
      pass,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      (JSON.parse(readFileSync(join(pgDir, "kms.json"), "utf8")) as { database: string }).database,
      "postgres",
    );
    assert.equal(existsSync(join(pgDir, "kms.db")), false);
    await serve(pgDir, pg.url);
    await assertRestored();
    // A backup read from PostgreSQL while it serves, restored onto SQLite.
    const fromPg = join(dir, "from-pg.backup");
    const b = await kmsCli([
      "backup",
      "--data-dir",
      pgDir,
      "--database",
      pg.url,
      "--out",
      fromPg,
      "--passphrase-file",
      pass,
      "--insecure-low-kdf-cost",
    ]);
    assert.equal(b.status, 0, b.stderr);
    // The database now holds a key store: refused, whatever the data dir.
    refused(
      await kmsCli([
        "restore",
        "--from",
        backup,
        "--data-dir",
        join(dir, "kms-pg2"),
        "--database",
        pg.url,
        "--passphrase-file",
        pass,
      ]),
      6,
      /in use by a running KMS server|PostgreSQL key store is in use/,
    );
    await stop();
    refused(
      await kmsCli([
        "restore",
        "--from",
        backup,
        "--data-dir",
        join(dir, "kms-pg2"),
        "--database",
        pg.url,
        "--passphrase-file",
        pass,
      ]),
      7,
      /already holds a key store/,
    );
    assert.equal(existsSync(join(dir, "kms-pg2")), false);
    const sqliteDir = join(dir, "kms-from-pg");
    const back = await kmsCli([
      "restore",
      "--from",
      fromPg,
      "--data-dir",
      sqliteDir,
      "--passphrase-file",
      pass,
    ]);
    assert.equal(back.status, 0, back.stderr);
    await serve(sqliteDir);
    await assertRestored();
    const audit = await kmsCli(["verify-audit", "--data-dir", sqliteDir]);
    assert.equal(audit.status, 0, audit.stdout);
  });
});
