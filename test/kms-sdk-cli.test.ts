import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { KmsServer } from "../src/kms/server.js";
import { kmsCli, kmsCliJson, startTestKms, type TestKms } from "./support/kms.js";

// The admin CLI (`atrest kms create-key …`) against a real KMS server over HTTPS with the server's CA.

let kms: TestKms | undefined;
let server: KmsServer;
let profile: string;
let creds: TestKms["creds"];
let caFile: string;

before(async () => {
  kms = await startTestKms("kms-cli");
  ({ server, profile, creds, caFile } = kms);
});

after(async () => {
  await kms?.close();
});

const atrest = kmsCli;
const json = (args: string[]) => kmsCliJson(profile, args);

test("key lifecycle through the admin CLI with --profile and -o json", async () => {
  const created = await json(["create-key", "--description", "cli test key"]);
  const md = created["KeyMetadata"] as Record<string, unknown>;
  const keyId = md["KeyId"] as string;
  assert.ok(typeof keyId === "string" && keyId.length > 0);
  assert.equal(md["KeyState"], "Enabled");
  assert.equal(md["Description"], "cli test key");

  const enc = await json([
    "encrypt",
    "--key-id",
    keyId,
    "--plaintext",
    "hello from the cli",
    "--encryption-context",
    '{"app":"cli"}',
  ]);
  const blob = enc["CiphertextBlob"] as string;
  assert.equal(enc["KeyId"], keyId);

  // default (text) output of decrypt is the plaintext itself
  const dec = await atrest([
    "decrypt",
    "--ciphertext-blob",
    blob,
    "--encryption-context",
    '{"app":"cli"}',
    "--profile",
    profile,
  ]);
  assert.equal(dec.status, 0, dec.stderr);
  assert.equal(dec.stdout, "hello from the cli\n");

  const v2 = await json(["create-key-version", "--key-id", keyId]);
  assert.notEqual((v2["KeyVersion"] as Record<string, unknown>)["KeyVersionId"], md["PrimaryKeyVersion"]);
  // the old ciphertext still decrypts after the rotation
  const old = await json(["decrypt", "--ciphertext-blob", blob, "--encryption-context", '{"app":"cli"}']);
  assert.equal(old["Plaintext"], "hello from the cli");

  await json(["create-alias", "--alias-name", "alias/cli", "--key-id", keyId]);
  // default text output of a list: a table with a header
  const aliases = await atrest(["list-aliases", "--key-id", keyId, "--profile", profile]);
  assert.equal(aliases.status, 0, aliases.stderr);
  assert.match(aliases.stdout, /^AliasName\s+KeyId\nalias\/cli\s+\S+\n$/);
  // The profile may also come before the command, as `atrest kms --profile FILE list-aliases`.
  const before = await atrest(["--profile", profile, "list-aliases", "--key-id", keyId]);
  assert.equal(before.status, 0, before.stderr);
  assert.equal(before.stdout, aliases.stdout);

  await json(["set-deletion-protection", "--key-id", keyId, "--enable", "--protection-description", "prod"]);
  const refused = await atrest([
    "schedule-key-deletion",
    "--key-id",
    keyId,
    "--pending-window-in-days",
    "7",
    "--profile",
    profile,
  ]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /Forbidden\.ResourceProtected|protect/i);

  await json(["disable-key", "--key-id", "alias/cli"]);
  const disabled = await atrest(["encrypt", "--key-id", keyId, "--plaintext", "x", "--profile", profile]);
  assert.notEqual(disabled.status, 0);
  assert.match(disabled.stderr, /Rejected\.Disabled/);
  const described = await json(["describe-key", "--key-id", keyId]);
  assert.equal((described["KeyMetadata"] as Record<string, unknown>)["KeyState"], "Disabled");
});

test("principals, access keys and policies through the admin CLI; a denying policy is enforced", async () => {
  await json(["create-principal", "--principal-name", "app1"]);
  const ak = await json(["create-access-key", "--principal-name", "app1"]);
  const appId = ak["AccessKeyId"] as string;
  const appSecret = ak["AccessKeySecret"] as string;
  assert.ok(appId && appSecret);
  const keys = await json(["list-access-keys", "--principal-name", "app1"]);
  assert.deepEqual(
    (keys["AccessKeys"] as { AccessKey: { AccessKeyId: string }[] }).AccessKey.map((k) => k.AccessKeyId),
    [appId],
  );
  assert.ok(!JSON.stringify(keys).includes(appSecret), "the secret is never listed");

  await json([
    "create-policy",
    "--policy-name",
    "encrypt-only",
    "--policy-document",
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:CreateKey"],"Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}',
  ]);
  await json(["attach-policy", "--policy-name", "encrypt-only", "--principal-name", "app1"]);
  const [bad, policies, principals] = await Promise.all([
    // a bad policy is refused locally, naming the path of the problem
    atrest([
      "create-policy",
      "--policy-name",
      "bad",
      "--policy-document",
      '{"Version":"1","Statement":[{"Effect":"Maybe","Action":"kms:*","Resource":"*"}]}',
      "--profile",
      profile,
    ]),
    json(["list-policies"]),
    json(["list-principals"]),
  ]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Statement\[0\]\.Effect/);
  const names = (policies["Policies"] as { Policy: { PolicyName: string }[] }).Policy.map(
    (p) => p.PolicyName,
  );
  assert.ok(names.includes("encrypt-only") && names.includes("AliyunKMSCryptoUserAccess"));
  assert.ok(
    (principals["Principals"] as { Principal: { PrincipalName: string }[] }).Principal.some(
      (p) => p.PrincipalName === "app1",
    ),
  );

  // the app principal, with flags + env credentials instead of a profile
  const env = { ALIBABA_CLOUD_ACCESS_KEY_ID: appId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: appSecret };
  const conn = ["--endpoint", server.url, "--ca-file", caFile, "-o", "json"];
  const created = await atrest(["create-key", ...conn], env);
  assert.equal(created.status, 0, created.stderr);
  const keyId =
    ((JSON.parse(created.stdout) as Record<string, Record<string, string>>)["KeyMetadata"] ?? {})["KeyId"] ??
    "";
  const enc = await atrest(["encrypt", "--key-id", keyId, "--plaintext", "p", ...conn], env);
  assert.equal(enc.status, 0, enc.stderr);
  const blob = (JSON.parse(enc.stdout) as Record<string, string>)["CiphertextBlob"] ?? "";
  const denied = await atrest(["decrypt", "--ciphertext-blob", blob, ...conn], env);
  assert.notEqual(denied.status, 0);
  assert.match(denied.stderr, /Forbidden\.RAM/);

  await json(["detach-policy", "--policy-name", "encrypt-only", "--principal-name", "app1"]);
  const afterDetach = await atrest(["create-key", ...conn], env);
  assert.match(afterDetach.stderr, /Forbidden\.RAM/);
});

test("delete-access-key deletes the named key, not the caller's", async () => {
  await json(["create-principal", "--principal-name", "app2"]);
  const ak = await json(["create-access-key", "--principal-name", "app2"]);
  await json(["delete-access-key", "--user-access-key-id", ak["AccessKeyId"] as string]);
  const keys = await json(["list-access-keys", "--principal-name", "app2"]);
  // (listed with the admin's key, which therefore still works) the deleted key is gone
  assert.deepEqual((keys["AccessKeys"] as { AccessKey: unknown[] }).AccessKey, []);
});

test("without a CA file the server's certificate is not trusted; missing credentials are a usage error", async () => {
  const [untrusted, missing] = await Promise.all([
    atrest([
      "list-keys",
      "--endpoint",
      server.url,
      "--access-key-id",
      creds.accessKeyId,
      "--access-key-secret",
      creds.accessKeySecret,
    ]),
    atrest(["list-keys", "--endpoint", server.url], {
      ALIBABA_CLOUD_ACCESS_KEY_ID: "",
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: "",
    }),
  ]);
  assert.equal(untrusted.status, 3);
  assert.match(untrusted.stderr, /certificate/i);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--access-key-id/);
});
