/**
 * The key in use is protected (issue 11): a key tagged `atrest:cluster:<name>` = write|read cannot be
 * disabled, scheduled for deletion or unprotected (409 Rejected.KeyInUse, naming the clusters and the
 * tags to remove) unless the caller passes atrest's Force=true, which is audited as forced; removing
 * the tag (UntagResource) releases the key. The official typed SDK sends what it can; the Force
 * extension and SetDeletionProtection (not in @alicloud/kms20160120@1.2.0) go as raw signed requests.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { queryAuditEvents, verifyAuditChain } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { repoRoot } from "./support/cli.js";

const execFileAsync = promisify(execFile);

let dir: string;
let server: KmsServer;
let caFile: string;
let creds: { accessKeyId: string; accessKeySecret: string };
let admin: KmsRpcTestClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "atrest-kms-in-use-"));
  const init = await initKmsDataDir({ dataDir: join(dir, "kms"), accountId: "1234567890" });
  caFile = init.caCertFile;
  creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as typeof creds;
  server = await startKmsServer({ dataDir: join(dir, "kms"), schedulerIntervalMs: 0, cacheTtlMs: 0 });
  admin = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
});

after(async () => {
  admin?.close();
  await server?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const newKey = async () =>
  String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
const keyArn = (keyId: string) => `acs:kms:cn-hangzhou:1234567890:key/${keyId}`;
const stateOf = async (keyId: string) =>
  ((await admin.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>).KeyState;
const auditOf = async (requestId: unknown) =>
  (await queryAuditEvents(server.kdb, {})).find((e) => e.request_id === requestId);

const SDK_SCRIPT = String.raw`
const Kms = require("@alicloud/kms20160120");
const { Config } = require("@alicloud/rpc-client");
const client = new Kms.default(new Config({
  accessKeyId: process.env.T_AK, accessKeySecret: process.env.T_SK,
  endpoint: process.env.T_HOST, protocol: "https", regionId: "cn-hangzhou",
}));
const keyId = process.env.T_KEY;
const attempt = async (name, fn) => {
  try { await fn(); return { name, ok: true }; }
  catch (e) { return { name, ok: false, code: e.data && e.data.Code, sdkError: String(e.message), message: String(e.data && e.data.Message) }; }
};
(async () => {
  const out = [];
  out.push(await attempt("tag", () => client.tagResource(new Kms.TagResourceRequest({
    keyId, tags: JSON.stringify([{ TagKey: "atrest:cluster:demo", TagValue: "write" }, { TagKey: "atrest:cluster:old", TagValue: "read" }]) }))));
  out.push(await attempt("tag-bad-name", () => client.tagResource(new Kms.TagResourceRequest({
    keyId, tags: JSON.stringify([{ TagKey: "atrest:cluster:Not_A_Name", TagValue: "write" }]) }))));
  out.push(await attempt("disable", () => client.disableKey(new Kms.DisableKeyRequest({ keyId }))));
  out.push(await attempt("schedule", () => client.scheduleKeyDeletion(new Kms.ScheduleKeyDeletionRequest({ keyId, pendingWindowInDays: 7 }))));
  out.push(await attempt("untag", () => client.untagResource(new Kms.UntagResourceRequest({
    keyId, tagKeys: JSON.stringify(["atrest:cluster:demo", "atrest:cluster:old"]) }))));
  out.push(await attempt("disable-released", () => client.disableKey(new Kms.DisableKeyRequest({ keyId }))));
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

test("@alicloud/kms20160120: a cluster's tag refuses DisableKey and ScheduleKeyDeletion (409 Rejected.KeyInUse); UntagResource releases it", async () => {
  const keyId = await newKey();
  const { stdout } = await execFileAsync(process.execPath, ["-e", SDK_SCRIPT], {
    cwd: repoRoot,
    timeout: 90_000,
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: caFile,
      T_AK: creds.accessKeyId,
      T_SK: creds.accessKeySecret,
      T_HOST: new URL(server.url).host,
      T_KEY: keyId,
    },
  });
  const out = JSON.parse(stdout) as Array<{
    name: string;
    ok: boolean;
    code?: string;
    sdkError?: string;
    message?: string;
  }>;
  const by = Object.fromEntries(out.map((o) => [o.name, o]));
  assert.equal(by.tag?.ok, true, JSON.stringify(by.tag));
  assert.equal(by["tag-bad-name"]?.code, "InvalidParameter");
  for (const name of ["disable", "schedule"]) {
    const r = by[name]!;
    assert.equal(r.ok, false, name);
    assert.equal(r.code, "Rejected.KeyInUse", name);
    assert.match(r.sdkError ?? "", /code: 409/, name);
    assert.match(r.message ?? "", /in use by cluster\(s\) demo \(write\), old \(read\)/, name);
    assert.match(r.message ?? "", /atrest:cluster:demo, atrest:cluster:old/, name);
  }
  assert.equal(by.untag?.ok, true, JSON.stringify(by.untag));
  assert.equal(by["disable-released"]?.ok, true, JSON.stringify(by["disable-released"]));
  assert.equal(await stateOf(keyId), "Disabled");
});

test("SetDeletionProtection off is refused while a cluster needs the key; Force=true overrides each refusal and is audited as forced", async () => {
  const keyId = await newKey();
  // As the operation engine marks a key it switches a cluster to: the tag, then deletion protection.
  await admin.call("TagResource", {
    KeyId: keyId,
    Tags: '[{"TagKey":"atrest:cluster:demo","TagValue":"write"}]',
  });
  const protect = await admin.call("SetDeletionProtection", {
    ProtectedResourceArn: keyArn(keyId),
    EnableDeletionProtection: "true",
    DeletionProtectionDescription: "cluster demo",
  });
  assert.equal((await auditOf(protect.RequestId))?.forced, 0);

  const unprotect = await admin.raw("SetDeletionProtection", {
    ProtectedResourceArn: keyArn(keyId),
    EnableDeletionProtection: "false",
  });
  assert.equal(unprotect.status, 409);
  assert.equal(unprotect.body.Code, "Rejected.KeyInUse");
  assert.match(String(unprotect.body.Message), /demo \(write\)/);
  const refused = await auditOf(unprotect.body.RequestId);
  assert.deepEqual(
    [refused?.outcome, refused?.error_code, refused?.forced],
    ["Failed", "Rejected.KeyInUse", 0],
  );
  // Force does not override deletion protection itself, only the cluster's claim.
  const scheduleProtected = await admin.raw("ScheduleKeyDeletion", {
    KeyId: keyId,
    PendingWindowInDays: "7",
    Force: "true",
  });
  assert.equal(scheduleProtected.body.Code, "Forbidden.ResourceProtected");

  const forcedUnprotect = await admin.raw("SetDeletionProtection", {
    ProtectedResourceArn: keyArn(keyId),
    EnableDeletionProtection: "false",
    Force: "true",
  });
  assert.equal(forcedUnprotect.status, 200, JSON.stringify(forcedUnprotect.body));
  const forcedDisable = await admin.raw("DisableKey", { KeyId: keyId, Force: "true" });
  assert.equal(forcedDisable.status, 200, JSON.stringify(forcedDisable.body));
  assert.equal(await stateOf(keyId), "Disabled");
  await admin.call("EnableKey", { KeyId: keyId });
  const forcedSchedule = await admin.raw("ScheduleKeyDeletion", {
    KeyId: keyId,
    PendingWindowInDays: "7",
    Force: "true",
  });
  assert.equal(forcedSchedule.status, 200, JSON.stringify(forcedSchedule.body));
  assert.equal(await stateOf(keyId), "PendingDeletion");
  for (const r of [forcedUnprotect, forcedDisable, forcedSchedule]) {
    const rec = await auditOf(r.body.RequestId);
    assert.deepEqual([rec?.outcome, rec?.forced, rec?.key_id], ["Allowed", 1, keyId], String(rec?.action));
  }
  // Force on a key no cluster needs overrides nothing, and the record does not say forced.
  const free = await newKey();
  const plain = await admin.raw("DisableKey", { KeyId: free, Force: "true" });
  assert.equal(plain.status, 200);
  assert.equal((await auditOf(plain.body.RequestId))?.forced, 0);
  const bad = await admin.raw("DisableKey", { KeyId: free, Force: "yes" });
  assert.equal(bad.body.Code, "InvalidParameter");
  assert.equal((await verifyAuditChain(server.kdb)).ok, true);
});

test("CreateKey with a cluster tag makes a key in use from the start; tags outside the contract are refused", async () => {
  const created = await admin.call("CreateKey", {
    Tags: '[{"TagKey":"atrest:cluster:fresh","TagValue":"read"}]',
  });
  const keyId = String((created.KeyMetadata as Record<string, unknown>).KeyId);
  const r = await admin.raw("DisableKey", { KeyId: keyId });
  assert.equal(r.body.Code, "Rejected.KeyInUse");
  assert.match(String(r.body.Message), /fresh \(read\)/);
  for (const tags of [
    '[{"TagKey":"atrest:anything","TagValue":"x"}]',
    '[{"TagKey":"atrest:cluster:demo","TagValue":"owner"}]',
    `[{"TagKey":"atrest:cluster:${"a".repeat(64)}","TagValue":"write"}]`,
  ]) {
    const res = await admin.raw("TagResource", { KeyId: keyId, Tags: tags });
    assert.equal(res.body.Code, "InvalidParameter", tags);
  }
});
