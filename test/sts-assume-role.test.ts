import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import https from "node:https";
import { ManualClock } from "../src/common/clock.js";
import {
  TEST_ACCOUNT_ID,
  callRpc,
  ramSdk,
  sdkClient,
  sdkErrorCode,
  startIdentityStack,
  stsSdk,
  type IdentityStack,
} from "./support/identity-stack.js";

/**
 * STS AssumeRole with the official @alicloud/sts20150401 client (V3 and V1 signatures), roles made
 * with @alicloud/ram20150501, and the temporary credentials used on atrest kms by
 * @alicloud/openapi-client (V3: x-acs-security-token) and @alicloud/pop-core (V1: SecurityToken).
 * The servers run on a manual clock (started 10 minutes before now), so a session's expiry is reached by advancing
 * it — no waiting.
 */
const require = createRequire(import.meta.url);
// Started 10 minutes behind real time: the SDKs sign with the real time and the servers accept ±15
// minutes, so the clock may later be advanced past a 900-second session (the shortest STS gives)
// and still be inside that window (starting at now, +901 s fell outside it on a quiet machine).
const clock = new ManualClock(Date.now() - 600_000);
let stack: IdentityStack;
let keyId: string;

const TRUST_ROOT = JSON.stringify({
  Version: "1",
  Statement: [
    { Effect: "Allow", Action: "sts:AssumeRole", Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:root`] } },
  ],
});
const roleArn = (name: string) => `acs:ram::${TEST_ACCOUNT_ID}:role/${name}`;

type Creds = { accessKeyId: string; accessKeySecret: string; securityToken?: string };
const sts = (c: Creds, v1 = false) =>
  sdkClient(stsSdk, stack.identity.url, stack.caPem, c, { signatureV1: v1 });
const ram = (c: Creds) => sdkClient(ramSdk, stack.identity.url, stack.caPem, c);
const model = (sdk: typeof stsSdk, name: string, v: Record<string, unknown>) =>
  new (sdk[name] as new (v: Record<string, unknown>) => unknown)(v);

async function assume(c: Creds, request: Record<string, unknown>, v1 = false) {
  const res = (await sts(c, v1)["assumeRole"]!(model(stsSdk, "AssumeRoleRequest", request))) as {
    body: {
      requestId: string;
      assumedRoleUser: { arn: string; assumedRoleId: string };
      credentials: {
        accessKeyId: string;
        accessKeySecret: string;
        securityToken: string;
        expiration: string;
      };
    };
  };
  return res.body;
}

const asCreds = (b: Awaited<ReturnType<typeof assume>>): Creds => ({
  accessKeyId: b.credentials.accessKeyId,
  accessKeySecret: b.credentials.accessKeySecret,
  securityToken: b.credentials.securityToken,
});

/** A KMS call with the generic openapi-client (V3 by default; the token in x-acs-security-token). */
const kmsCall = (c: Creds, action: string, query: Record<string, string>, signatureV1 = false) =>
  callRpc(stack.kms.url, stack.caPem, c, { action, version: "2016-01-20", query, signatureV1 });

async function createRole(name: string, trust: string, policies: string[], maxSessionDuration?: number) {
  const client = ram(stack.admin);
  await client["createRole"]!(
    model(ramSdk, "CreateRoleRequest", {
      roleName: name,
      assumeRolePolicyDocument: trust,
      ...(maxSessionDuration === undefined ? {} : { maxSessionDuration }),
    }),
  );
  for (const p of policies)
    await client["attachPolicyToRole"]!(
      model(ramSdk, "AttachPolicyToRoleRequest", { policyType: "System", policyName: p, roleName: name }),
    );
}

before(async () => {
  stack = await startIdentityStack("sts", { clock });
  await createRole("app-role", TRUST_ROOT, ["AliyunKMSCryptoUserAccess"]);
  const created = await kmsCall(stack.admin, "CreateKey", { KeySpec: "Aliyun_AES_256" });
  keyId = (created["KeyMetadata"] as { KeyId: string }).KeyId;
});
after(() => stack?.close());

test("AssumeRole answers STS's shape and the credentials work on the KMS with V3 and V1 signatures", async () => {
  const body = await assume(stack.admin, { roleArn: roleArn("app-role"), roleSessionName: "sess-1" });
  const role = await stack.kms.identity.getPrincipal("app-role", "role");
  assert.equal(body.assumedRoleUser.arn, `${roleArn("app-role")}/sess-1`);
  assert.equal(body.assumedRoleUser.assumedRoleId, `${role.principal_id}:sess-1`);
  assert.match(body.credentials.accessKeyId, /^STS\.[A-Za-z0-9]{28}$/);
  assert.ok(body.credentials.securityToken.length > 100);
  assert.match(body.credentials.expiration, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  const expires = Date.parse(body.credentials.expiration);
  assert.ok(Math.abs(expires - (clock.now() + 3600_000)) < 2000, "default DurationSeconds is 3600");
  assert.match(body.requestId, /^[0-9A-F-]{36}$/);

  const creds = asCreds(body);
  const plaintext = Buffer.from("seed").toString("base64");
  const enc = await kmsCall(creds, "Encrypt", { KeyId: keyId, Plaintext: plaintext });
  const dec = await kmsCall(creds, "Decrypt", { CiphertextBlob: String(enc["CiphertextBlob"]) }, true);
  assert.equal(dec["Plaintext"], plaintext);
  // pop-core (V1, SecurityToken parameter), unmodified but for its agent trusting the private CA.
  const { RPCClient } = require("@alicloud/pop-core") as {
    RPCClient: new (c: Record<string, unknown>) => {
      request(a: string, p: unknown, o: unknown): Promise<Record<string, unknown>>;
    };
  };
  const pop = new RPCClient({
    endpoint: stack.kms.url,
    apiVersion: "2016-01-20",
    accessKeyId: creds.accessKeyId,
    accessKeySecret: creds.accessKeySecret,
    securityToken: creds.securityToken,
    opts: { agent: new https.Agent({ ca: stack.caPem }) },
  });
  const popDec = await pop.request("Decrypt", { CiphertextBlob: enc["CiphertextBlob"] }, { method: "POST" });
  assert.equal(popDec["Plaintext"], plaintext);
  // The role allows cryptography only: administration is refused as the role.
  assert.equal(
    await sdkErrorCode(kmsCall(creds, "CreateKey", { KeySpec: "Aliyun_AES_256" })),
    "Forbidden.RAM",
  );

  // The V1 path of the STS client (signatureAlgorithm v2 = HMAC-SHA1 RPC) issues sessions too.
  const v1 = await assume(stack.admin, { roleArn: roleArn("app-role"), roleSessionName: "sess-v1" }, true);
  assert.match(v1.credentials.accessKeyId, /^STS\./);
});

test("forged, altered, swapped and missing tokens are refused; an expired one is refused after its expiry", async () => {
  const a = asCreds(await assume(stack.admin, { roleArn: roleArn("app-role"), roleSessionName: "forge-a" }));
  const b = asCreds(await assume(stack.admin, { roleArn: roleArn("app-role"), roleSessionName: "forge-b" }));
  const q = { KeyId: keyId, Plaintext: "eA==" };
  const token = a.securityToken!;
  const flipped = token.slice(0, 40) + (token[40] === "A" ? "B" : "A") + token.slice(41);
  assert.equal(
    await sdkErrorCode(kmsCall({ ...a, securityToken: flipped }, "Encrypt", q)),
    "InvalidSecurityToken.MismatchWithAccessKey",
  );
  assert.equal(
    await sdkErrorCode(kmsCall({ ...a, securityToken: b.securityToken! }, "Encrypt", q)),
    "InvalidSecurityToken.MismatchWithAccessKey",
  );
  assert.equal(
    await sdkErrorCode(kmsCall({ ...a, securityToken: "bm90LWEtdG9rZW4" }, "Encrypt", q)),
    "InvalidSecurityToken.Malformed",
  );
  const { securityToken: _t, ...noToken } = a;
  assert.equal(await sdkErrorCode(kmsCall(noToken, "Encrypt", q)), "InvalidSecurityToken.Malformed");
  // The secret of one session with the key id of another: the token opens, the signature does not match.
  assert.equal(
    await sdkErrorCode(kmsCall({ ...b, accessKeySecret: a.accessKeySecret }, "Encrypt", q)),
    "SignatureDoesNotMatch",
  );

  const short = asCreds(
    await assume(stack.admin, {
      roleArn: roleArn("app-role"),
      roleSessionName: "short",
      durationSeconds: 900,
    }),
  );
  await kmsCall(short, "Encrypt", q);
  clock.advance(899_000);
  await kmsCall(short, "Encrypt", q);
  clock.advance(2_000);
  assert.equal(await sdkErrorCode(kmsCall(short, "Encrypt", q)), "InvalidSecurityToken.Expired");
  assert.equal(await sdkErrorCode(sts(short)["getCallerIdentity"]!()), "InvalidSecurityToken.Expired");
  // Deleting the role ends its sessions at once.
  const live = asCreds(await assume(stack.admin, { roleArn: roleArn("app-role"), roleSessionName: "live" }));
  await createRole("doomed", TRUST_ROOT, []);
  const doomed = asCreds(await assume(stack.admin, { roleArn: roleArn("doomed"), roleSessionName: "dd" }));
  await stack.kms.identity.deletePrincipal("doomed", { cascade: false, type: "role" });
  assert.equal(await sdkErrorCode(sts(doomed)["getCallerIdentity"]!()), "InvalidSecurityToken.Expired");
  await kmsCall(live, "Encrypt", q);
});

test("the trust policy, the sts:AssumeRole permission, ExternalId, DurationSeconds and the session Policy decide", async () => {
  const id = stack.kms.identity;
  await id.createPrincipal("bob", "user");
  const bob = await id.createAccessKey("bob");
  // No sts:AssumeRole permission: refused even though the role trusts the whole account.
  assert.equal(
    await sdkErrorCode(assume(bob, { roleArn: roleArn("app-role"), roleSessionName: "bob" })),
    "NoPermission",
  );
  await id.attachPolicy("AliyunSTSAssumeRoleAccess", "bob");
  await assume(bob, { roleArn: roleArn("app-role"), roleSessionName: "bob" });

  await createRole(
    "alice-only",
    JSON.stringify({
      Version: "1",
      Statement: [
        {
          Effect: "Allow",
          Action: "sts:AssumeRole",
          Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:user/alice`] },
        },
      ],
    }),
    [],
  );
  assert.equal(
    await sdkErrorCode(assume(bob, { roleArn: roleArn("alice-only"), roleSessionName: "bob" })),
    "NoPermission",
  );

  await createRole(
    "deny-bob",
    JSON.stringify({
      Version: "1",
      Statement: [
        {
          Effect: "Allow",
          Action: "sts:AssumeRole",
          Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:root`] },
        },
        {
          Effect: "Deny",
          Action: "sts:AssumeRole",
          Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:user/bob`] },
        },
      ],
    }),
    [],
  );
  assert.equal(
    await sdkErrorCode(assume(bob, { roleArn: roleArn("deny-bob"), roleSessionName: "bob" })),
    "NoPermission",
  );
  await assume(stack.admin, { roleArn: roleArn("deny-bob"), roleSessionName: "admin" });

  await createRole(
    "external",
    JSON.stringify({
      Version: "1",
      Statement: [
        {
          Effect: "Allow",
          Action: "sts:AssumeRole",
          Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:root`] },
          Condition: { StringEquals: { "sts:ExternalId": "abcd-1234" } },
        },
      ],
    }),
    [],
    7200,
  );
  const ext = { roleArn: roleArn("external"), roleSessionName: "ext" };
  assert.equal(await sdkErrorCode(assume(bob, ext)), "NoPermission");
  assert.equal(await sdkErrorCode(assume(bob, { ...ext, externalId: "wrong-id" })), "NoPermission");
  const ok = await assume(bob, { ...ext, externalId: "abcd-1234", durationSeconds: 7200 });
  assert.ok(Math.abs(Date.parse(ok.credentials.expiration) - (clock.now() + 7200_000)) < 2000);
  assert.equal(
    await sdkErrorCode(assume(bob, { ...ext, externalId: "abcd-1234", durationSeconds: 7201 })),
    "InvalidParameter.DurationSeconds",
  );
  assert.equal(
    await sdkErrorCode(assume(bob, { ...ext, externalId: "abcd-1234", durationSeconds: 899 })),
    "InvalidParameter.DurationSeconds",
  );

  // Bad input: every parameter's rule, and nothing issued.
  for (const [request, code] of [
    [{ roleArn: "acs:ram::1:role", roleSessionName: "s1" }, "InvalidParameter.RoleArn"],
    [{ roleArn: roleArn("app-role"), roleSessionName: "x" }, "InvalidParameter.RoleSessionName"],
    [{ roleArn: roleArn("app-role"), roleSessionName: "bad name" }, "InvalidParameter.RoleSessionName"],
    [{ roleArn: roleArn("nope"), roleSessionName: "s1" }, "EntityNotExist.Role"],
    [{ roleArn: `acs:ram::999:role/app-role`, roleSessionName: "s1" }, "EntityNotExist.Role"],
    [{ roleArn: roleArn("app-role"), roleSessionName: "s1", policy: "{" }, "InvalidParameter.PolicyGrammar"],
    [{ roleArn: roleArn("app-role"), roleSessionName: "s1", externalId: "x" }, "InvalidParameter.ExternalId"],
  ] as const)
    assert.equal(await sdkErrorCode(assume(bob, request)), code, JSON.stringify(request));

  // The session Policy narrows: the role may Encrypt and Decrypt, this session only Decrypt.
  const narrowed = asCreds(
    await assume(bob, {
      roleArn: roleArn("APP-ROLE"), // RAM's role names are case-insensitive in an ARN
      roleSessionName: "narrow",
      policy: JSON.stringify({
        Version: "1",
        Statement: [{ Effect: "Allow", Action: "kms:Decrypt", Resource: "*" }],
      }),
    }),
  );
  const enc = await kmsCall(stack.admin, "Encrypt", { KeyId: keyId, Plaintext: "eA==" });
  await kmsCall(narrowed, "Decrypt", { CiphertextBlob: String(enc["CiphertextBlob"]) });
  assert.equal(
    await sdkErrorCode(kmsCall(narrowed, "Encrypt", { KeyId: keyId, Plaintext: "eA==" })),
    "Forbidden.RAM",
  );
});

test("a service principal assumes a role that trusts its service, with no permission policy of its own", async () => {
  const id = stack.kms.identity;
  await id.createPrincipal("cs.aliyuncs.com", "service");
  const service = await id.createAccessKey("cs.aliyuncs.com");
  await createRole(
    "AliyunCSManagedSecurityRole",
    JSON.stringify({
      Version: "1",
      Statement: [{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: ["cs.aliyuncs.com"] } }],
    }),
    ["AliyunCSManagedSecurityRolePolicy"],
  );
  const body = await assume(service, {
    roleArn: roleArn("aliyuncsmanagedsecurityrole"),
    roleSessionName: "cluster-abc",
  });
  assert.equal(body.assumedRoleUser.arn, `${roleArn("AliyunCSManagedSecurityRole")}/cluster-abc`);
  const who = (await sts(asCreds(body))["getCallerIdentity"]!()) as { body: Record<string, unknown> };
  assert.equal(who.body["IdentityType"] ?? who.body["identityType"], "AssumedRoleUser");
  // A role that trusts only the account's RAM identities is not the service's to assume.
  assert.equal(
    await sdkErrorCode(assume(service, { roleArn: roleArn("app-role"), roleSessionName: "x1" })),
    "NoPermission",
  );
  // Nor can the service's own key do anything on the KMS.
  assert.equal(await sdkErrorCode(kmsCall(service, "ListKeys", {})), "Forbidden.RAM");
});
