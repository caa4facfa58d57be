import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createKmsV2Client, type KmsV2Client } from "../src/kms-plugin-client/index.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";
import type { AssumedRoleCredentials } from "../src/plugin/assumed-role-credentials.js";
import {
  TEST_ACCOUNT_ID,
  callRpc,
  startIdentityStack,
  type IdentityStack,
} from "./support/identity-stack.js";

/**
 * The KMS plugin on assumed-role credentials: it holds only the control plane's service key, assumes
 * AliyunCSManagedSecurityRole (session named after the cluster) through the identity endpoint, and
 * renews the session before it ends. Sessions of 3 s (STS's documented test-only minimum option) make
 * them expire several times during the test; every Encrypt and Decrypt through the plugin succeeds,
 * and the KMS records the calls as the assumed role under several STS access keys.
 */
const SESSION_SECONDS = 3;
let stack: IdentityStack;
let plugin: RunningPlugin;
let client: KmsV2Client;

before(async () => {
  stack = await startIdentityStack("plugin-sts", { sts: { minDurationSecondsForTestsOnly: 2 } });
  const id = stack.kms.identity;
  await id.createPrincipal("cs.aliyuncs.com", "service");
  const service = await id.createAccessKey("cs.aliyuncs.com");
  await id.createPrincipal("AliyunCSManagedSecurityRole", "role", {
    trustPolicy: JSON.stringify({
      Version: "1",
      Statement: [{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: ["cs.aliyuncs.com"] } }],
    }),
  });
  await id.attachPolicy("AliyunCSManagedSecurityRolePolicy", "AliyunCSManagedSecurityRole");
  const created = await callRpc(stack.kms.url, stack.caPem, stack.admin, {
    action: "CreateKey",
    version: "2016-01-20",
    query: { KeySpec: "Aliyun_AES_256" },
  });
  const keyId = (created["KeyMetadata"] as { KeyId: string }).KeyId;
  plugin = await startPlugin({
    listen: `unix://${join(stack.dir, "kms.sock")}`,
    backend: {
      kind: "alibaba",
      endpoint: stack.kms.url,
      regionId: "cn-hangzhou",
      keyId,
      credentials: { accessKeyId: service.accessKeyId, accessKeySecret: service.accessKeySecret },
      caPem: stack.caPem,
      assumeRole: {
        stsEndpoint: stack.identity.url,
        roleArn: `acs:ram::${TEST_ACCOUNT_ID}:role/AliyunCSManagedSecurityRole`,
        roleSessionName: "cluster-sts-test",
        durationSeconds: SESSION_SECONDS,
      },
    },
    statusRefreshMs: 60_000,
  });
  client = createKmsV2Client({ endpoint: `unix://${join(stack.dir, "kms.sock")}`, timeoutMs: 5_000 });
});

after(async () => {
  client?.close();
  await plugin?.close();
  await stack?.close();
});

test(
  "Encrypt and Decrypt keep succeeding while the assumed-role credentials expire and are renewed",
  { timeout: 60_000 },
  async () => {
    const sts = (plugin.backend as unknown as { sts: AssumedRoleCredentials }).sts;
    const started = Date.now();
    let calls = 0;
    // Until three sessions have expired (≥ 3 renewals), bounded at 30 s.
    while (sts.renewals < 3) {
      assert.ok(Date.now() - started < 30_000, `only ${sts.renewals} renewals in 30 s`);
      const seed = Buffer.from(`seed-${calls}`);
      const enc = await client.encrypt(seed);
      const dec = await client.decrypt({
        ciphertext: enc.ciphertext,
        keyId: enc.keyId,
        annotations: enc.annotations,
      });
      assert.deepEqual(dec, seed);
      calls += 1;
    }
    assert.ok(
      Date.now() - started > 2 * SESSION_SECONDS * 1000 * 0.7 - 500,
      "the sessions did expire during the test",
    );
    // The KMS saw the calls as the assumed role, session named after the cluster, under several STS keys.
    const events: Array<{ errorCode?: string; userIdentity: Record<string, string> }> = [];
    let token = "";
    do {
      const body = await callRpc(stack.identity.url, stack.caPem, stack.admin, {
        action: "LookupEvents",
        version: "2020-07-06",
        query: {
          "LookupAttribute.1.Key": "User",
          "LookupAttribute.1.Value": "aliyuncsmanagedsecurityrole",
          "LookupAttribute.2.Key": "EventName",
          "LookupAttribute.2.Value": "Decrypt",
          MaxResults: "50",
          ...(token === "" ? {} : { NextToken: token }),
        },
      });
      events.push(...(body["Events"] as typeof events));
      token = String(body["NextToken"]);
    } while (token !== "");
    assert.ok(events.length >= calls, `${events.length} Decrypt events for ${calls} calls`); // + the health checks
    assert.ok(events.every((e) => e.errorCode === undefined && e.userIdentity["type"] === "assumed-role"));
    assert.ok(
      events.every((e) => e.userIdentity["userName"] === "AliyunCSManagedSecurityRole:cluster-sts-test"),
    );
    const keys = new Set(events.map((e) => e.userIdentity["accessKeyId"]));
    assert.ok(keys.size >= 3, `calls signed by ${keys.size} STS keys`);
    for (const k of keys) assert.match(String(k), /^STS\./);
    // No refused call anywhere in the KMS trail (nothing failed between renewals).
    const failures = await callRpc(stack.identity.url, stack.caPem, stack.admin, {
      action: "LookupEvents",
      version: "2020-07-06",
      query: { "LookupAttribute.1.Key": "ServiceName", "LookupAttribute.1.Value": "Kms", MaxResults: "50" },
    });
    assert.deepEqual(
      (failures["Events"] as Array<{ errorCode?: string }>).filter((e) => e.errorCode !== undefined),
      [],
    );
    const errors = await callRpc(stack.identity.url, stack.caPem, stack.admin, {
      action: "LookupEvents",
      version: "2020-07-06",
      query: {
        "LookupAttribute.1.Key": "EventAccessKeyId",
        "LookupAttribute.1.Value": [...keys][0]!,
        MaxResults: "50",
      },
    });
    assert.ok((errors["Events"] as unknown[]).length > 0);
  },
);

test("a plugin whose service key may not assume the role fails to start with STS's reason", async () => {
  const id = stack.kms.identity;
  await id.createPrincipal("stranger", "user");
  const stranger = await id.createAccessKey("stranger");
  await assert.rejects(
    startPlugin({
      listen: `unix://${join(stack.dir, "kms2.sock")}`,
      backend: {
        kind: "alibaba",
        endpoint: stack.kms.url,
        regionId: "cn-hangzhou",
        keyId: "alias/none",
        credentials: stranger,
        caPem: stack.caPem,
        assumeRole: {
          stsEndpoint: stack.identity.url,
          roleArn: `acs:ram::${TEST_ACCOUNT_ID}:role/AliyunCSManagedSecurityRole`,
          roleSessionName: "cluster-x",
          durationSeconds: 900,
        },
      },
    }),
    /STS AssumeRole of acs:ram::\d+:role\/AliyunCSManagedSecurityRole failed: NoPermission/,
  );
});
