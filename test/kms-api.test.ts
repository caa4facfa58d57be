import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { queryAuditEvents, verifyAuditChain } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";

function get(url: string, ca: string | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ...(ca === undefined ? {} : { ca }) }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on("error", reject);
  });
}

describe("atrest kms over HTTPS (signed requests, audit)", () => {
  let dir: string;
  let server: KmsServer;
  let admin: KmsRpcTestClient;
  let creds: { accessKeyId: string; accessKeySecret: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-kms-api-"));
    await initKmsDataDir({ dataDir: dir, accountId: "1234567890123456" });
    server = await startKmsServer({ dataDir: dir, schedulerIntervalMs: 0 });
    creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as typeof creds;
    admin = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  });

  after(async () => {
    admin.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a call expected to fail; returns its status/code and checks one audit record says so. */
  async function expectError(
    client: KmsRpcTestClient,
    action: string,
    params: Record<string, string>,
    expected: { status: number; code: string },
    options: Parameters<KmsRpcTestClient["raw"]>[2] = {},
  ): Promise<void> {
    const res = await client.raw(action, params, options);
    assert.equal(res.body.Code, expected.code, `${action}: ${JSON.stringify(res.body)}`);
    assert.equal(res.status, expected.status);
    for (const f of ["RequestId", "HostId", "Message", "Recommend"])
      assert.equal(typeof res.body[f], "string", f);
    const events = await queryAuditEvents(server.kdb, {});
    const mine = events.filter((e) => e.request_id === res.body.RequestId);
    assert.equal(mine.length, 1, "every rejected request is audited once");
    assert.equal(mine[0]!.error_code, expected.code);
    assert.notEqual(mine[0]!.outcome, "Allowed");
  }

  it("init wrote 0600 secrets and refuses to overwrite", async () => {
    assert.equal(statSync(join(dir, "root.key")).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "credentials.json")).mode & 0o777, 0o600);
    assert.ok(readFileSync(join(dir, "tls", "ca.crt"), "utf8").includes("BEGIN CERTIFICATE"));
    await assert.rejects(initKmsDataDir({ dataDir: dir }), /already initialised/);
  });

  it("an init that fails half-way (database unreachable) can be run again", async () => {
    const d = mkdtempSync(join(tmpdir(), "atrest-kms-init-"));
    try {
      await assert.rejects(initKmsDataDir({ dataDir: d, database: "postgres://nobody@127.0.0.1:1/none" }));
      assert.throws(() => statSync(join(d, "root.key")), "no root key left behind");
      const ok = await initKmsDataDir({ dataDir: d });
      assert.equal(statSync(ok.credentialsFile).mode & 0o777, 0o600);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("creates a key, encrypts and decrypts with an encryption context (JSON and flattened)", async () => {
    const created = await admin.call("CreateKey", { Description: "test key" });
    const md = created.KeyMetadata as Record<string, unknown>;
    assert.equal(md.KeyState, "Enabled");
    assert.equal(md.KeySpec, "Aliyun_AES_256");
    assert.equal(md.ProtectionLevel, "SOFTWARE");
    assert.equal(md.Arn, `acs:kms:cn-hangzhou:1234567890123456:key/${String(md.KeyId)}`);
    assert.equal(created.Code, undefined);
    const keyId = String(md.KeyId);
    // Its ARN names it; an ARN of another region or account names no key of this KMS.
    const byArn = (await admin.call("DescribeKey", { KeyId: String(md.Arn) })).KeyMetadata as {
      KeyId: string;
    };
    assert.equal(byArn.KeyId, keyId);
    for (const other of [
      String(md.Arn).replace(":cn-hangzhou:", ":cn-beijing:"),
      String(md.Arn).replace(":1234567890123456:", ":6543210987654321:"),
    ])
      await expectError(
        admin,
        "DescribeKey",
        { KeyId: other },
        { status: 404, code: "Forbidden.KeyNotFound" },
      );

    const enc = await admin.call("Encrypt", {
      KeyId: keyId,
      Plaintext: "aGVsbG8=",
      EncryptionContext: '{"b":"2","a":"1"}',
    });
    assert.equal(enc.KeyId, keyId);
    assert.equal(enc.KeyVersionId, md.PrimaryKeyVersion);
    assert.equal(typeof enc.RequestId, "string");
    const dec = await admin.call("Decrypt", {
      CiphertextBlob: String(enc.CiphertextBlob),
      "EncryptionContext.a": "1",
      "EncryptionContext.b": "2",
    });
    assert.equal(dec.Plaintext, "aGVsbG8=");
    assert.equal(dec.KeyId, keyId);
    assert.equal(dec.KeyVersionId, enc.KeyVersionId);

    // GET with V1 and POST with V3 work too.
    const viaGet = await admin.call(
      "Decrypt",
      { CiphertextBlob: String(enc.CiphertextBlob), EncryptionContext: '{"a":"1","b":"2"}' },
      { method: "GET" },
    );
    assert.equal(viaGet.Plaintext, "aGVsbG8=");
    const viaV3 = await admin.call(
      "Encrypt",
      { KeyId: keyId, Plaintext: "djM=" },
      { signatureVersion: "v3" },
    );
    const back = await admin.call(
      "Decrypt",
      { CiphertextBlob: String(viaV3.CiphertextBlob) },
      { signatureVersion: "v3" },
    );
    assert.equal(back.Plaintext, "djM=");
    const v3Get = await admin.call(
      "Decrypt",
      { CiphertextBlob: String(viaV3.CiphertextBlob), EncryptionContext: "{}" },
      { signatureVersion: "v3", method: "GET" },
    );
    assert.equal(v3Get.Plaintext, "djM=");
  });

  it("rotates: new primary version encrypts, the old ciphertext still decrypts, ReEncrypt moves it", async () => {
    const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    const old = await admin.call("Encrypt", { KeyId: keyId, Plaintext: "b2xk" });
    const v = await admin.call("CreateKeyVersion", { KeyId: keyId });
    const newVersion = String((v.KeyVersion as Record<string, unknown>).KeyVersionId);
    assert.notEqual(newVersion, old.KeyVersionId);
    const fresh = await admin.call("Encrypt", { KeyId: keyId, Plaintext: "bmV3" });
    assert.equal(fresh.KeyVersionId, newVersion);
    assert.equal(
      (await admin.call("Decrypt", { CiphertextBlob: String(old.CiphertextBlob) })).Plaintext,
      "b2xk",
    );
    const versions = await admin.call("ListKeyVersions", { KeyId: keyId });
    assert.equal(((versions.KeyVersions as Record<string, unknown>).KeyVersion as unknown[]).length, 2);
    assert.equal(versions.TotalCount, 2);
    const described = await admin.call("DescribeKeyVersion", { KeyId: keyId, KeyVersionId: newVersion });
    assert.equal((described.KeyVersion as Record<string, unknown>).KeyVersionId, newVersion);
    const md = (await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    assert.equal(md.PrimaryKeyVersion, newVersion);

    const re = await admin.call("ReEncrypt", {
      CiphertextBlob: String(old.CiphertextBlob),
      DestinationKeyId: keyId,
    });
    assert.equal(re.KeyVersionId, newVersion);
    assert.equal(re.Plaintext, undefined);
    assert.equal(
      (await admin.call("Decrypt", { CiphertextBlob: String(re.CiphertextBlob) })).Plaintext,
      "b2xk",
    );

    const dk = await admin.call("GenerateDataKey", { KeyId: keyId, NumberOfBytes: "32" });
    assert.equal(Buffer.from(String(dk.Plaintext), "base64").length, 32);
    assert.equal(
      (await admin.call("Decrypt", { CiphertextBlob: String(dk.CiphertextBlob) })).Plaintext,
      dk.Plaintext,
    );
    const dk2 = await admin.call("GenerateDataKeyWithoutPlaintext", { KeyId: keyId, KeySpec: "AES_128" });
    assert.equal(dk2.Plaintext, undefined);
    assert.equal(
      Buffer.from(
        String((await admin.call("Decrypt", { CiphertextBlob: String(dk2.CiphertextBlob) })).Plaintext),
        "base64",
      ).length,
      16,
    );
  });

  it("aliases, tags, lists and key states", async () => {
    const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    await admin.call("CreateAlias", { AliasName: "alias/app", KeyId: keyId });
    await expectError(
      admin,
      "CreateAlias",
      { AliasName: "alias/app", KeyId: keyId },
      { status: 409, code: "Rejected.ResourceExist" },
    );
    const viaAlias = await admin.call("Encrypt", { KeyId: "alias/app", Plaintext: "eA==" });
    assert.equal(viaAlias.KeyId, keyId);
    const aliases = await admin.call("ListAliasesByKeyId", { KeyId: keyId });
    assert.deepEqual(
      ((aliases.Aliases as Record<string, unknown>).Alias as Array<Record<string, unknown>>).map(
        (a) => a.AliasName,
      ),
      ["alias/app"],
    );
    const all = await admin.call("ListAliases", {});
    assert.ok(((all.Aliases as Record<string, unknown>).Alias as unknown[]).length >= 1);
    await admin.call("DeleteAlias", { AliasName: "alias/app" });
    await expectError(
      admin,
      "Encrypt",
      { KeyId: "alias/app", Plaintext: "eA==" },
      { status: 404, code: "Forbidden.AliasNotFound" },
    );

    await admin.call("TagResource", {
      KeyId: keyId,
      Tags: '[{"TagKey":"team","TagValue":"infra"},{"TagKey":"env","TagValue":"prod"}]',
    });
    await admin.call("UntagResource", { KeyId: keyId, TagKeys: '["env"]' });
    const tags = await admin.call("ListResourceTags", { KeyId: keyId });
    assert.deepEqual((tags.Tags as Record<string, unknown>).Tag, [
      { KeyId: keyId, TagKey: "team", TagValue: "infra" },
    ]);

    const disabledOnly = await admin.call("ListKeys", {
      PageSize: "100",
      Filters: '[{"Key":"KeyState","Values":["Disabled"]}]',
    });
    assert.ok(
      !((disabledOnly.Keys as Record<string, unknown>).Key as Array<Record<string, unknown>>).some(
        (k) => k.KeyId === keyId,
      ),
    );
    await expectError(
      admin,
      "ListKeys",
      { Filters: '[{"Key":"Color","Values":["red"]}]' },
      { status: 400, code: "InvalidParameter" },
    );
    const keys = await admin.call("ListKeys", {
      PageSize: "100",
      Filters: '[{"Key":"KeyState","Values":["Enabled"]},{"Key":"ProtectionLevel","Values":["SOFTWARE"]}]',
    });
    assert.ok(
      ((keys.Keys as Record<string, unknown>).Key as Array<Record<string, unknown>>).some(
        (k) => k.KeyId === keyId,
      ),
    );

    await admin.call("UpdateKeyDescription", { KeyId: keyId, Description: "changed" });
    await admin.call("UpdateRotationPolicy", {
      KeyId: keyId,
      EnableAutomaticRotation: "true",
      RotationInterval: "30d",
    });
    const md = (await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    assert.equal(md.Description, "changed");
    assert.equal(md.AutomaticRotation, "Enabled");
    assert.equal(md.RotationInterval, "2592000s");

    const blob = String((await admin.call("Encrypt", { KeyId: keyId, Plaintext: "eA==" })).CiphertextBlob);
    await admin.call("DisableKey", { KeyId: keyId });
    await expectError(
      admin,
      "Encrypt",
      { KeyId: keyId, Plaintext: "eA==" },
      { status: 409, code: "Rejected.Disabled" },
    );
    await expectError(admin, "Decrypt", { CiphertextBlob: blob }, { status: 409, code: "Rejected.Disabled" });
    await admin.call("EnableKey", { KeyId: keyId });

    await admin.call("SetDeletionProtection", {
      ProtectedResourceArn: `acs:kms:cn-hangzhou:1234567890123456:key/${keyId}`,
      EnableDeletionProtection: "true",
      DeletionProtectionDescription: "prod",
    });
    await expectError(
      admin,
      "ScheduleKeyDeletion",
      { KeyId: keyId, PendingWindowInDays: "7" },
      { status: 403, code: "Forbidden.ResourceProtected" },
    );
    assert.equal(
      ((await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>).KeyState,
      "Enabled",
    );
    await admin.call("SetDeletionProtection", {
      ProtectedResourceArn: `acs:kms:cn-hangzhou:1234567890123456:key/${keyId}`,
      EnableDeletionProtection: "false",
    });
    await expectError(
      admin,
      "ScheduleKeyDeletion",
      { KeyId: keyId, PendingWindowInDays: "3" },
      { status: 400, code: "InvalidParameter" },
    );
    await admin.call("ScheduleKeyDeletion", { KeyId: keyId, PendingWindowInDays: "7" });
    const pending = (await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<
      string,
      unknown
    >;
    assert.equal(pending.KeyState, "PendingDeletion");
    assert.equal(typeof pending.DeleteDate, "string");
    await expectError(
      admin,
      "Encrypt",
      { KeyId: keyId, Plaintext: "eA==" },
      { status: 409, code: "Rejected.PendingDeletion" },
    );
    await expectError(
      admin,
      "EnableKey",
      { KeyId: keyId },
      { status: 409, code: "Rejected.PendingDeletion" },
    );
    await admin.call("CancelKeyDeletion", { KeyId: keyId });
    assert.equal(
      ((await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>).KeyState,
      "Enabled",
    );
  });

  it("UpdateAlias points an alias at another key; a bad UpdateAlias changes nothing", async () => {
    const k1 = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    const k2 = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    await admin.call("CreateAlias", { AliasName: "alias/moving", KeyId: k1 });
    const before = await admin.call("Encrypt", { KeyId: "alias/moving", Plaintext: "b25l" });
    assert.equal(before.KeyId, k1);

    await admin.call("UpdateAlias", { AliasName: "alias/moving", KeyId: k2 });
    const moved = await admin.call("Encrypt", { KeyId: "alias/moving", Plaintext: "dHdv" });
    assert.equal(moved.KeyId, k2);
    assert.equal(
      ((await admin.call("DescribeKey", { KeyId: "alias/moving" })).KeyMetadata as Record<string, unknown>)
        .KeyId,
      k2,
    );
    const aliasesOf = async (keyId: string) =>
      (
        ((await admin.call("ListAliasesByKeyId", { KeyId: keyId })).Aliases as Record<string, unknown>)
          .Alias as Array<Record<string, unknown>>
      ).map((a) => a.AliasName);
    assert.deepEqual(await aliasesOf(k1), []);
    assert.deepEqual(await aliasesOf(k2), ["alias/moving"]);
    // the ciphertext names its key, so what k1 sealed through the alias still decrypts with k1
    const old = await admin.call("Decrypt", { CiphertextBlob: String(before.CiphertextBlob) });
    assert.equal(old.Plaintext, "b25l");
    assert.equal(old.KeyId, k1);

    await expectError(
      admin,
      "UpdateAlias",
      { AliasName: "alias/never-created", KeyId: k1 },
      { status: 404, code: "Forbidden.AliasNotFound" },
    );
    await expectError(
      admin,
      "UpdateAlias",
      { AliasName: "alias/moving", KeyId: "no-such-key" },
      { status: 404, code: "Forbidden.KeyNotFound" },
    );
    await expectError(
      admin,
      "UpdateAlias",
      { AliasName: "moving", KeyId: k1 },
      { status: 400, code: "InvalidParameter" },
    );
    await expectError(admin, "UpdateAlias", { KeyId: k1 }, { status: 400, code: "MissingParameter" });
    assert.deepEqual(await aliasesOf(k2), ["alias/moving"], "still on k2 after the refused updates");
    await expectError(
      admin,
      "ListAliasesByKeyId",
      { KeyId: "alias/never-created" },
      { status: 404, code: "Forbidden.AliasNotFound" },
    );
  });

  it("RotationInterval must be 7 to 730 days (d and s forms), in CreateKey and UpdateRotationPolicy", async () => {
    const keyCount = async () => Number((await admin.call("ListKeys", {})).TotalCount);
    const countBefore = await keyCount();
    for (const bad of ["6d", "604799s", "731d", "63072001s", "0d", "167h", "7", "7 d", "-7d"]) {
      await expectError(
        admin,
        "CreateKey",
        { EnableAutomaticRotation: "true", RotationInterval: bad },
        { status: 400, code: "InvalidParameter" },
      );
    }
    assert.equal(await keyCount(), countBefore, "no key was created by a refused CreateKey");

    for (const [good, seconds] of [
      ["7d", 604_800],
      ["604800s", 604_800],
      ["168h", 604_800],
      ["730d", 63_072_000],
      ["63072000s", 63_072_000],
    ] as const) {
      const md = (await admin.call("CreateKey", { EnableAutomaticRotation: "true", RotationInterval: good }))
        .KeyMetadata as Record<string, unknown>;
      assert.equal(md.AutomaticRotation, "Enabled", good);
      assert.equal(md.RotationInterval, `${seconds}s`, good);
      assert.equal(
        Date.parse(String(md.NextRotationDate)) - Date.parse(String(md.LastRotationDate)),
        seconds * 1000,
        `${good}: the next rotation is one interval after the last`,
      );
    }

    const keyId = String(
      (
        (await admin.call("CreateKey", { EnableAutomaticRotation: "true", RotationInterval: "30d" }))
          .KeyMetadata as Record<string, unknown>
      ).KeyId,
    );
    for (const bad of ["6d", "604799s", "731d", "63072001s"]) {
      await expectError(
        admin,
        "UpdateRotationPolicy",
        { KeyId: keyId, EnableAutomaticRotation: "true", RotationInterval: bad },
        { status: 400, code: "InvalidParameter" },
      );
    }
    const unchanged = (await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<
      string,
      unknown
    >;
    assert.equal(unchanged.RotationInterval, "2592000s", "a refused update changes nothing");
    for (const [good, seconds] of [
      ["7d", 604_800],
      ["730d", 63_072_000],
      ["604800s", 604_800],
    ] as const) {
      await admin.call("UpdateRotationPolicy", {
        KeyId: keyId,
        EnableAutomaticRotation: "true",
        RotationInterval: good,
      });
      const md = (await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
      assert.equal(md.RotationInterval, `${seconds}s`, good);
    }
  });

  it("Plaintext is at most 6144 bytes as UTF-8: 6144 accepted, 6145 refused", async () => {
    const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    // The Plaintext parameter is taken as text and sealed as its UTF-8 bytes; those bytes are counted.
    const ascii6144 = "x".repeat(6144);
    const utf8_6144 = "é".repeat(3072); // 3072 characters, 6144 bytes
    assert.equal(Buffer.byteLength(utf8_6144), 6144);
    for (const text of [ascii6144, utf8_6144]) {
      const enc = await admin.call("Encrypt", { KeyId: keyId, Plaintext: text });
      assert.equal(
        (await admin.call("Decrypt", { CiphertextBlob: String(enc.CiphertextBlob) })).Plaintext,
        text,
      );
    }
    for (const text of ["x".repeat(6145), utf8_6144 + "x", "é".repeat(3073)]) {
      await expectError(
        admin,
        "Encrypt",
        { KeyId: keyId, Plaintext: text },
        { status: 400, code: "InvalidParameter" },
      );
    }
    const refused = await admin.raw("Encrypt", { KeyId: keyId, Plaintext: "x".repeat(6145) });
    assert.match(String(refused.body.Message), /6144 bytes/);
    assert.ok(!JSON.stringify(refused.body).includes("xxxxxxxx"), "the plaintext is not echoed");
  });

  it("rejects bad input with the documented code, changes nothing, and audits it", async () => {
    const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    const blob = String(
      (await admin.call("Encrypt", { KeyId: keyId, Plaintext: "c2VjcmV0", EncryptionContext: '{"a":"1"}' }))
        .CiphertextBlob,
    );

    await expectError(
      admin,
      "Encrypt",
      { KeyId: keyId, Plaintext: "eA==" },
      { status: 400, code: "SignatureDoesNotMatch" },
      { secret: "wrong" },
    );
    await expectError(
      admin,
      "Encrypt",
      { KeyId: keyId, Plaintext: "eA==" },
      { status: 400, code: "SignatureDoesNotMatch" },
      { signatureVersion: "v3", secret: "wrong" },
    );
    const nonce = "fixed-nonce-1";
    await admin.call("DescribeKey", { KeyId: keyId }, { nonce });
    await expectError(
      admin,
      "DescribeKey",
      { KeyId: keyId },
      { status: 400, code: "SignatureNonceUsed" },
      { nonce },
    );
    await expectError(
      admin,
      "DescribeKey",
      { KeyId: keyId },
      { status: 400, code: "InvalidTimeStamp.Expired" },
      { timestamp: "2020-01-01T00:00:00Z" },
    );
    await expectError(admin, "NoSuchAction", {}, { status: 404, code: "InvalidAction.NotFound" });
    await expectError(admin, "Encrypt", { KeyId: keyId }, { status: 400, code: "MissingParameter" });
    await expectError(admin, "CreateKey", { KeySpec: "RSA_2048" }, { status: 400, code: "InvalidParameter" });
    await expectError(
      admin,
      "Encrypt",
      { KeyId: keyId, Plaintext: "x".repeat(6145) },
      { status: 400, code: "InvalidParameter" },
    );
    await expectError(
      admin,
      "Encrypt",
      { KeyId: keyId, Plaintext: "x", EncryptionContext: "[1]" },
      { status: 400, code: "InvalidParameter" },
    );
    await expectError(
      admin,
      "Encrypt",
      { KeyId: "no-such-key", Plaintext: "x" },
      { status: 404, code: "Forbidden.KeyNotFound" },
    );

    const raw = Buffer.from(blob, "base64");
    const tampered = Buffer.from(raw);
    tampered[tampered.length - 20] = tampered[tampered.length - 20]! ^ 1;
    await expectError(
      admin,
      "Decrypt",
      { CiphertextBlob: tampered.toString("base64"), EncryptionContext: '{"a":"1"}' },
      { status: 400, code: "InvalidCiphertext" },
    );
    await expectError(
      admin,
      "Decrypt",
      { CiphertextBlob: raw.subarray(0, 30).toString("base64"), EncryptionContext: '{"a":"1"}' },
      { status: 400, code: "InvalidCiphertext" },
    );
    await expectError(
      admin,
      "Decrypt",
      { CiphertextBlob: "not base64!!", EncryptionContext: '{"a":"1"}' },
      { status: 400, code: "InvalidCiphertext" },
    );
    await expectError(
      admin,
      "Decrypt",
      { CiphertextBlob: blob, EncryptionContext: '{"a":"2"}' },
      { status: 400, code: "InvalidCiphertext" },
    );
    await expectError(admin, "Decrypt", { CiphertextBlob: blob }, { status: 400, code: "InvalidCiphertext" });

    const unknownAk = new KmsRpcTestClient({
      url: server.url,
      accessKeyId: "LTAInobody",
      accessKeySecret: "x",
      caCertPem: server.caCertPem,
    });
    await expectError(unknownAk, "ListKeys", {}, { status: 404, code: "InvalidAccessKeyId.NotFound" });
    unknownAk.close();

    // Nothing changed: still one version, still enabled, still decrypts.
    const md = (await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    assert.equal(md.KeyState, "Enabled");
    assert.equal((await admin.call("ListKeyVersions", { KeyId: keyId })).TotalCount, 1);
    assert.equal(
      (await admin.call("Decrypt", { CiphertextBlob: blob, EncryptionContext: '{"a":"1"}' })).Plaintext,
      "c2VjcmV0",
    );
  });

  it("policies: a crypto user may encrypt but not administer; an explicit Deny wins", async () => {
    await admin.call("CreatePrincipal", { PrincipalName: "app" });
    const ak = await admin.call("CreateAccessKey", { PrincipalName: "app" });
    await admin.call("AttachPolicy", { PolicyName: "AliyunKMSCryptoUserAccess", PrincipalName: "app" });
    const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    const other = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    await admin.call("CreatePolicy", {
      PolicyName: "deny-other",
      PolicyDocument: JSON.stringify({
        Version: "1",
        Statement: [{ Effect: "Deny", Action: "kms:*", Resource: `acs:kms:*:*:key/${other}` }],
      }),
    });
    await admin.call("AttachPolicy", { PolicyName: "deny-other", PrincipalName: "app" });
    const app = new KmsRpcTestClient({
      url: server.url,
      accessKeyId: String(ak.AccessKeyId),
      accessKeySecret: String(ak.AccessKeySecret),
      caCertPem: server.caCertPem,
    });
    try {
      const enc = await app.call("Encrypt", { KeyId: keyId, Plaintext: "eA==" });
      assert.equal(
        (await app.call("Decrypt", { CiphertextBlob: String(enc.CiphertextBlob) })).Plaintext,
        "eA==",
      );
      await expectError(app, "DisableKey", { KeyId: keyId }, { status: 403, code: "Forbidden.RAM" });
      await expectError(
        app,
        "Encrypt",
        { KeyId: other, Plaintext: "eA==" },
        { status: 403, code: "Forbidden.RAM" },
      );
      const otherBlob = String(
        (await admin.call("Encrypt", { KeyId: other, Plaintext: "eA==" })).CiphertextBlob,
      );
      await expectError(
        app,
        "Decrypt",
        { CiphertextBlob: otherBlob },
        { status: 403, code: "Forbidden.RAM" },
      );
      await expectError(
        app,
        "CreatePrincipal",
        { PrincipalName: "evil" },
        { status: 403, code: "Forbidden.RAM" },
      );
      assert.equal(
        ((await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>).KeyState,
        "Enabled",
      );
      const events = await queryAuditEvents(server.kdb, { principal: "app", action: "Encrypt" });
      assert.ok(events.some((e) => e.outcome === "Allowed" && e.key_id === keyId));
      assert.ok(
        events.some((e) => e.outcome === "Denied" && e.error_code === "Forbidden.RAM" && e.key_id === other),
      );

      const listed = await admin.call("ListAccessKeys", { PrincipalName: "app" });
      assert.deepEqual(
        ((listed.AccessKeys as Record<string, unknown>).AccessKey as Array<Record<string, unknown>>).map(
          (k) => k.AccessKeyId,
        ),
        [ak.AccessKeyId],
      );
      assert.ok(!JSON.stringify(listed).includes(String(ak.AccessKeySecret)));
      const policies = await admin.call("ListPolicies", {});
      assert.ok(
        ((policies.Policies as Record<string, unknown>).Policy as Array<Record<string, unknown>>).some(
          (p) => p.PolicyName === "deny-other" && p.PolicyType === "Custom",
        ),
      );
      await expectError(
        admin,
        "DeletePolicy",
        { PolicyName: "deny-other" },
        { status: 409, code: "Rejected.ResourceInUse" },
      );
      await admin.call("DetachPolicy", { PolicyName: "deny-other", PrincipalName: "app" });
      await admin.call("DeletePolicy", { PolicyName: "deny-other" });
      await expectError(
        admin,
        "CreatePolicy",
        { PolicyName: "bad", PolicyDocument: '{"Version":"1","Statement":[{"Effect":"Maybe"}]}' },
        { status: 400, code: "InvalidParameter" },
      );
      await admin.call("DeleteAccessKey", { UserAccessKeyId: String(ak.AccessKeyId) });
      await expectError(
        app,
        "Encrypt",
        { KeyId: keyId, Plaintext: "eA==" },
        { status: 404, code: "InvalidAccessKeyId.NotFound" },
      );
      await admin.call("ListKeys", {}); // the admin's own key was not touched
      await admin.call("DeletePrincipal", { PrincipalName: "app" });
      const principals = await admin.call("ListPrincipals", {});
      assert.deepEqual(
        ((principals.Principals as Record<string, unknown>).Principal as Array<Record<string, unknown>>).map(
          (p) => p.PrincipalName,
        ),
        ["admin"],
      );
    } finally {
      app.close();
    }
  });

  it("audit records carry the client uid, never secrets; /metrics and /healthz answer", async () => {
    const keyId = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    const enc = await admin.call(
      "Encrypt",
      { KeyId: keyId, Plaintext: "dG9wc2VjcmV0" },
      { headers: { "x-atrest-uid": "uid-123" } },
    );
    await server.journal.idle();
    const events = await queryAuditEvents(server.kdb, { keyId });
    const e = events.find((r) => r.request_id === enc.RequestId);
    assert.equal(e?.client_uid, "uid-123");
    assert.equal(e?.key_version_id, enc.KeyVersionId);
    assert.equal(e?.principal, "admin");
    assert.equal(e?.access_key_id, creds.accessKeyId);
    assert.equal(e?.source_ip, "127.0.0.1");
    const dump = JSON.stringify(await queryAuditEvents(server.kdb, {}));
    assert.ok(!dump.includes("dG9wc2VjcmV0"));
    assert.ok(!dump.includes(String(enc.CiphertextBlob)));
    assert.ok(!dump.includes(creds.accessKeySecret));

    const metrics = await get(`${server.url}/metrics`, server.caCertPem);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /atrest_kms_requests_total\{action="Encrypt",code="OK"\} \d+/);
    assert.match(metrics.text, /atrest_kms_request_duration_seconds_bucket/);
    assert.ok(!metrics.text.includes(keyId));
    assert.equal((await get(`${server.url}/healthz`, server.caCertPem)).status, 200);
  });

  it("the audit chain verifies, and an edited record is detected", async () => {
    await server.journal.idle();
    const ok = await verifyAuditChain(server.kdb);
    assert.equal(ok.ok, true);
    assert.ok(ok.records > 10);
    await server.kdb.db
      .updateTable("audit_events")
      .set({ principal: "mallory" })
      .where("seq", "=", 5)
      .execute();
    const broken = await verifyAuditChain(server.kdb);
    assert.equal(broken.ok, false);
    assert.equal(broken.ok ? 0 : broken.brokenSeq, 5);
  });
});
