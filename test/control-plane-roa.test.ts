/**
 * The older SDKs' ROA signature (`Authorization: acs <AccessKeyId>:<signature>`) on the cs API:
 * `@alicloud/pop-core`'s ROAClient, unmodified but for its endpoint (and the CA of the TLS it talks
 * to), and the official `@alicloud/cs20151215` client in its signature-v2 mode, call
 * DescribeClusterDetail and UpdateKMSEncryption against a control plane in this process; a wrong
 * secret, a replayed nonce, a stale Date, a forged STS token, a mismatched action and a malformed
 * header are refused with Alibaba's codes, change nothing, and are audited. The operation engine is a
 * fake (the real one runs in control-plane-up.test.ts): this is about who may call.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createRequire } from "node:module";
import { join } from "node:path";
import { startControlPlane, type RunningControlPlane } from "../src/control-plane/index.js";
import { computeSignatureRoa, contentMd5 } from "../src/iam/signature/index.js";
import type { EncryptionOperations, OperationRecord } from "../src/operations/index.js";
import { csSdk, until } from "./support/control-plane.js";
import {
  TEST_ACCOUNT_ID,
  sdkClient,
  startIdentityStack,
  stsSdk,
  type IdentityStack,
} from "./support/identity-stack.js";

const require = createRequire(import.meta.url);
type RoaClient = {
  request(
    method: string,
    uriPattern: string,
    query?: Record<string, string>,
    body?: string,
    headers?: Record<string, string>,
  ): Promise<unknown>;
};
const ROAClient = (
  require("@alicloud/pop-core") as { ROAClient: new (config: Record<string, unknown>) => RoaClient }
).ROAClient;

const CLUSTER = "c0000000000000000000000000000a01";
let stack: IdentityStack;
let cp: RunningControlPlane;

const succeeded = {
  id: "op-1",
  state: "Succeeded",
  stage: "release-key",
  type: "disable",
  target: { provider: "identity" },
  stages: [{ name: "preflight", state: "succeeded" }],
  progress: { rewritten: 1 },
  verify: { underTarget: 1, total: 1 },
} as unknown as OperationRecord;

/** The last request options pop-core handed to its HTTP layer (httpx's beforeRequest: a look, no change). */
let lastSent: { path: string; method: string; headers: Record<string, string> } | undefined;

function popCore(creds: { accessKeyId: string; accessKeySecret: string; securityToken?: string }): RoaClient {
  return new ROAClient({
    endpoint: cp.url,
    apiVersion: "2015-12-15",
    ...creds,
    opts: {
      ca: stack.caPem,
      beforeRequest: (o: { path: string; method: string; headers: Record<string, string> }) => {
        lastSent = { path: o.path, method: o.method, headers: { ...o.headers } };
        return o;
      },
    },
  });
}

/** What pop-core throws for an error answer: the status and ACK's body ({requestId, code, message}). */
async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as {
      statusCode?: number;
      result?: { code?: string; message?: string; requestId?: string };
    };
    if (typeof e.statusCode !== "number") throw err;
    assert.match(e.result?.requestId ?? "", /^[0-9A-F-]{36}$/, "an error answer carries ACK's requestId");
    return { status: e.statusCode, code: String(e.result?.code), message: String(e.result?.message) };
  }
  throw new Error("the call succeeded");
}

/** A raw HTTPS request to the control plane: status and parsed body. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body = "",
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, cp.url), { method, headers, ca: stack.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: res.statusCode ?? 0,
          body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>),
        });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Signs a GET as pop-core does (the unit test shows it is pop-core's signature), with a chosen Date. */
function signedGet(path: string, date: Date, extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = {
    accept: "application/json",
    date: date.toUTCString(),
    "x-acs-signature-nonce": `n-${Math.random().toString(36).slice(2)}`,
    "x-acs-signature-method": "HMAC-SHA1",
    "x-acs-signature-version": "1.0",
    "x-acs-version": "2015-12-15",
    "content-md5": contentMd5(""),
    ...extra,
  };
  const signature = computeSignatureRoa({
    method: "GET",
    pathname: path,
    query: {},
    headers,
    accessKeySecret: stack.admin.accessKeySecret,
  });
  return { ...headers, authorization: `acs ${stack.admin.accessKeyId}:${signature}` };
}

async function row() {
  return cp.service.store.getCluster(CLUSTER);
}

/** The audited refusals of an action with a code (the control plane's trail table). */
async function audited(eventName: string, errorCode: string): Promise<number> {
  const rows = await stack.kms.idb.db
    .selectFrom("trail_events")
    .select("seq")
    .where("event_name", "=", eventName)
    .where("error_code", "=", errorCode)
    .execute();
  return rows.length;
}

before(async () => {
  stack = await startIdentityStack("cp-roa");
  const clusterFile = join(stack.dir, "cluster.yaml");
  writeFileSync(
    clusterFile,
    [
      "apiVersion: atrest.io/v1alpha1",
      "kind: Cluster",
      "name: roa",
      "region: cn-hangzhou",
      "kubeconfig: kubeconfig",
      "apiservers: [{ url: 'https://127.0.0.1:6443', encryptionConfig: { file: enc.yaml } }]",
      "store: { sqlite: apiserver.db }",
      "kms: { profile: kms-profile.json }",
      "plugins: [{ name: atrest, endpoint: 'unix:///tmp/none.sock' }]",
      "",
    ].join("\n"),
  );
  await stack.kms.identity.attachPolicy("AliyunCSFullAccess", "admin");
  cp = await startControlPlane({
    identity: stack.kms.identity,
    idb: stack.kms.idb,
    accountId: TEST_ACCOUNT_ID,
    regionId: "cn-hangzhou",
    engines: (_cluster, o) => ({
      ops: {
        start: () => {
          o.progress({ event: "operation", state: "started", id: "op-1", type: "disable" });
          return Promise.resolve(succeeded);
        },
        resume: () => Promise.resolve(succeeded),
        status: () => Promise.resolve({ operation: succeeded, resources: {}, key: null }),
        plan: () => Promise.resolve({ blockers: [] }),
      } as unknown as EncryptionOperations,
      close: () => undefined,
    }),
    tls: {
      keyPem: readFileSync(join(stack.dir, "kms", "tls", "tls.key"), "utf8"),
      certPem: readFileSync(join(stack.dir, "kms", "tls", "tls.crt"), "utf8"),
    },
    cooldownMs: 0,
  });
  const now = Date.now();
  await cp.service.store.insertCluster({
    cluster_id: CLUSTER,
    name: "roa",
    region_id: "cn-hangzhou",
    cluster_file: clusterFile,
    state: "running",
    kms_key_id: "key-1",
    disable_encryption: 0,
    current_task_id: null,
    failure_reason: "",
    last_change_at: 0,
    created_by: "admin",
    created_at: now,
    updated_at: now,
  });
  await cp.service.store.grantRole(CLUSTER, "admin", "admin", "test", now);
});

after(async () => {
  await cp?.close();
  await stack?.close();
});

test("pop-core's ROAClient describes a cluster (acs AK:sig, HMAC-SHA1)", async () => {
  const detail = (await popCore(stack.admin).request("GET", `/clusters/${CLUSTER}`)) as Record<
    string,
    string
  >;
  assert.match(lastSent?.headers["authorization"] ?? "", /^acs [^:]+:[A-Za-z0-9+/]{27}=$/);
  assert.equal(detail["cluster_id"], CLUSTER);
  assert.equal(detail["state"], "running");
  assert.deepEqual(JSON.parse(detail["meta_data"] ?? "{}"), {
    EncryptionKMSKeyId: "key-1",
    DisableEncryption: false,
  });
});

test("a wrong secret is SignatureDoesNotMatch; a malformed header IncompleteSignature; both audited", async () => {
  const before = await audited("DescribeClusterDetail", "SignatureDoesNotMatch");
  const wrong = await refusal(
    popCore({ accessKeyId: stack.admin.accessKeyId, accessKeySecret: "not-the-secret" }).request(
      "GET",
      `/clusters/${CLUSTER}`,
    ),
  );
  assert.deepEqual([wrong.status, wrong.code], [400, "SignatureDoesNotMatch"]);
  assert.equal(await audited("DescribeClusterDetail", "SignatureDoesNotMatch"), before + 1);

  const malformed = await raw("GET", `/clusters/${CLUSTER}`, {
    ...signedGet(`/clusters/${CLUSTER}`, new Date()),
    authorization: "acs onlyakeyid",
  });
  assert.deepEqual([malformed.status, malformed.body["code"]], [400, "IncompleteSignature"]);
  assert.ok(!JSON.stringify(malformed.body).includes("onlyakeyid"), "the header is not echoed");
  assert.equal(await audited("DescribeClusterDetail", "IncompleteSignature"), 1);
});

test("a replayed request (same nonce) is SignatureNonceUsed", async () => {
  await popCore(stack.admin).request("GET", `/clusters/${CLUSTER}`);
  const sent = lastSent!;
  assert.ok(sent.headers["x-acs-signature-nonce"]);
  const headers = Object.fromEntries(Object.entries(sent.headers).map(([k, v]) => [k, String(v)]));
  const replay = await raw(sent.method, sent.path, headers);
  assert.deepEqual([replay.status, replay.body["code"]], [400, "SignatureNonceUsed"]);
  assert.equal(await audited("DescribeClusterDetail", "SignatureNonceUsed"), 1);
});

test("a Date outside ±15 minutes is InvalidTimeStamp.Expired; a signed x-acs-action must be the path's", async () => {
  const path = `/clusters/${CLUSTER}`;
  const stale = await raw("GET", path, signedGet(path, new Date(Date.now() - 16 * 60_000)));
  assert.deepEqual([stale.status, stale.body["code"]], [400, "InvalidTimeStamp.Expired"]);
  const fresh = await raw("GET", path, signedGet(path, new Date()));
  assert.equal(fresh.status, 200);
  const other = await raw("GET", path, signedGet(path, new Date(), { "x-acs-action": "DeleteCluster" }));
  assert.deepEqual([other.status, other.body["code"]], [400, "InvalidParameter"]);
  const noDate = signedGet(path, new Date());
  delete noDate["date"];
  const missing = await raw("GET", path, noDate);
  assert.equal(missing.status, 400);
  assert.ok(["SignatureDoesNotMatch", "MissingParameter"].includes(String(missing.body["code"])));
  assert.equal((await row())?.state, "running");
});

test("a tampered body (Content-MD5 no longer its digest) is SignatureDoesNotMatch; nothing changes", async () => {
  const body = JSON.stringify({ disable_encryption: false, kms_key_id: "key-1" });
  const path = `/clusters/${CLUSTER}/kms`;
  const headers: Record<string, string> = {
    accept: "application/json",
    date: new Date().toUTCString(),
    "x-acs-signature-nonce": `n-${Math.random().toString(36).slice(2)}`,
    "x-acs-version": "2015-12-15",
    "content-type": "application/json",
    "content-md5": contentMd5(body),
  };
  const signature = computeSignatureRoa({
    method: "PUT",
    pathname: path,
    query: {},
    headers,
    accessKeySecret: stack.admin.accessKeySecret,
  });
  const tampered = await raw(
    "PUT",
    path,
    { ...headers, authorization: `acs ${stack.admin.accessKeyId}:${signature}` },
    JSON.stringify({ disable_encryption: true }),
  );
  assert.deepEqual([tampered.status, tampered.body["code"]], [400, "SignatureDoesNotMatch"]);
  assert.equal((await row())?.disable_encryption, 0);
  assert.equal((await row())?.current_task_id, null);
});

test("pop-core's UpdateKMSEncryption disables encryption: 2xx, empty body, a task run to success", async () => {
  const answer = await popCore(stack.admin).request(
    "PUT",
    `/clusters/${CLUSTER}/kms`,
    {},
    JSON.stringify({ disable_encryption: true }),
    { "Content-Type": "application/json" },
  );
  assert.equal(answer, "");
  const done = await until("the cluster running, encryption disabled", 20_000, async () => {
    const r = await row();
    return r?.state === "running" && r.disable_encryption === 1 ? r : undefined;
  });
  assert.ok(done.current_task_id !== null, "the change ran as a task");
  assert.equal((await cp.service.store.getTask(done.current_task_id))?.state, "success");
});

test("an STS session signs with x-acs-security-token; a forged token is refused", async () => {
  await stack.kms.identity.createPrincipal("roa-viewer", "role", {
    trustPolicy: JSON.stringify({
      Version: "1",
      Statement: [
        {
          Action: "sts:AssumeRole",
          Effect: "Allow",
          Principal: { RAM: [`acs:ram::${TEST_ACCOUNT_ID}:root`] },
        },
      ],
    }),
  });
  await stack.kms.identity.attachPolicy("AliyunCSReadOnlyAccess", "roa-viewer", "role");
  await cp.service.store.grantRole(CLUSTER, "roa-viewer", "restricted", "test", Date.now());
  const res = (await sdkClient(stsSdk, cp.url, stack.caPem, stack.admin)["assumeRole"]!(
    new (stsSdk["AssumeRoleRequest"] as new (v: Record<string, unknown>) => unknown)({
      roleArn: `acs:ram::${TEST_ACCOUNT_ID}:role/roa-viewer`,
      roleSessionName: "roa-session",
      durationSeconds: 900,
    }),
  )) as { body: { credentials: { accessKeyId: string; accessKeySecret: string; securityToken: string } } };
  const c = res.body.credentials;
  const session = {
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    securityToken: c.securityToken,
  };
  const detail = (await popCore(session).request("GET", `/clusters/${CLUSTER}`)) as Record<string, string>;
  assert.equal(lastSent?.headers["x-acs-security-token"], c.securityToken);
  assert.equal(detail["cluster_id"], CLUSTER);
  const forged = await refusal(
    popCore({ ...session, securityToken: `${c.securityToken.slice(0, -4)}AAAA` }).request(
      "GET",
      `/clusters/${CLUSTER}`,
    ),
  );
  assert.equal(forged.status, 400);
  assert.match(forged.code, /^InvalidSecurityToken\./);
  const noToken = await refusal(
    popCore({ accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret }).request(
      "GET",
      `/clusters/${CLUSTER}`,
    ),
  );
  assert.equal(noToken.code, "InvalidSecurityToken.Malformed");
});

test("the official cs client in signature-v2 mode (acs AK:sig with x-acs-action) works too", async () => {
  const client = sdkClient(csSdk, cp.url, stack.caPem, stack.admin, { signatureV1: true });
  const r = (await client["describeClusterDetail"]!(CLUSTER)) as {
    body: { clusterId: string; state: string };
  };
  assert.equal(r.body.clusterId, CLUSTER);
  assert.equal(r.body.state, "running");
});

test("an RPC endpoint takes no ROA signature (the identity services at /)", async () => {
  const r = await raw("GET", "/?Action=GetCallerIdentity&Version=2015-04-01", signedGet("/", new Date()));
  assert.equal(r.status, 400);
  assert.equal(r.body["Code"] ?? r.body["code"], "MissingParameter");
});
