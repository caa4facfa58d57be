import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { verifyAuditChain } from "../src/kms/audit-log.js";
import {
  TEST_ACCOUNT_ID,
  callRpc,
  sdkErrorCode,
  startIdentityStack,
  type IdentityStack,
} from "./support/identity-stack.js";

/**
 * ActionTrail LookupEvents (2020-07-06) with @alicloud/openapi-client's generic callApi (there is no
 * ActionTrail SDK on npm), over the KMS's audit trail and the identity services' trail table: the
 * seed documents' check — Encrypt/Decrypt events of `aliyuncsmanagedsecurityrole` exist — as written.
 */
let stack: IdentityStack;
let keyId: string;
let roleId: string;
type Creds = { accessKeyId: string; accessKeySecret: string; securityToken?: string };
let session: Creds;

const lookup = (c: Creds, query: Record<string, string>, signatureV1 = false) =>
  callRpc(stack.identity.url, stack.caPem, c, {
    action: "LookupEvents",
    version: "2020-07-06",
    query,
    signatureV1,
  });
const kms = (c: Creds, action: string, query: Record<string, string>) =>
  callRpc(stack.kms.url, stack.caPem, c, { action, version: "2016-01-20", query });
type Event = Record<string, unknown> & { userIdentity: Record<string, unknown> };
const events = (body: Record<string, unknown>) => body["Events"] as Event[];

before(async () => {
  stack = await startIdentityStack("events");
  const id = stack.kms.identity;
  await id.createPrincipal("cs.aliyuncs.com", "service");
  const service = await id.createAccessKey("cs.aliyuncs.com");
  const role = await id.createPrincipal("AliyunCSManagedSecurityRole", "role", {
    trustPolicy: JSON.stringify({
      Version: "1",
      Statement: [{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: ["cs.aliyuncs.com"] } }],
    }),
  });
  roleId = role.principal_id;
  await id.attachPolicy("AliyunCSManagedSecurityRolePolicy", "AliyunCSManagedSecurityRole");
  const created = await kms(stack.admin, "CreateKey", { KeySpec: "Aliyun_AES_256" });
  keyId = (created["KeyMetadata"] as { KeyId: string }).KeyId;
  const assumed = await callRpc(stack.identity.url, stack.caPem, service, {
    action: "AssumeRole",
    version: "2015-04-01",
    query: {
      RoleArn: `acs:ram::${TEST_ACCOUNT_ID}:role/aliyuncsmanagedsecurityrole`,
      RoleSessionName: "cluster-c1",
    },
  });
  const c = assumed["Credentials"] as Record<string, string>;
  session = {
    accessKeyId: c["AccessKeyId"]!,
    accessKeySecret: c["AccessKeySecret"]!,
    securityToken: c["SecurityToken"]!,
  };
  for (let i = 0; i < 3; i++) {
    const enc = await kms(session, "Encrypt", {
      KeyId: keyId,
      Plaintext: Buffer.from(`seed-${i}`).toString("base64"),
    });
    await kms(session, "Decrypt", { CiphertextBlob: String(enc["CiphertextBlob"]) });
  }
});
after(() => stack?.close());

test("the seed documents' check: Encrypt and Decrypt events of aliyuncsmanagedsecurityrole, as ActionTrail records them", async () => {
  for (const name of ["Encrypt", "Decrypt"]) {
    const body = await lookup(stack.admin, {
      "LookupAttribute.1.Key": "User",
      "LookupAttribute.1.Value": "aliyuncsmanagedsecurityrole", // the console's lower-case spelling
      "LookupAttribute.2.Key": "EventName",
      "LookupAttribute.2.Value": name,
    });
    const found = events(body);
    assert.equal(found.length, 3, name);
    for (const e of found) {
      assert.equal(e["eventName"], name);
      assert.equal(e["serviceName"], "Kms");
      assert.equal(e["eventType"], "ApiCall");
      assert.equal(e["acsRegion"], "cn-hangzhou");
      assert.equal(e["resourceName"], keyId);
      assert.deepEqual(
        { ...e.userIdentity, sessionContext: undefined },
        {
          type: "assumed-role",
          principalId: `${roleId}:cluster-c1`,
          accountId: TEST_ACCOUNT_ID,
          accessKeyId: session.accessKeyId,
          userName: "AliyunCSManagedSecurityRole:cluster-c1",
          sessionContext: undefined,
        },
      );
      const attrs = (e.userIdentity["sessionContext"] as { attributes: Record<string, string> }).attributes;
      assert.equal(attrs["mfaAuthenticated"], "false");
      assert.match(attrs["creationDate"]!, /Z$/);
      assert.equal(
        (e["requestParameters"] as Record<string, string>)["stsTokenPrincipalName"],
        "AliyunCSManagedSecurityRole/cluster-c1",
      );
    }
    assert.match(String(body["StartTime"]), /Z$/);
    assert.equal(body["NextToken"], "");
  }
  // By session, by service (the role's AssumeRole is STS's event, in the trail table), by the V1 path.
  const bySession = await lookup(
    stack.admin,
    { "LookupAttribute.1.Key": "User", "LookupAttribute.1.Value": "AliyunCSManagedSecurityRole:cluster-c1" },
    true,
  );
  assert.equal(events(bySession).length, 6);
  const other = await lookup(stack.admin, {
    "LookupAttribute.1.Key": "User",
    "LookupAttribute.1.Value": "AliyunCSManagedSecurityRole:cluster-zz",
  });
  assert.equal(events(other).length, 0);
  const sts = events(
    await lookup(stack.admin, { "LookupAttribute.1.Key": "ServiceName", "LookupAttribute.1.Value": "Sts" }),
  );
  assert.deepEqual(
    sts.map((e) => [e["eventName"], e.userIdentity["userName"], e.userIdentity["type"]]),
    [["AssumeRole", "cs.aliyuncs.com", "service"]],
  );
  assert.equal(sts[0]!["resourceName"], `acs:ram::${TEST_ACCOUNT_ID}:role/AliyunCSManagedSecurityRole`);
  assert.equal(JSON.stringify(sts).includes(session.accessKeySecret), false, "no secret in an event");
  assert.deepEqual(await verifyAuditChain(stack.kms.kdb).then((v) => v.ok), true);
});

test("filters: EventRW, EventId, ResourceName, EventAccessKeyId, time range; newest first", async () => {
  const writes = events(
    await lookup(stack.admin, {
      "LookupAttribute.1.Key": "EventRW",
      "LookupAttribute.1.Value": "Write",
      "LookupAttribute.2.Key": "ServiceName",
      "LookupAttribute.2.Value": "Kms",
    }),
  );
  assert.deepEqual(
    writes.map((e) => e["eventName"]),
    ["CreateKey"],
  );
  const all = events(await lookup(stack.admin, { MaxResults: "50" }));
  const times = all.map((e) => Date.parse(String(e["eventTime"])));
  assert.deepEqual(
    [...times].sort((a, b) => b - a),
    times,
    "newest first",
  );
  const one = all.find((e) => e["eventName"] === "Decrypt")!;
  const byId = events(
    await lookup(stack.admin, {
      "LookupAttribute.1.Key": "EventId",
      "LookupAttribute.1.Value": String(one["eventId"]),
    }),
  );
  assert.deepEqual(
    byId.map((e) => e["eventId"]),
    [one["eventId"]],
  );
  assert.equal(
    events(
      await lookup(stack.admin, {
        "LookupAttribute.1.Key": "ResourceName",
        "LookupAttribute.1.Value": keyId,
      }),
    ).length,
    7,
  );
  assert.equal(
    events(
      await lookup(stack.admin, {
        "LookupAttribute.1.Key": "EventAccessKeyId",
        "LookupAttribute.1.Value": session.accessKeyId,
      }),
    ).length,
    6,
  );
  const past = events(
    await lookup(stack.admin, { StartTime: "2020-01-01T00:00:00Z", EndTime: "2020-01-02T00:00:00Z" }),
  );
  assert.equal(past.length, 0);
});

test("paging with NextToken visits every event once, in order; a token is good only for its own query", async () => {
  const query = { "LookupAttribute.1.Key": "ServiceName", "LookupAttribute.1.Value": "Kms" };
  const seen: string[] = [];
  let token = "";
  for (let page = 0; page < 20; page++) {
    const body = await lookup(stack.admin, {
      ...query,
      MaxResults: "2",
      ...(token === "" ? {} : { NextToken: token }),
    });
    const got = events(body);
    assert.ok(got.length <= 2);
    seen.push(...got.map((e) => String(e["eventId"])));
    token = String(body["NextToken"]);
    if (token === "") break;
  }
  const whole = events(await lookup(stack.admin, { ...query, MaxResults: "50" })).map((e) =>
    String(e["eventId"]),
  );
  assert.deepEqual(seen, whole);
  assert.equal(new Set(seen).size, seen.length);
  const first = await lookup(stack.admin, { ...query, MaxResults: "2" });
  assert.equal(
    await sdkErrorCode(
      lookup(stack.admin, {
        "LookupAttribute.1.Key": "EventName",
        "LookupAttribute.1.Value": "Encrypt",
        NextToken: String(first["NextToken"]),
      }),
    ),
    "InvalidParameter.NextToken",
  );
});

test("bad input gets ActionTrail-shaped errors; a caller without permission is refused, and the lookups are events too", async () => {
  for (const [query, code] of [
    [
      { "LookupAttribute.1.Key": "Colour", "LookupAttribute.1.Value": "x" },
      "InvalidParameter.LookupAttribute",
    ],
    [{ "LookupAttribute.1.Key": "EventName" }, "InvalidParameter.LookupAttribute"],
    [
      { "LookupAttribute.1.Key": "EventRW", "LookupAttribute.1.Value": "Both" },
      "InvalidParameter.LookupAttribute",
    ],
    [{ StartTime: "2026-01-01T00:00:00Z" }, "InvalidParameter.Time"],
    [{ StartTime: "2026-01-02T00:00:00Z", EndTime: "2026-01-01T00:00:00Z" }, "InvalidParameter.Time"],
    [{ StartTime: "yesterday", EndTime: "today" }, "InvalidParameter.Time"],
    [{ MaxResults: "51" }, "InvalidParameter"],
    [{ NextToken: "garbage" }, "InvalidParameter.NextToken"],
  ] as const)
    assert.equal(await sdkErrorCode(lookup(stack.admin, query)), code, JSON.stringify(query));
  // The role may use keys, not read the trail.
  assert.equal(await sdkErrorCode(lookup(session, {})), "NoPermission.Ram");
  const own = events(
    await lookup(stack.admin, {
      "LookupAttribute.1.Key": "EventName",
      "LookupAttribute.1.Value": "LookupEvents",
      MaxResults: "50",
    }),
  );
  assert.ok(
    own.some((e) => e["errorCode"] === "NoPermission.Ram" && e.userIdentity["type"] === "assumed-role"),
  );
  assert.ok(own.some((e) => e["errorCode"] === "InvalidParameter.Time"));
});
