/**
 * The control plane's own watch of its clusters, in this process against a real atrest kms, with the
 * official cs client: the per-cluster auto re-encrypt setting stored as the `atrest.io/auto-reencrypt`
 * tag (ModifyClusterTags; the tags and the setting in DescribeClusterDetail; the change a cluster event
 * and an ActionTrail event naming who), bad tag input refused with nothing changed; key health as the
 * service role in DescribeClusterDetail's `health` (EKS's issue shape) and a cluster event when it
 * changes, once; two instances on one database: only the lease holder checks, the other takes over
 * when it stops. The operation engine is a fake (re-encryption itself: control-plane-up-reencrypt).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CsClient,
  startControlPlane,
  type ClusterEngineFactory,
  type RunningControlPlane,
} from "../src/control-plane/index.js";
import { ensureServicePrincipal, ensureServiceRole } from "../src/iam/index.js";
import type { EncryptionOperations } from "../src/operations/index.js";
import { csClient, csFailure, csModel, type Creds } from "./support/control-plane.js";
import {
  TEST_ACCOUNT_ID,
  TEST_REGION,
  callRpc,
  ramSdk,
  sdkClient,
  startIdentityStack,
  type IdentityStack,
} from "./support/identity-stack.js";

const CLUSTER = "c00000000000000000000000000000a1";
let stack: IdentityStack;
let clusterFile: string;
let keyId: string;

/** Nothing runs here: the watch's re-encrypt side finds the apiservers unreachable and waits. */
const engines: ClusterEngineFactory = () => ({
  ops: {
    status: () => Promise.reject(new Error("no cluster here")),
    plan: () => Promise.resolve({ blockers: [] }),
  } as unknown as EncryptionOperations,
  close: () => undefined,
});

const instances: RunningControlPlane[] = [];
async function instance(name: string): Promise<RunningControlPlane> {
  const cp = await startControlPlane({
    identity: stack.kms.identity,
    idb: stack.kms.idb,
    accountId: TEST_ACCOUNT_ID,
    regionId: TEST_REGION,
    engines,
    tls: {
      keyPem: readFileSync(join(stack.dir, "kms", "tls", "tls.key"), "utf8"),
      certPem: readFileSync(join(stack.dir, "kms", "tls", "tls.crt"), "utf8"),
    },
    instanceId: name,
    // Rounds are driven by the test (tickNow); the timers stay far off.
    taskLeaseMs: 600_000,
    watch: { healthIntervalMs: 3_600_000, reencryptIntervalMs: 3_600_000, settleMs: 0 },
  });
  instances.push(cp);
  return cp;
}

const kms = (action: string, query: Record<string, string> = {}) =>
  callRpc(stack.kms.url, stack.caPem, stack.admin, { action, version: "2016-01-20", query });
const ram = async (method: string, model: string, v: Record<string, unknown>) =>
  (
    (await sdkClient(ramSdk, stack.identity.url, stack.caPem, stack.admin)[method]!(
      new (ramSdk[model] as new (v: Record<string, unknown>) => unknown)(v),
    )) as { body: Record<string, unknown> }
  ).body;

const tag = (key: string, value: string) => csModel("Tag", { key, value });
const modifyTags = (cp: RunningControlPlane, c: Creds, tags: unknown[], id = CLUSTER) =>
  csClient(cp.url, stack.caPem, c)["modifyClusterTags"]!(
    id,
    csModel("ModifyClusterTagsRequest", { body: tags }),
  );
type Raw = {
  tags: Array<{ key: string; value: string }>;
  auto_reencrypt: boolean;
  state: string;
  health: { issues: Array<{ code: string; message: string; resourceIds: string[] }>; key_state?: string };
};
/** DescribeClusterDetail's JSON as sent (the SDK's model drops `health`), signed as the SDK signs. */
const raw = async (cp: RunningControlPlane): Promise<Raw> =>
  (
    await new CsClient({ endpoint: cp.url, caPem: stack.caPem, ...stack.admin }).call(
      "DescribeClusterDetail",
      "GET",
      `/clusters/${CLUSTER}`,
    )
  ).body as Raw;
type Event = { type: string; source: string; data: { level: string; reason: string; message: string } };
const events = async (cp: RunningControlPlane): Promise<Event[]> =>
  (
    (await csClient(cp.url, stack.caPem, stack.admin)["describeClusterEvents"]!(
      CLUSTER,
      csModel("DescribeClusterEventsRequest", { pageSize: 100 }),
    )) as { body: { events: Event[] } }
  ).body.events;
const trail = async (eventName: string) =>
  (
    await callRpc(stack.identity.url, stack.caPem, stack.admin, {
      action: "LookupEvents",
      version: "2020-07-06",
      query: { "LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": eventName },
    })
  )["Events"] as Array<{ errorCode?: string; userIdentity: { userName: string } }>;

async function user(name: string, policy: string): Promise<Creds> {
  await ram("createUser", "CreateUserRequest", { userName: name });
  const ak = (await ram("createAccessKey", "CreateAccessKeyRequest", { userName: name }))[
    "accessKey"
  ] as Creds;
  await ram("attachPolicyToUser", "AttachPolicyToUserRequest", {
    policyType: "System",
    policyName: policy,
    userName: name,
  });
  return { accessKeyId: ak.accessKeyId, accessKeySecret: ak.accessKeySecret };
}

before(async () => {
  stack = await startIdentityStack("cp-cluster-watch");
  await stack.kms.identity.attachPolicy("AliyunCSFullAccess", "admin");
  await ensureServiceRole(stack.kms.identity);
  await ensureServicePrincipal(stack.kms.identity);
  keyId = ((await kms("CreateKey", { KeySpec: "Aliyun_AES_256" }))["KeyMetadata"] as { KeyId: string }).KeyId;
  // The cluster's KMS profile: the watch reads the endpoint, region and CA from it (never its key).
  const profile = join(stack.dir, "kms-profile.json");
  writeFileSync(
    profile,
    JSON.stringify({ endpoint: stack.kms.url, regionId: TEST_REGION, caFile: stack.caFile, ...stack.admin }),
    { mode: 0o600 },
  );
  clusterFile = join(stack.dir, "cluster.yaml");
  writeFileSync(
    clusterFile,
    [
      "apiVersion: atrest.io/v1alpha1",
      "kind: Cluster",
      "name: watched",
      `region: ${TEST_REGION}`,
      "kubeconfig: kubeconfig",
      "apiservers: [{ url: 'https://127.0.0.1:1', encryptionConfig: { file: enc.yaml } }]",
      "store: { sqlite: apiserver.db }",
      "kms: { profile: kms-profile.json }",
      "plugins: [{ name: atrest, endpoint: 'unix:///tmp/none.sock' }]",
      "",
    ].join("\n"),
  );
  const a = await instance("a");
  const now = Date.now();
  await a.service.store.insertCluster({
    cluster_id: CLUSTER,
    name: "watched",
    region_id: TEST_REGION,
    cluster_file: clusterFile,
    state: "running",
    kms_key_id: keyId,
    disable_encryption: 0,
    current_task_id: null,
    failure_reason: "",
    last_change_at: 0,
    created_by: "admin",
    created_at: now,
    updated_at: now,
  });
  await a.service.store.grantRole(CLUSTER, "admin", "admin", "test", now);
});

after(async () => {
  for (const cp of instances) await cp.close();
  await stack?.close();
});

test("ModifyClusterTags (official SDK): the tags and the auto re-encrypt setting in describe, who changed it recorded", async () => {
  const a = instances[0]!;
  assert.equal((await raw(a)).auto_reencrypt, true, "on by default");
  const r = (await modifyTags(a, stack.admin, [
    tag("team", "payments"),
    tag("atrest.io/auto-reencrypt", "false"),
  ])) as {
    statusCode: number;
  };
  assert.equal(r.statusCode, 200);
  const d = (await csClient(a.url, stack.caPem, stack.admin)["describeClusterDetail"]!(CLUSTER)) as {
    body: { tags: Array<{ key: string; value: string }> };
  };
  assert.deepEqual(
    d.body.tags.map((t) => [t.key, t.value]),
    [
      ["team", "payments"],
      ["atrest.io/auto-reencrypt", "false"],
    ],
  );
  assert.equal((await raw(a)).auto_reencrypt, false);
  const e = (await events(a)).find((x) => x.data.reason === "ModifyClusterTags");
  assert.ok(e !== undefined);
  assert.equal(e.source, "admin");
  assert.match(e.data.message, /^admin set the tags .*automatic re-encryption is off$/);
  assert.ok(
    (await trail("ModifyClusterTags")).some(
      (t) => t.userIdentity.userName === "admin" && t.errorCode === undefined,
    ),
  );
  // A full update, as ACK's: the list without the setting turns it back on (the default).
  await modifyTags(a, stack.admin, [tag("team", "payments")]);
  assert.equal((await raw(a)).auto_reencrypt, true);
  assert.deepEqual((await raw(a)).tags, [{ key: "team", value: "payments" }]);
});

test("bad tag input: Alibaba-shaped errors, the tags unchanged, every refusal in LookupEvents", async () => {
  const a = instances[0]!;
  const before = (await raw(a)).tags;
  const dev = await user("tag-dev", "AliyunCSFullAccess");
  await a.service.store.grantRole(CLUSTER, "tag-dev", "dev", "test", Date.now());
  const cases: Array<[string, Promise<unknown>, number, string, RegExp]> = [
    [
      "unknown cluster",
      modifyTags(a, stack.admin, [tag("k", "v")], "c0000000000000000000000000000bad"),
      404,
      "ErrorClusterNotFound",
      /not found/,
    ],
    [
      "not true or false",
      modifyTags(a, stack.admin, [tag("atrest.io/auto-reencrypt", "no")]),
      400,
      "InvalidParameter",
      /true or false/,
    ],
    ["reserved prefix", modifyTags(a, stack.admin, [tag("acs:owner", "x")]), 400, "InvalidParameter", /acs:/],
    ["twice", modifyTags(a, stack.admin, [tag("k", "1"), tag("k", "2")]), 400, "InvalidParameter", /twice/],
    [
      "too many",
      modifyTags(
        a,
        stack.admin,
        Array.from({ length: 21 }, (_, i) => tag(`k${i}`, "v")),
      ),
      400,
      "InvalidParameter",
      /at most 20/,
    ],
    [
      "a developer turning it off",
      modifyTags(a, dev, [tag("atrest.io/auto-reencrypt", "false")]),
      403,
      "ForbiddenCheckRole",
      /O&M/,
    ],
  ];
  for (const [what, p, status, code, message] of cases) {
    const f = await csFailure(p);
    assert.deepEqual([f.status, f.code], [status, code], what);
    assert.match(f.message, message, what);
  }
  assert.deepEqual((await raw(a)).tags, before);
  const refused = (await trail("ModifyClusterTags")).map((t) => t.errorCode);
  for (const code of ["ErrorClusterNotFound", "InvalidParameter", "ForbiddenCheckRole"])
    assert.ok(refused.includes(code), `${code} recorded`);
  // Tags that leave the setting alone are a developer's to change (RAM allows it).
  await modifyTags(a, dev, [tag("team", "checkout")]);
  assert.deepEqual((await raw(a)).tags, [{ key: "team", value: "checkout" }]);
});

test("key health: a disabled key in describe's health and one Warning event; enabled again: Normal, no issues", async () => {
  const a = instances[0]!;
  const watch = a.service.clusterWatch!;
  await watch.tickNow({ health: true });
  assert.equal(watch.leader, true);
  const healthy = await raw(a);
  assert.deepEqual(healthy.health.issues, []);
  assert.equal(healthy.health.key_state, "Enabled");
  const warnings = async () => (await events(a)).filter((e) => e.type === "cluster_health");
  assert.deepEqual(await warnings(), [], "healthy from the start: nothing to say");

  await kms("DisableKey", { KeyId: keyId });
  await watch.tickNow({ health: true });
  await watch.tickNow({ health: true });
  const sick = await raw(a);
  assert.deepEqual(
    sick.health.issues.map((i) => [i.code, i.resourceIds]),
    [["KmsKeyDisabled", [keyId]]],
  );
  assert.equal(sick.health.key_state, "Disabled");
  assert.equal(sick.state, "running", "as EKS: the cluster status stays, the issue says what is wrong");
  const w = await warnings();
  assert.deepEqual(
    w.map((e) => [e.data.level, e.data.reason]),
    [["Warning", "KmsKeyDisabled"]],
    "once, not every round",
  );
  assert.match(w[0]!.data.message, /EnableKey/);

  await kms("EnableKey", { KeyId: keyId });
  await watch.tickNow({ health: true });
  assert.deepEqual((await raw(a)).health.issues, []);
  assert.deepEqual(
    (await warnings()).map((e) => [e.data.level, e.data.reason]),
    [
      ["Normal", "KmsKeyHealthy"],
      ["Warning", "KmsKeyDisabled"],
    ],
  );
  // The check went out as the service role (the plugin's identity), as ActionTrail shows it.
  const describeKeys = (await trail("DescribeKey")) as Array<{
    userIdentity: { userName: string; type?: string };
  }>;
  assert.ok(
    describeKeys.some((e) => e.userIdentity.userName === "AliyunCSManagedSecurityRole:atrest-control-plane"),
  );
});

test("two instances on one database: only the lease holder watches; it stops, the other takes over without repeating", async () => {
  const a = instances[0]!;
  const b = await instance("b");
  const before = (await events(a)).length;
  await b.service.clusterWatch!.tickNow({ health: true });
  assert.equal(b.service.clusterWatch!.leader, false, "a holds the lease");
  await kms("ScheduleKeyDeletion", { KeyId: keyId, PendingWindowInDays: "7" });
  await b.service.clusterWatch!.tickNow({ health: true });
  assert.equal((await events(a)).length, before, "b checked nothing");
  await a.service.shutdown();
  await b.service.clusterWatch!.tickNow({ health: true });
  assert.equal(b.service.clusterWatch!.leader, true, "b took the lease a gave up");
  const issues = (await raw(b)).health.issues;
  assert.deepEqual(
    issues.map((i) => i.code),
    ["KmsKeyMarkedForDeletion"],
  );
  await b.service.clusterWatch!.tickNow({ health: true });
  const health = (await events(b)).filter((e) => e.type === "cluster_health");
  assert.equal(health[0]?.data.reason, "KmsKeyMarkedForDeletion");
  assert.equal(health.filter((e) => e.data.reason === "KmsKeyMarkedForDeletion").length, 1);
  await kms("CancelKeyDeletion", { KeyId: keyId });
});
