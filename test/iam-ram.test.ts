import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  TEST_ACCOUNT_ID,
  callRpc,
  ramSdk,
  sdkClient,
  sdkErrorCode,
  startIdentityStack,
  type IdentityStack,
} from "./support/identity-stack.js";

/**
 * RAM 2015-05-01 with the official @alicloud/ram20150501 client: ACK's "quick authorization" (the
 * service role AliyunCSManagedSecurityRole trusting cs.aliyuncs.com, with ACK's exact policy), users,
 * access keys, console passwords, custom policies; explicit Deny wins; bad input changes nothing.
 */
let stack: IdentityStack;
type Creds = { accessKeyId: string; accessKeySecret: string };
const ram = (c: Creds) => sdkClient(ramSdk, stack.identity.url, stack.caPem, c);
const req = (name: string, v: Record<string, unknown>) =>
  new (ramSdk[name] as new (v: Record<string, unknown>) => unknown)(v);
const call = async (c: Creds, method: string, model: string, v: Record<string, unknown> = {}) =>
  ((await ram(c)[method]!(req(model, v))) as { body: Record<string, unknown> }).body;

const CS_TRUST = JSON.stringify({
  Statement: [{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: ["cs.aliyuncs.com"] } }],
  Version: "1",
});

before(async () => {
  stack = await startIdentityStack("ram");
});
after(() => stack?.close());

test("quick authorization: AliyunCSManagedSecurityRole trusting cs.aliyuncs.com with ACK's exact policy", async () => {
  const created = (await call(stack.admin, "createRole", "CreateRoleRequest", {
    roleName: "AliyunCSManagedSecurityRole",
    assumeRolePolicyDocument: CS_TRUST,
    description: "ACK's service role for Secret encryption",
  })) as { role: Record<string, unknown> };
  assert.equal(created.role["arn"], `acs:ram::${TEST_ACCOUNT_ID}:role/AliyunCSManagedSecurityRole`);
  assert.match(String(created.role["roleId"]), /^\d{19}$/);
  await call(stack.admin, "attachPolicyToRole", "AttachPolicyToRoleRequest", {
    policyType: "System",
    policyName: "AliyunCSManagedSecurityRolePolicy",
    roleName: "AliyunCSManagedSecurityRole",
  });
  const got = (await call(stack.admin, "getRole", "GetRoleRequest", {
    roleName: "aliyuncsmanagedsecurityrole",
  })) as { role: Record<string, unknown> };
  assert.equal(got.role["assumeRolePolicyDocument"], CS_TRUST);
  assert.equal(got.role["maxSessionDuration"], 3600);
  const attached = (await call(stack.admin, "listPoliciesForRole", "ListPoliciesForRoleRequest", {
    roleName: "AliyunCSManagedSecurityRole",
  })) as {
    policies: { policy: Array<Record<string, unknown>> };
  };
  assert.deepEqual(
    attached.policies.policy.map((p) => [p["policyName"], p["policyType"]]),
    [["AliyunCSManagedSecurityRolePolicy", "System"]],
  );
  const policy = (await call(stack.admin, "getPolicy", "GetPolicyRequest", {
    policyName: "AliyunCSManagedSecurityRolePolicy",
    policyType: "System",
  })) as {
    defaultPolicyVersion: { policyDocument: string };
  };
  const doc = JSON.parse(policy.defaultPolicyVersion.policyDocument) as {
    Statement: Array<{ Action: string[]; Resource: string[] }>;
  };
  assert.deepEqual(doc.Statement[0]!.Action, [
    "kms:GetSecretValue",
    "kms:ListSecrets",
    "kms:ListKeys",
    "kms:ListSecretVersionIds",
    "kms:ListAliasesByKeyId",
    "kms:SetDeletionProtection",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:Decrypt",
  ]);
  assert.deepEqual(doc.Statement[0]!.Resource, ["*"]);
  // A second role of the same name, in any spelling, is refused; so is a trust policy atrest cannot evaluate.
  assert.equal(
    await sdkErrorCode(
      call(stack.admin, "createRole", "CreateRoleRequest", {
        roleName: "aliyuncsmanagedsecurityrole",
        assumeRolePolicyDocument: CS_TRUST,
      }),
    ),
    "EntityAlreadyExists.Role",
  );
  for (const bad of [
    JSON.stringify({
      Version: "1",
      Statement: [{ Effect: "Allow", Action: "kms:Encrypt", Principal: { Service: ["cs.aliyuncs.com"] } }],
    }),
    JSON.stringify({
      Version: "1",
      Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Principal: { Federated: ["x"] } }],
    }),
    JSON.stringify({
      Version: "1",
      Statement: [
        {
          Effect: "Allow",
          Action: "sts:AssumeRole",
          Principal: { RAM: ["*"] },
          Condition: { IpAddress: { "acs:SourceIp": "1.2.3.4" } },
        },
      ],
    }),
    "{not json",
  ])
    assert.equal(
      await sdkErrorCode(
        call(stack.admin, "createRole", "CreateRoleRequest", {
          roleName: "bad-role",
          assumeRolePolicyDocument: bad,
        }),
      ),
      "InvalidParameter.PolicyDocument",
      bad,
    );
  assert.equal(await stack.kms.identity.findRole("bad-role"), undefined);
});

test("users, access keys and console passwords", async () => {
  const user = (await call(stack.admin, "createUser", "CreateUserRequest", {
    userName: "alice",
    displayName: "Alice",
  })) as { user: Record<string, unknown> };
  assert.match(String(user.user["userId"]), /^\d{16}$/);
  assert.equal(
    await sdkErrorCode(call(stack.admin, "createUser", "CreateUserRequest", { userName: "ALICE" })),
    "EntityAlreadyExists.User",
  );
  const ak = (await call(stack.admin, "createAccessKey", "CreateAccessKeyRequest", {
    userName: "alice",
  })) as { accessKey: Record<string, string> };
  assert.match(ak.accessKey["accessKeyId"]!, /^LTAI/);
  const alice = {
    accessKeyId: ak.accessKey["accessKeyId"]!,
    accessKeySecret: ak.accessKey["accessKeySecret"]!,
  };
  const listed = (await call(stack.admin, "listAccessKeys", "ListAccessKeysRequest", {
    userName: "alice",
  })) as { accessKeys: { accessKey: Array<Record<string, string>> } };
  assert.deepEqual(
    listed.accessKeys.accessKey.map((k) => k["accessKeyId"]),
    [alice.accessKeyId],
  );
  assert.equal(JSON.stringify(listed).includes(alice.accessKeySecret), false);

  for (const weak of ["short1", "nodigitsatall", "12345678901", "has space 123", "x".repeat(40) + "1"])
    assert.equal(
      await sdkErrorCode(
        call(stack.admin, "createLoginProfile", "CreateLoginProfileRequest", {
          userName: "alice",
          password: weak,
        }),
      ),
      "InvalidParameter.Password",
      weak,
    );
  await call(stack.admin, "createLoginProfile", "CreateLoginProfileRequest", {
    userName: "alice",
    password: "Correct-horse-7",
  });
  assert.equal(
    await sdkErrorCode(
      call(stack.admin, "createLoginProfile", "CreateLoginProfileRequest", {
        userName: "alice",
        password: "Another-pass-8",
      }),
    ),
    "EntityAlreadyExists.User.LoginProfile",
  );
  const id = stack.kms.identity;
  assert.equal((await id.verifyConsolePassword("alice", "Correct-horse-7"))?.userName, "alice");
  assert.equal(await id.verifyConsolePassword("alice", "correct-horse-7"), undefined);
  assert.equal(await id.verifyConsolePassword("nobody", "Correct-horse-7"), undefined);
  const row = await id.getPrincipal("alice");
  assert.match(String(row.password_hash), /^scrypt\$32768\$8\$1\$/);
  assert.equal(String(row.password_hash).includes("Correct-horse-7"), false);
  await call(stack.admin, "updateLoginProfile", "UpdateLoginProfileRequest", {
    userName: "alice",
    password: "Battery-staple-9",
  });
  assert.equal(await id.verifyConsolePassword("alice", "Correct-horse-7"), undefined);
  assert.ok(await id.verifyConsolePassword("alice", "Battery-staple-9"));

  // Deleting a user with an access key is refused (RAM's rule), and changes nothing.
  assert.equal(
    await sdkErrorCode(call(stack.admin, "deleteUser", "DeleteUserRequest", { userName: "alice" })),
    "DeleteConflict.User.AccessKey",
  );
  assert.ok(await id.getPrincipal("alice"));
  // No passwords in the trail.
  const trail = await callRpc(stack.identity.url, stack.caPem, stack.admin, {
    action: "LookupEvents",
    version: "2020-07-06",
    query: { "LookupAttribute.1.Key": "ServiceName", "LookupAttribute.1.Value": "Ram", MaxResults: "50" },
  });
  const text = JSON.stringify(trail);
  for (const secret of ["Correct-horse-7", "Battery-staple-9", alice.accessKeySecret])
    assert.equal(text.includes(secret), false);
  assert.ok(text.includes("CreateLoginProfile"));
});

test("permissions: RAM actions need ram:* policies, and an explicit Deny wins", async () => {
  await call(stack.admin, "createUser", "CreateUserRequest", { userName: "carol" });
  const ak = (await call(stack.admin, "createAccessKey", "CreateAccessKeyRequest", {
    userName: "carol",
  })) as { accessKey: Record<string, string> };
  const carol = {
    accessKeyId: ak.accessKey["accessKeyId"]!,
    accessKeySecret: ak.accessKey["accessKeySecret"]!,
  };
  assert.equal(
    await sdkErrorCode(call(carol, "createUser", "CreateUserRequest", { userName: "dave" })),
    "NoPermission.Ram",
  );
  await call(stack.admin, "attachPolicyToUser", "AttachPolicyToUserRequest", {
    policyType: "System",
    policyName: "AliyunRAMFullAccess",
    userName: "carol",
  });
  await call(stack.admin, "createPolicy", "CreatePolicyRequest", {
    policyName: "no-roles",
    policyDocument: JSON.stringify({
      Version: "1",
      Statement: [{ Effect: "Deny", Action: "ram:*Role*", Resource: "*" }],
    }),
  });
  await call(stack.admin, "attachPolicyToUser", "AttachPolicyToUserRequest", {
    policyType: "Custom",
    policyName: "no-roles",
    userName: "carol",
  });
  await call(carol, "createUser", "CreateUserRequest", { userName: "dave" });
  assert.equal(
    await sdkErrorCode(
      call(carol, "createRole", "CreateRoleRequest", { roleName: "r1", assumeRolePolicyDocument: CS_TRUST }),
    ),
    "NoPermission.Ram",
  );
  assert.equal(await stack.kms.identity.findRole("r1"), undefined);
  // Policy bookkeeping: a policy in use cannot be deleted; the type must match; a system policy is not deletable.
  assert.equal(
    await sdkErrorCode(call(stack.admin, "deletePolicy", "DeletePolicyRequest", { policyName: "no-roles" })),
    "DeleteConflict.Policy.Attachment",
  );
  assert.equal(
    await sdkErrorCode(
      call(stack.admin, "attachPolicyToUser", "AttachPolicyToUserRequest", {
        policyType: "System",
        policyName: "no-roles",
        userName: "dave",
      }),
    ),
    "EntityNotExist.Policy",
  );
  assert.equal(
    await sdkErrorCode(
      call(stack.admin, "deletePolicy", "DeletePolicyRequest", { policyName: "AliyunRAMFullAccess" }),
    ),
    "Unsupported.SystemPolicy",
  );
  assert.equal(
    await sdkErrorCode(
      call(stack.admin, "createPolicy", "CreatePolicyRequest", {
        policyName: "cond",
        policyDocument: JSON.stringify({
          Version: "1",
          Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*", Condition: {} }],
        }),
      }),
    ),
    "InvalidParameter.PolicyDocument",
  );
  const users = (await call(carol, "listUsers", "ListUsersRequest")) as {
    users: { user: Array<Record<string, string>> };
  };
  assert.deepEqual(users.users.user.map((u) => u["userName"]).sort(), ["admin", "alice", "carol", "dave"]);
});
