/**
 * Key health (src/control-plane/health/) against a real atrest kms, DescribeKey signed as the service
 * role's STS session (the plugin's identity): an Enabled key is healthy; disabled, pending deletion,
 * unknown, denied to the role, and a KMS that does not answer each give their EKS-style issue.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { checkKeyHealth, KeyHealthWatch, type KeyHealth } from "../src/control-plane/health/index.js";
import {
  CS_SERVICE_PRINCIPAL,
  ensureServicePrincipal,
  ensureServiceRole,
  serviceRoleArn,
  CS_SERVICE_ROLE,
} from "../src/iam/index.js";
import { KmsClient } from "../src/kms/client/index.js";
import { AssumedRoleCredentials } from "../src/plugin/index.js";
import { freePort } from "./support/etcd.js";
import { callRpc, startIdentityStack, TEST_REGION, type IdentityStack } from "./support/identity-stack.js";

let stack: IdentityStack;
let sts: AssumedRoleCredentials;
let asRole: KmsClient;

const kms = (action: string, query: Record<string, string> = {}) =>
  callRpc(stack.kms.url, stack.caPem, stack.admin, { action, version: "2016-01-20", query });

async function createKey(): Promise<string> {
  const r = await kms("CreateKey", { KeySpec: "Aliyun_AES_256" });
  return (r["KeyMetadata"] as { KeyId: string }).KeyId;
}

before(async () => {
  stack = await startIdentityStack("cp-key-health");
  const identity = stack.kms.identity;
  await ensureServiceRole(identity);
  await ensureServicePrincipal(identity);
  const ak = await identity.createAccessKey(CS_SERVICE_PRINCIPAL);
  sts = new AssumedRoleCredentials({
    base: { accessKeyId: ak.accessKeyId, accessKeySecret: ak.accessKeySecret },
    regionId: TEST_REGION,
    caPem: stack.caPem,
    stsEndpoint: stack.identity.url,
    roleArn: serviceRoleArn(identity.accountId),
    roleSessionName: "health-check",
  });
  await sts.start();
  const c = sts.current();
  asRole = new KmsClient({
    endpoint: stack.kms.url,
    regionId: TEST_REGION,
    caPem: stack.caPem,
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    ...(c.securityToken === undefined ? {} : { securityToken: c.securityToken }),
  });
});

after(async () => {
  asRole?.close();
  sts?.close();
  await stack?.close();
});

test("an Enabled key is healthy, with its state and primary version", async () => {
  const key = await createKey();
  const h = await checkKeyHealth(asRole, key, () => new Date("2026-01-02T03:04:05Z"));
  assert.equal(h.healthy, true);
  assert.deepEqual(h.issues, []);
  assert.equal(h.keyState, "Enabled");
  assert.ok(h.primaryKeyVersion !== undefined && h.primaryKeyVersion !== "");
  assert.equal(h.checkedAt, "2026-01-02T03:04:05.000Z");
});

test("a disabled key: KmsKeyDisabled; enabled again: healthy", async () => {
  const key = await createKey();
  await kms("DisableKey", { KeyId: key });
  const h = await checkKeyHealth(asRole, key);
  assert.equal(h.healthy, false);
  assert.deepEqual(
    h.issues.map((i) => [i.code, i.resourceIds]),
    [["KmsKeyDisabled", [key]]],
  );
  assert.match(h.issues[0]!.message, /EnableKey/);
  await kms("EnableKey", { KeyId: key });
  assert.equal((await checkKeyHealth(asRole, key)).healthy, true);
});

test("a key pending deletion: KmsKeyMarkedForDeletion, saying when", async () => {
  const key = await createKey();
  await kms("ScheduleKeyDeletion", { KeyId: key, PendingWindowInDays: "7" });
  const h = await checkKeyHealth(asRole, key);
  assert.deepEqual(
    h.issues.map((i) => i.code),
    ["KmsKeyMarkedForDeletion"],
  );
  assert.equal(h.keyState, "PendingDeletion");
  assert.ok(h.deleteDate !== undefined && h.issues[0]!.message.includes(h.deleteDate));
  assert.match(h.issues[0]!.message, /CancelKeyDeletion/);
});

test("an unknown key: KmsKeyNotFound", async () => {
  const h = await checkKeyHealth(asRole, "key-that-never-was");
  assert.deepEqual(
    h.issues.map((i) => [i.code, i.resourceIds]),
    [["KmsKeyNotFound", ["key-that-never-was"]]],
  );
  assert.equal(h.keyState, undefined);
});

test("the role denied the key: KmsGrantRevoked; the admin still sees it Enabled", async () => {
  const key = await createKey();
  const identity = stack.kms.identity;
  await identity.createPolicy(
    "DenyClusterKey",
    JSON.stringify({
      Version: "1",
      Statement: [{ Effect: "Deny", Action: ["kms:*"], Resource: [`acs:kms:*:*:key/${key}`] }],
    }),
  );
  await identity.attachPolicy("DenyClusterKey", CS_SERVICE_ROLE, "role");
  try {
    const h = await checkKeyHealth(asRole, key);
    assert.deepEqual(
      h.issues.map((i) => i.code),
      ["KmsGrantRevoked"],
    );
    assert.match(h.issues[0]!.message, /AliyunCSManagedSecurityRole/);
    const admin = await kms("DescribeKey", { KeyId: key });
    assert.equal((admin["KeyMetadata"] as { KeyState: string }).KeyState, "Enabled");
  } finally {
    await identity.detachPolicy("DenyClusterKey", CS_SERVICE_ROLE);
  }
  assert.equal((await checkKeyHealth(asRole, key)).healthy, true);
});

test("a KMS that does not answer: Other, the state unknown", async () => {
  const c = sts.current();
  const nowhere = new KmsClient({
    endpoint: `https://127.0.0.1:${await freePort()}`,
    regionId: TEST_REGION,
    caPem: stack.caPem,
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    timeoutMs: 2_000,
  });
  try {
    const h = await checkKeyHealth(nowhere, "key-x");
    assert.deepEqual(
      h.issues.map((i) => i.code),
      ["Other"],
    );
    assert.equal(h.healthy, false);
  } finally {
    nowhere.close();
  }
});

test("the watch reports a cluster's key only when its issues change", async () => {
  const key = await createKey();
  const changes: Array<[string, string[], string[] | undefined]> = [];
  const c = sts.current();
  const watch = new KeyHealthWatch({
    kms: () =>
      Promise.resolve(
        new KmsClient({
          endpoint: stack.kms.url,
          regionId: TEST_REGION,
          caPem: stack.caPem,
          accessKeyId: c.accessKeyId,
          accessKeySecret: c.accessKeySecret,
          ...(c.securityToken === undefined ? {} : { securityToken: c.securityToken }),
        }),
      ),
    clusters: () => Promise.resolve([{ clusterId: "c1", keyId: key }]),
    onChange: (id, h: KeyHealth, prev: KeyHealth | undefined) => {
      changes.push([id, h.issues.map((i) => i.code), prev?.issues.map((i) => i.code)]);
      return Promise.resolve();
    },
  });
  await watch.checkNow();
  assert.deepEqual(changes, [], "healthy on the first round: nothing to say");
  await kms("DisableKey", { KeyId: key });
  await watch.checkNow();
  await watch.checkNow();
  assert.deepEqual(changes, [["c1", ["KmsKeyDisabled"], []]], "once, not every round");
  await kms("EnableKey", { KeyId: key });
  await watch.checkNow();
  assert.deepEqual(changes[1], ["c1", [], ["KmsKeyDisabled"]]);
  assert.equal(watch.last("c1")?.healthy, true);
});
