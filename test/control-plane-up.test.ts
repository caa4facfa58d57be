/**
 * The control plane of `atrest up` with the official clients (cs 2015-12-15, RAM, STS, ActionTrail's
 * LookupEvents through openapi-client): up's cluster is described `running` with ACK's meta_data; the
 * seed documents' deny policy and a developer-role user are refused (403, Alibaba's shape) and change
 * nothing, the refusal recorded; bad input gets Alibaba-shaped errors and changes nothing; assumed-role
 * (STS) credentials are accepted and a forged token refused; UpdateKMSEncryption disable goes
 * updating → running and `atrest scan` finds no Secret under the KMS; a second change inside the
 * cool-down is 409; enable goes updating → running and every Secret is under the key.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { request } from "node:https";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signRequestV3 } from "../src/iam/signature/index.js";
import { runAtrest } from "./support/cli.js";
import {
  csClient,
  csFailure,
  csModel,
  startUpWithControlPlane,
  until,
  type Creds,
  type UpReady,
} from "./support/control-plane.js";
import { callRpc, ramSdk, sdkClient, stsSdk } from "./support/identity-stack.js";
import { Kubectl } from "./support/kubectl.js";

const COOLDOWN_S = 20;
const OPERATION_TIMEOUT_MS = 6 * 60_000;
const SECRETS = 4;

const root = mkdtempSync(join(tmpdir(), "atrest-cp-up-"));
let child: ChildProcess | undefined;
let up: UpReady;
let caPem: string;
let admin: Creds;
let accountId: string;

type Detail = { state: string; metaData: string; clusterId: string; name: string };
const cs = (c: Creds) => csClient(up.controlPlaneUrl, caPem, c);
const describe = async (c: Creds = admin) =>
  ((await cs(c)["describeClusterDetail"]!(up.clusterId)) as { body: Detail }).body;
const meta = (d: Detail) =>
  JSON.parse(d.metaData) as { EncryptionKMSKeyId: string; DisableEncryption: boolean };
const update = (c: Creds, body: Record<string, unknown>, clusterId = up.clusterId) =>
  cs(c)["updateKMSEncryption"]!(clusterId, csModel("UpdateKMSEncryptionRequest", body)) as Promise<{
    statusCode: number;
  }>;
const ram = async (method: string, model: string, v: Record<string, unknown>) =>
  (
    (await sdkClient(ramSdk, up.controlPlaneUrl, caPem, admin)[method]!(
      new (ramSdk[model] as new (v: Record<string, unknown>) => unknown)(v),
    )) as { body: Record<string, unknown> }
  ).body;
const lookup = (query: Record<string, string>) =>
  callRpc(up.controlPlaneUrl, caPem, admin, { action: "LookupEvents", version: "2020-07-06", query });
type TrailEvent = {
  eventName: string;
  errorCode?: string;
  serviceName: string;
  userIdentity: Record<string, string>;
};

/** A RAM user with an access key and the given system/custom policies. */
async function user(
  name: string,
  policies: Array<{ type: "System" | "Custom"; name: string }>,
): Promise<Creds> {
  await ram("createUser", "CreateUserRequest", { userName: name });
  const ak = (await ram("createAccessKey", "CreateAccessKeyRequest", { userName: name }))["accessKey"] as {
    accessKeyId: string;
    accessKeySecret: string;
  };
  for (const p of policies)
    await ram("attachPolicyToUser", "AttachPolicyToUserRequest", {
      policyType: p.type,
      policyName: p.name,
      userName: name,
    });
  return { accessKeyId: ak.accessKeyId, accessKeySecret: ak.accessKeySecret };
}

async function grant(principal: string, role: string): Promise<void> {
  const r = await runAtrest([
    "control-plane",
    "grant",
    "--profile",
    up.kmsProfile,
    "--cluster-id",
    up.clusterId,
    "--principal",
    principal,
    "--role",
    role,
  ]);
  assert.equal(r.status, 0, r.stderr);
}

type ScanSecrets = {
  total: number;
  encrypted: number;
  plaintext: number;
  byKmsProvider: Record<string, number>;
};
async function scanSecrets(): Promise<ScanSecrets> {
  const r = await runAtrest([
    "scan",
    "--datastore-endpoint",
    `sqlite://${up.storeLocation.sqlite!}`,
    "--resource",
    "secrets",
    "-o",
    "json",
  ]);
  return (JSON.parse(r.stdout) as { resources: { secrets: ScanSecrets } }).resources.secrets;
}

async function waitRunning(): Promise<Detail> {
  return until("the cluster to leave updating", OPERATION_TIMEOUT_MS, async () => {
    const d = await describe();
    return d.state === "updating" ? undefined : d;
  });
}

before(async () => {
  const started = await startUpWithControlPlane(join(root, "up"), ["--update-cooldown", `${COOLDOWN_S}s`]);
  child = started.child;
  up = started.ready;
  const profile = JSON.parse(readFileSync(up.kmsProfile, "utf8")) as Creds & { caFile: string };
  admin = { accessKeyId: profile.accessKeyId, accessKeySecret: profile.accessKeySecret };
  caPem = readFileSync(profile.caFile, "utf8");
  const kubectl = new Kubectl(up.kubeconfig);
  for (let i = 0; i < SECRETS; i++)
    await kubectl.ok(["create", "secret", "generic", `s${i}`, "--from-literal", `k=value-${i}`]);
  accountId = /^acs:ram::(\d+):/.exec(up.pluginRoleArn)![1]!;
});

after(() => {
  child?.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

test("describe: up's cluster is running, its Secrets under up's key (ACK's meta_data); the list has it", async () => {
  const d = await describe();
  assert.equal(d.state, "running");
  assert.equal(d.name, "atrest-up");
  assert.deepEqual(meta(d), { EncryptionKMSKeyId: up.keyId, DisableEncryption: false });
  const list = (await cs(admin)["describeClustersV1"]!(csModel("DescribeClustersV1Request", {}))) as {
    body: { clusters: Detail[]; pageInfo: { totalCount: number } };
  };
  assert.equal(list.body.pageInfo.totalCount, 1);
  assert.equal(list.body.clusters[0]?.clusterId, up.clusterId);
});

test("the seed documents' deny policy: 403 StatusForbidden, nothing changed, the refusal in LookupEvents", async () => {
  await ram("createPolicy", "CreatePolicyRequest", {
    policyName: "deny-kms-encryption",
    policyDocument: JSON.stringify({
      Version: "1",
      Statement: [{ Action: ["cs:UpdateKMSEncryption"], Effect: "Deny", Resource: ["*"] }],
    }),
  });
  const denied = await user("denied", [
    { type: "System", name: "AliyunCSFullAccess" },
    { type: "Custom", name: "deny-kms-encryption" },
  ]);
  await grant("denied", "admin"); // even a cluster administrator: the explicit Deny wins
  const f = await csFailure(update(denied, { disableEncryption: true }));
  assert.equal(f.status, 403);
  assert.equal(f.code, "StatusForbidden");
  assert.match(f.message, /explicitly denied cs:UpdateKMSEncryption/);
  const d = await describe();
  assert.equal(d.state, "running");
  assert.equal(meta(d).DisableEncryption, false);
  // It may still read.
  assert.equal((await describe(denied)).state, "running");
  const events = (
    await lookup({
      "LookupAttribute.1.Key": "EventName",
      "LookupAttribute.1.Value": "UpdateKMSEncryption",
      "LookupAttribute.2.Key": "UserName",
      "LookupAttribute.2.Value": "denied",
    })
  )["Events"] as TrailEvent[];
  assert.equal(events.length, 1);
  assert.equal(events[0]?.errorCode, "StatusForbidden");
  assert.equal(events[0]?.serviceName, "cs.aliyuncs.com");
});

test("cluster roles: a developer, and a user without a role, get ForbiddenUpdateKMSState", async () => {
  const dev = await user("dev1", [{ type: "System", name: "AliyunCSFullAccess" }]);
  await grant("dev1", "dev");
  const f = await csFailure(update(dev, { disableEncryption: true }));
  assert.equal(f.status, 403);
  assert.equal(f.code, "ForbiddenUpdateKMSState");
  const none = await user("norole", [{ type: "System", name: "AliyunCSFullAccess" }]);
  assert.equal((await csFailure(update(none, { disableEncryption: true }))).code, "ForbiddenUpdateKMSState");
  // Without any cs policy: RAM refuses before the role is looked at.
  const plain = await user("plain", []);
  assert.equal((await csFailure(describe(plain))).code, "StatusForbidden");
  assert.equal((await describe()).state, "running");
});

test("assumed-role credentials (STS) are accepted; a forged token is refused", async () => {
  await ram("createRole", "CreateRoleRequest", {
    roleName: "cs-operator",
    assumeRolePolicyDocument: JSON.stringify({
      Version: "1",
      Statement: [
        { Action: "sts:AssumeRole", Effect: "Allow", Principal: { RAM: [`acs:ram::${accountId}:root`] } },
      ],
    }),
  });
  await ram("attachPolicyToRole", "AttachPolicyToRoleRequest", {
    policyType: "System",
    policyName: "AliyunCSReadOnlyAccess",
    roleName: "cs-operator",
  });
  const arn = (
    (await ram("getRole", "GetRoleRequest", { roleName: "cs-operator" }))["role"] as { arn: string }
  ).arn;
  const assumed = (await sdkClient(stsSdk, up.controlPlaneUrl, caPem, admin)["assumeRole"]!(
    new (stsSdk["AssumeRoleRequest"] as new (v: Record<string, unknown>) => unknown)({
      roleArn: arn,
      roleSessionName: "ops-session",
    }),
  )) as { body: { credentials: { accessKeyId: string; accessKeySecret: string; securityToken: string } } };
  const c = assumed.body.credentials;
  const session: Creds = {
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    securityToken: c.securityToken,
  };
  assert.equal((await describe(session)).state, "running");
  // Read-only policy: a change is a RAM refusal.
  assert.equal((await csFailure(update(session, { disableEncryption: true }))).code, "StatusForbidden");
  const forged = { ...session, securityToken: `${c.securityToken.slice(0, -4)}AAAA` };
  const f = await csFailure(describe(forged));
  assert.equal(f.status, 400);
  assert.match(f.code, /^InvalidSecurityToken/);
  const events = (
    await lookup({
      "LookupAttribute.1.Key": "EventName",
      "LookupAttribute.1.Value": "DescribeClusterDetail",
      "LookupAttribute.2.Key": "UserName",
      "LookupAttribute.2.Value": "cs-operator:ops-session",
    })
  )["Events"] as TrailEvent[];
  assert.ok(events.some((e) => e.userIdentity["type"] === "assumed-role" && e.errorCode === undefined));
});

/** A V3-signed raw request (to send what the SDK never would: a replay, a broken body). */
function rawSigned(
  method: string,
  pathname: string,
  action: string,
  body: string,
  creds: Creds = admin,
  nonce?: string,
): Record<string, string> {
  return signRequestV3({
    method,
    host: new URL(up.controlPlaneUrl).host,
    pathname,
    action,
    version: "2015-12-15",
    body,
    contentType: "application/json; charset=utf-8",
    accessKeyId: creds.accessKeyId,
    accessKeySecret: creds.accessKeySecret,
    ...(nonce === undefined ? {} : { nonce }),
  });
}

function send(method: string, pathname: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; json: Record<string, string> }>((resolve, reject) => {
    const req = request(new URL(pathname, up.controlPlaneUrl), { method, headers, ca: caPem }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          json: text === "" ? {} : (JSON.parse(text) as Record<string, string>),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("bad input: Alibaba-shaped errors, nothing changed", async () => {
  const kms = `/clusters/${up.clusterId}/kms`;
  const cases: Array<[string, Promise<{ status: number; code: string }>, number, string]> = [
    [
      "unknown cluster",
      csFailure(update(admin, { disableEncryption: true }, "c0000000000000000000000000000000")),
      404,
      "ErrorClusterNotFound",
    ],
    ["enable without a key", csFailure(update(admin, { disableEncryption: false })), 400, "MissingParameter"],
    [
      "unknown key",
      csFailure(update(admin, { disableEncryption: false, kmsKeyId: "key-does-not-exist" })),
      400,
      "ErrorKMSKeyInvalid",
    ],
    [
      "bad signature",
      csFailure(describe({ ...admin, accessKeySecret: "not-the-secret" })),
      400,
      "SignatureDoesNotMatch",
    ],
    [
      "unknown access key",
      csFailure(describe({ accessKeyId: "LTAInobody", accessKeySecret: "x" })),
      404,
      "InvalidAccessKeyId.NotFound",
    ],
  ];
  for (const [what, p, status, code] of cases) {
    const f = await p;
    assert.equal(f.status, status, what);
    assert.equal(f.code, code, what);
  }
  const broken = "{";
  const r1 = await send("PUT", kms, rawSigned("PUT", kms, "UpdateKMSEncryption", broken), broken);
  assert.equal(r1.status, 400);
  assert.equal(r1.json["code"], "InvalidParameter");
  assert.ok(r1.json["requestId"]);
  const typed = JSON.stringify({ disable_encryption: "yes" });
  const r2 = await send("PUT", kms, rawSigned("PUT", kms, "UpdateKMSEncryption", typed), typed);
  assert.equal(r2.json["code"], "InvalidParameter");
  assert.match(r2.json["message"] ?? "", /disable_encryption/);
  const path = `/clusters/${up.clusterId}`;
  const once = rawSigned("GET", path, "DescribeClusterDetail", "", admin, "nonce-replayed-1");
  assert.equal((await send("GET", path, once, "")).status, 200);
  const replay = await send("GET", path, once, "");
  assert.equal(replay.status, 400);
  assert.equal(replay.json["code"], "SignatureNonceUsed");
  const wrongAction = rawSigned("GET", path, "DeleteCluster", "");
  assert.equal((await send("GET", path, wrongAction, "")).json["code"], "InvalidParameter");
  const unknown = await send("GET", "/no/such/thing", rawSigned("GET", "/no/such/thing", "X", ""), "");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json["code"], "InvalidAction.NotFound");
  const d = await describe();
  assert.equal(d.state, "running");
  assert.deepEqual(meta(d), { EncryptionKMSKeyId: up.keyId, DisableEncryption: false });
  const refused = (
    await lookup({
      "LookupAttribute.1.Key": "EventName",
      "LookupAttribute.1.Value": "DescribeClusterDetail",
    })
  )["Events"] as TrailEvent[];
  assert.ok(
    refused.some((e) => e.errorCode === "SignatureNonceUsed"),
    "the replay is recorded",
  );
  assert.ok(
    refused.some((e) => e.errorCode === "SignatureDoesNotMatch"),
    "the bad signature is recorded",
  );
});

test("disable: updating → running, 409 while it runs and inside the cool-down, then enable: every Secret under the key", async () => {
  const started = await update(admin, { disableEncryption: true });
  assert.ok(started.statusCode >= 200 && started.statusCode < 300);
  assert.equal((await describe()).state, "updating");
  const busy = await csFailure(update(admin, { disableEncryption: false, kmsKeyId: up.keyId }));
  assert.equal(busy.status, 409);
  const done = await waitRunning();
  assert.equal(done.state, "running", JSON.stringify(done));
  assert.deepEqual(meta(done), { EncryptionKMSKeyId: "", DisableEncryption: true });
  const off = await scanSecrets();
  assert.ok(off.total >= SECRETS);
  assert.equal(off.encrypted, 0);
  assert.deepEqual(off.byKmsProvider, {});
  const events = (await cs(admin)["describeClusterEvents"]!(
    up.clusterId,
    csModel("DescribeClusterEventsRequest", {}),
  )) as { body: { events: Array<{ data: { reason: string; message: string } }> } };
  const succeeded = events.body.events.find((e) => e.data.reason === "UpdateKMSEncryptionSucceeded");
  assert.ok(succeeded, JSON.stringify(events.body));
  const asked = events.body.events.find((e) => e.data.reason === "UpdateKMSEncryption");
  const taskId = /T-[0-9a-f]+/.exec(asked?.data.message ?? "")?.[0];
  assert.ok(taskId);
  const task = (await cs(admin)["describeTaskInfo"]!(taskId)) as {
    body: { state: string; taskType: string; stages: Array<{ state: string }> };
  };
  assert.equal(task.body.state, "success");
  assert.equal(task.body.taskType, "kms_encryption_disable");
  assert.ok(task.body.stages.length > 0 && task.body.stages.every((s) => s.state === "succeeded"));

  // Inside the cool-down: 409, nothing changed.
  const cool = await csFailure(update(admin, { disableEncryption: false, kmsKeyId: up.keyId }));
  assert.equal(cool.status, 409);
  assert.match(cool.message, /wait until/);
  assert.equal((await describe()).state, "running");
  // After it, the same request is taken.
  await until("the cool-down to pass", (COOLDOWN_S + 30) * 1000, async () => {
    try {
      await update(admin, { disableEncryption: false, kmsKeyId: up.keyId });
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 409) return undefined;
      throw err;
    }
  });
  const on = await waitRunning();
  assert.equal(on.state, "running", JSON.stringify(on));
  assert.deepEqual(meta(on), { EncryptionKMSKeyId: up.keyId, DisableEncryption: false });
  const scan = await scanSecrets();
  assert.equal(scan.plaintext, 0);
  assert.equal(scan.encrypted, scan.total);
  assert.equal(
    Object.values(scan.byKmsProvider).reduce((a, b) => a + b, 0),
    scan.total,
  );
});
