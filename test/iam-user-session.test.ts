/**
 * A user's console session credential (src/iam/sts/user-session.ts), what a password sign-in gives
 * the console to sign the user's calls with: accepted by the KMS and the identity services like
 * AssumeRole's, with the user's own policies, and refused once ended, expired, or when the user or its
 * login profile is gone or changed. Console sign-in (consoleSignIn): one answer for a wrong user or
 * password, PasswordResetRequired met by setting a new password, every attempt a ConsoleSignin event.
 * Checked with the official clients (@alicloud/sts20150401, @alicloud/ram20150501, openapi-client).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { systemClock, type Clock } from "../src/common/clock.js";
import { consoleSignIn, type ConsoleSignInRequest } from "../src/iam/index.js";
import {
  TEST_ACCOUNT_ID,
  TEST_REGION,
  callRpc,
  ramSdk,
  sdkClient,
  sdkErrorCode,
  startIdentityStack,
  stsSdk,
  type IdentityStack,
} from "./support/identity-stack.js";

type Creds = { accessKeyId: string; accessKeySecret: string; securityToken?: string };
let stack: IdentityStack;
/** The services' clock runs `offsetMs` ahead of real time (signed requests still carry real time). */
let offsetMs = 0;
const clock: Clock = { ...systemClock, now: () => Date.now() + offsetMs };

const ram = async (c: Creds, method: string, model: string, v: Record<string, unknown> = {}) => {
  const client = sdkClient(ramSdk, stack.identity.url, stack.caPem, c);
  const Req = ramSdk[model] as new (v: Record<string, unknown>) => unknown;
  return ((await client[method]!(new Req(v))) as { body: Record<string, unknown> }).body;
};
const callerIdentity = async (c: Creds) => {
  const client = sdkClient(stsSdk, stack.identity.url, stack.caPem, c);
  return ((await client["getCallerIdentity"]!()) as { body: Record<string, unknown> }).body;
};
const listKeys = (c: Creds) =>
  callRpc(stack.kms.url, stack.caPem, c, { action: "ListKeys", version: "2016-01-20" });
/** The Alibaba code a call fails with ("" when it succeeds). */
const failure = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return "";
  } catch {
    return sdkErrorCode(p);
  }
};

function signIn(req: Partial<ConsoleSignInRequest> & { userName: string; password: string }) {
  return consoleSignIn(
    { identity: stack.kms.identity, idb: stack.kms.idb, regionId: TEST_REGION, clock },
    { durationSeconds: 3600, sourceIp: "192.0.2.7", requestId: "TEST-REQUEST", ...req },
  );
}
const credsOf = (r: Awaited<ReturnType<typeof signIn>>): Creds => ({
  accessKeyId: r.credentials.accessKeyId,
  accessKeySecret: r.credentials.accessKeySecret,
  securityToken: r.credentials.securityToken,
});
const codeOf = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "",
    (err: { details?: { acsCode?: string } }) => err.details?.acsCode ?? "?",
  );

before(async () => {
  stack = await startIdentityStack("user-session", { clock });
  await ram(stack.admin, "createUser", "CreateUserRequest", { userName: "alice" });
  await ram(stack.admin, "createLoginProfile", "CreateLoginProfileRequest", {
    userName: "alice",
    password: "Alice-pass-1",
  });
});
after(() => stack?.close());

describe("a user's console session credential", () => {
  it("signs the user's calls: the user as caller, its own policies, on the KMS and STS", async () => {
    const r = await signIn({ userName: "alice", password: "Alice-pass-1" });
    const c = credsOf(r);
    assert.match(c.accessKeyId, /^STS\./);
    assert.ok(!c.securityToken!.includes("Alice-pass-1"));
    const who = await callerIdentity(c);
    assert.equal(who["identityType"], "RAMUser");
    assert.equal(who["arn"], `acs:ram::${TEST_ACCOUNT_ID}:user/alice`);
    // alice has no policy yet: the KMS refuses her, then allows her once one is attached.
    assert.match(await failure(listKeys(c)), /Forbidden/);
    await ram(stack.admin, "attachPolicyToUser", "AttachPolicyToUserRequest", {
      userName: "alice",
      policyName: "AliyunKMSReadOnlyAccess",
      policyType: "System",
    });
    assert.ok(Array.isArray(((await listKeys(c))["Keys"] as { Key?: unknown })?.Key));
    // Sign-out ends it on every service.
    await stack.kms.identity.endUserSession(c.accessKeyId);
    assert.equal(await failure(listKeys(c)), "InvalidSecurityToken.Expired");
    assert.equal(await failure(callerIdentity(c)), "InvalidSecurityToken.Expired");
  });

  it("is refused once expired, or when the password changes or the login profile goes", async () => {
    offsetMs = -600_000; // issued 10 minutes "ago", for 15 minutes: 5 minutes left
    const short = credsOf(
      await signIn({ userName: "alice", password: "Alice-pass-1", durationSeconds: 900 }),
    );
    offsetMs = 0;
    assert.equal(await failure(listKeys(short)), "");
    offsetMs = 400_000; // the services' clock past its expiry (still within the signature's window)
    assert.equal(await failure(listKeys(short)), "InvalidSecurityToken.Expired");
    offsetMs = 0;

    const a = credsOf(await signIn({ userName: "alice", password: "Alice-pass-1" }));
    await ram(stack.admin, "updateLoginProfile", "UpdateLoginProfileRequest", {
      userName: "alice",
      password: "Alice-pass-2",
    });
    assert.equal(await failure(listKeys(a)), "InvalidSecurityToken.Expired");
    const b = credsOf(await signIn({ userName: "alice", password: "Alice-pass-2" }));
    assert.equal(await failure(listKeys(b)), "");
    await ram(stack.admin, "deleteLoginProfile", "DeleteLoginProfileRequest", { userName: "alice" });
    assert.equal(await failure(listKeys(b)), "InvalidSecurityToken.Expired");
  });

  it("is refused when the user is deleted (a new user of the same name is someone else)", async () => {
    await ram(stack.admin, "createUser", "CreateUserRequest", { userName: "carol" });
    await ram(stack.admin, "createLoginProfile", "CreateLoginProfileRequest", {
      userName: "carol",
      password: "Carol-pass-1",
    });
    const c = credsOf(await signIn({ userName: "carol", password: "Carol-pass-1" }));
    assert.equal(await failure(callerIdentity(c)), "");
    await ram(stack.admin, "deleteUser", "DeleteUserRequest", { userName: "carol" });
    await ram(stack.admin, "createUser", "CreateUserRequest", { userName: "carol" });
    await ram(stack.admin, "createLoginProfile", "CreateLoginProfileRequest", {
      userName: "carol",
      password: "Carol-pass-1",
    });
    assert.equal(await failure(callerIdentity(c)), "InvalidSecurityToken.Expired");
  });

  it("refuses an altered token, or one presented with another access key id", async () => {
    const c = credsOf(await signIn({ userName: "carol", password: "Carol-pass-1" }));
    const t = c.securityToken!;
    const flipped = t.slice(0, 40) + (t[40] === "A" ? "B" : "A") + t.slice(41);
    assert.equal(
      await failure(callerIdentity({ ...c, securityToken: flipped })),
      "InvalidSecurityToken.MismatchWithAccessKey",
    );
    const other = credsOf(await signIn({ userName: "carol", password: "Carol-pass-1" }));
    assert.equal(
      await failure(callerIdentity({ ...other, securityToken: t })),
      "InvalidSecurityToken.MismatchWithAccessKey",
    );
  });
});

describe("console sign-in", () => {
  it("gives one answer for an unknown user and a wrong password, and records every attempt", async () => {
    const wrong = await signIn({ userName: "carol", password: "Wrong-pass-1" }).catch((e: Error) => e);
    const unknown = await signIn({ userName: "nobody", password: "Carol-pass-1" }).catch((e: Error) => e);
    assert.ok(wrong instanceof Error && unknown instanceof Error);
    assert.equal(wrong.message, unknown.message);
    assert.equal(await codeOf(Promise.reject(wrong)), "SignIn.InvalidCredentials");
    assert.equal(await codeOf(Promise.reject(unknown)), "SignIn.InvalidCredentials");

    const events = await callRpc(stack.identity.url, stack.caPem, stack.admin, {
      action: "LookupEvents",
      version: "2020-07-06",
      query: {
        "LookupAttribute.1.Key": "EventName",
        "LookupAttribute.1.Value": "ConsoleSignin",
        "LookupAttribute.2.Key": "User",
        "LookupAttribute.2.Value": "carol",
        MaxResults: "50",
      },
    });
    const list = events["Events"] as Array<Record<string, unknown>>;
    const failed = list.filter((e) => e["errorCode"] === "SignIn.InvalidCredentials");
    const ok = list.filter((e) => e["errorCode"] === undefined);
    assert.equal(failed.length, 1);
    assert.ok(ok.length >= 3);
    for (const e of list) {
      assert.equal(e["eventType"], "ConsoleSignin");
      assert.equal(e["serviceName"], "AasSub");
      assert.equal(e["sourceIpAddress"], "192.0.2.7");
      assert.equal((e["userIdentity"] as Record<string, string>)["userName"], "carol");
      const text = JSON.stringify(e);
      assert.ok(!text.includes("Carol-pass-1") && !text.includes("Wrong-pass-1"), "no password recorded");
    }
  });

  it("PasswordResetRequired: the user must set a new password (not the old one) to go on", async () => {
    await ram(stack.admin, "createUser", "CreateUserRequest", { userName: "dave" });
    await ram(stack.admin, "createLoginProfile", "CreateLoginProfileRequest", {
      userName: "dave",
      password: "Dave-pass-1",
      passwordResetRequired: true,
    });
    assert.equal(
      await codeOf(signIn({ userName: "dave", password: "Dave-pass-1" })),
      "SignIn.PasswordResetRequired",
    );
    assert.equal(
      await codeOf(signIn({ userName: "dave", password: "Dave-pass-1", newPassword: "Dave-pass-1" })),
      "InvalidParameter.Password",
    );
    assert.equal(
      await codeOf(signIn({ userName: "dave", password: "Dave-pass-1", newPassword: "short" })),
      "InvalidParameter.Password",
    );
    assert.equal(
      await codeOf(signIn({ userName: "dave", password: "Wrong-pass-1", newPassword: "Dave-pass-2" })),
      "SignIn.InvalidCredentials",
    );
    const r = await signIn({ userName: "dave", password: "Dave-pass-1", newPassword: "Dave-pass-2" });
    assert.equal(r.passwordChanged, true);
    const profile = (await ram(stack.admin, "getLoginProfile", "GetLoginProfileRequest", {
      userName: "dave",
    })) as { loginProfile: { passwordResetRequired: boolean } };
    assert.equal(profile.loginProfile.passwordResetRequired, false);
    assert.equal(
      await codeOf(signIn({ userName: "dave", password: "Dave-pass-1" })),
      "SignIn.InvalidCredentials",
    );
    assert.equal(await codeOf(signIn({ userName: "dave", password: "Dave-pass-2" })), "");
  });
});
