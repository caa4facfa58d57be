/**
 * The control plane in this process on a manual clock, with the official cs and STS clients: an STS
 * session is accepted until it expires, then refused; enabling without the service role says what to
 * authorize; and a task whose instance died (its lease expired) is taken over by another instance on
 * the same database and finished, the engine resumed rather than started again. The operation engine
 * is a fake here (the real one runs in control-plane-up.test.ts).
 */
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ManualClock } from "../src/common/clock.js";
import { AtrestError } from "../src/common/errors.js";
import {
  startControlPlane,
  type ClusterEngineFactory,
  type RunningControlPlane,
} from "../src/control-plane/index.js";
import type { EncryptionOperations, OperationRecord } from "../src/operations/index.js";
import { csClient, csFailure, csModel, until, type Creds } from "./support/control-plane.js";
import {
  TEST_ACCOUNT_ID,
  sdkClient,
  startIdentityStack,
  stsSdk,
  type IdentityStack,
} from "./support/identity-stack.js";

const require = createRequire(import.meta.url);
const openapiCore = require("@alicloud/openapi-core") as {
  $OpenApiUtil: Record<"Params" | "OpenApiRequest", new (v: Record<string, unknown>) => unknown>;
};
const dara = require("@darabonba/typescript") as {
  RuntimeOptions: new (v: Record<string, unknown>) => unknown;
};

// 10 minutes behind real time: advancing past a 900-second session keeps the SDK's real-time
// signatures inside the ±15-minute window.
const clock = new ManualClock(Date.now() - 600_000);
const LEASE_MS = 5_000;
let stack: IdentityStack;
let clusterFile: string;

/** A fake engine: counts calls; `start` hangs (the instance "dies" mid-way) until told otherwise. */
const calls = { start: 0, resume: 0, status: 0 };
let hang = true;
const succeeded = {
  id: "op-1",
  state: "Succeeded",
  stage: "release-key",
  type: "disable",
  target: { provider: "identity" },
  stages: [{ name: "preflight", state: "succeeded" }],
  progress: { rewritten: 3 },
  verify: { underTarget: 3, total: 3 },
} as unknown as OperationRecord;
/** When set, `start` gets half-way through the rewrite (5,000 progress events) and fails with it. */
let failMidRewrite: AtrestError | undefined;
const engines: ClusterEngineFactory = (_cluster, o) => ({
  ops: {
    start: () => {
      calls.start++;
      o.progress({ event: "operation", state: "started", id: "op-1", type: "disable" });
      if (failMidRewrite !== undefined) {
        o.progress({ event: "stage", stage: "rewrite", state: "started" });
        for (let i = 1; i <= 5_000; i++)
          o.progress({
            event: "progress",
            stage: "rewrite",
            total: 10_000,
            rewritten: i,
            unchanged: 0,
            skippedDeleted: 0,
            conflictsRetried: 0,
            remaining: 10_000 - i,
            ratePerSecond: 250,
            etaSeconds: Math.ceil((10_000 - i) / 250),
          });
        o.progress({ event: "stage", stage: "rewrite", state: "failed", message: failMidRewrite.message });
        return Promise.reject(failMidRewrite);
      }
      return hang ? new Promise<OperationRecord>(() => undefined) : Promise.resolve(succeeded);
    },
    resume: () => {
      calls.resume++;
      return Promise.resolve(succeeded);
    },
    status: () => {
      calls.status++;
      return Promise.resolve({ operation: { ...succeeded, state: "Running" }, resources: {}, key: null });
    },
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
    regionId: "cn-hangzhou",
    engines,
    tls: {
      keyPem: readFileSync(join(stack.dir, "kms", "tls", "tls.key"), "utf8"),
      certPem: readFileSync(join(stack.dir, "kms", "tls", "tls.crt"), "utf8"),
    },
    taskLeaseMs: LEASE_MS,
    instanceId: name,
    clock,
  });
  instances.push(cp);
  return cp;
}

before(async () => {
  stack = await startIdentityStack("cp-tasks", { clock });
  clusterFile = join(stack.dir, "cluster.yaml");
  writeFileSync(
    clusterFile,
    [
      "apiVersion: atrest.io/v1alpha1",
      "kind: Cluster",
      "name: c1",
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
});

after(async () => {
  for (const cp of instances) await cp.close();
  await stack?.close();
});

/** A registered cluster row (the fake engine cannot report an encryption state to register with). */
async function cluster(cp: RunningControlPlane, id: string, encrypted: boolean): Promise<void> {
  const now = clock.now();
  await cp.service.store.insertCluster({
    cluster_id: id,
    name: id,
    region_id: "cn-hangzhou",
    cluster_file: clusterFile,
    state: "running",
    kms_key_id: encrypted ? "key-1" : "",
    disable_encryption: encrypted ? 0 : 1,
    current_task_id: null,
    failure_reason: "",
    last_change_at: 0,
    created_by: "admin",
    created_at: now,
    updated_at: now,
  });
  await cp.service.store.grantRole(id, "admin", "admin", "test", now);
}

test("an STS session is accepted until it expires, then refused (InvalidSecurityToken.Expired)", async () => {
  const cp = await instance("a");
  await cluster(cp, "c0000000000000000000000000000001", true);
  const id = stack.kms.identity;
  await id.createPrincipal("viewer", "role", {
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
  await id.attachPolicy("AliyunCSReadOnlyAccess", "viewer", "role");
  const res = (await sdkClient(stsSdk, cp.url, stack.caPem, stack.admin)["assumeRole"]!(
    new (stsSdk["AssumeRoleRequest"] as new (v: Record<string, unknown>) => unknown)({
      roleArn: `acs:ram::${TEST_ACCOUNT_ID}:role/viewer`,
      roleSessionName: "s1",
      durationSeconds: 900,
    }),
  )) as { body: { credentials: { accessKeyId: string; accessKeySecret: string; securityToken: string } } };
  const c = res.body.credentials;
  const session: Creds = {
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    securityToken: c.securityToken,
  };
  const describe = () =>
    csClient(cp.url, stack.caPem, session)["describeClusterDetail"]!("c0000000000000000000000000000001");
  assert.equal(((await describe()) as { body: { state: string } }).body.state, "running");
  clock.advance(901_000);
  const f = await csFailure(describe());
  assert.equal(f.status, 400);
  assert.equal(f.code, "InvalidSecurityToken.Expired");
});

test("enabling without the service role fails saying what to authorize; nothing changes", async () => {
  const cp = instances[0]!;
  await cluster(cp, "c0000000000000000000000000000002", false);
  const f = await csFailure(
    csClient(cp.url, stack.caPem, stack.admin)["updateKMSEncryption"]!(
      "c0000000000000000000000000000002",
      csModel("UpdateKMSEncryptionRequest", { disableEncryption: false, kmsKeyId: "key-1" }),
    ),
  );
  assert.equal(f.code, "ErrorRamRoleNotAuthorized");
  assert.match(f.message, /AliyunCSManagedSecurityRole.*quick-authorize/);
  const row = await cp.service.store.getCluster("c0000000000000000000000000000002");
  assert.equal(row?.state, "running");
  assert.equal(row?.current_task_id, null);
});

test("a task whose instance died is taken over by another on the same database and resumed", async () => {
  const a = instances[0]!;
  await cluster(a, "c0000000000000000000000000000003", true);
  await csClient(a.url, stack.caPem, stack.admin)["updateKMSEncryption"]!(
    "c0000000000000000000000000000003",
    csModel("UpdateKMSEncryptionRequest", { disableEncryption: true }),
  );
  const row = await a.service.store.getCluster("c0000000000000000000000000000003");
  assert.equal(row?.state, "updating");
  const taskId = row.current_task_id!;
  await until("the operation id on the task", 10_000, async () =>
    (await a.service.store.getTask(taskId))?.operation_id === "op-1" ? true : undefined,
  );
  assert.equal(calls.start, 1);
  // Instance a "dies": it stops renewing (its engine call never returns).
  a.service.close();
  hang = false;
  const b = await instance("b");
  await b.service.sweepOrphans();
  assert.equal(calls.resume, 0, "a live lease is not taken");
  clock.advance(LEASE_MS + 1);
  await b.service.sweepOrphans();
  await b.service.idle();
  assert.equal(calls.resume, 1, "b resumed the operation a started");
  assert.equal(calls.start, 1, "and did not start another");
  const done = await b.service.store.getCluster("c0000000000000000000000000000003");
  assert.equal(done?.state, "running");
  assert.equal(done?.disable_encryption, 1);
  const task = await b.service.store.getTask(taskId);
  assert.equal(task?.state, "success");
  assert.equal(task?.lease_owner, "b");
});

test("a failed change keeps its progress (coalesced writes) and, asked for again, resumes the engine's operation", async () => {
  const b = instances.at(-1)!;
  await cluster(b, "c0000000000000000000000000000004", true);
  const cs = csClient(b.url, stack.caPem, stack.admin);
  const before = { ...calls };
  failMidRewrite = new AtrestError("unavailable", "PUT https://127.0.0.1:6443: cannot reach the apiserver", {
    details: { reason: "APIServerUnreachable" },
  });
  const writes: number[] = [];
  const updateTask = b.service.store.updateTask.bind(b.service.store);
  b.service.store.updateTask = (id, patch) => {
    if (patch.stages !== undefined && patch.state === undefined) writes.push(clock.now());
    return updateTask(id, patch);
  };
  try {
    await cs["updateKMSEncryption"]!(
      "c0000000000000000000000000000004",
      csModel("UpdateKMSEncryptionRequest", { disableEncryption: true }),
    );
    await b.service.idle();
  } finally {
    b.service.store.updateTask = updateTask;
  }
  // 5,002 progress and stage events within one turn of the clock: one progress write (the final
  // state is written with the failure), not one per event.
  assert.ok(writes.length <= 2, `${writes.length} progress writes`);
  const failed = await b.service.store.getCluster("c0000000000000000000000000000004");
  assert.equal(failed?.state, "failed");
  assert.match(failed.failure_reason, /cannot reach the apiserver/);
  const kept = JSON.parse((await b.service.store.getTask(failed.current_task_id!))!.stages) as Array<{
    name: string;
    progress?: { done: number; total: number };
  }>;
  assert.deepEqual(kept.find((st) => st.name === "rewrite")?.progress?.done, 5_000, "how far it got");
  const info = (await cs["describeTaskInfo"]!(failed.current_task_id!)) as {
    body: { state: string; error?: { message?: string } };
  };
  assert.equal(info.body.state, "fail");
  assert.match(info.body.error?.message ?? "", /cannot reach the apiserver/);
  // The rewrite's progress in DescribeTaskInfo's body (atrest's addition the SDK's model does not map: the
  // official client's own callApi, as its describeTaskInfo builds the request).
  const raw = (await cs["callApi"]!(
    new openapiCore.$OpenApiUtil.Params({
      action: "DescribeTaskInfo",
      version: "2015-12-15",
      protocol: "HTTPS",
      pathname: `/tasks/${failed.current_task_id!}`,
      method: "GET",
      authType: "AK",
      style: "ROA",
      reqBodyType: "json",
      bodyType: "json",
    }),
    new openapiCore.$OpenApiUtil.OpenApiRequest({}),
    new dara.RuntimeOptions({}),
  )) as { body: { progress?: Record<string, unknown>; stages: Array<{ name: string; outputs?: unknown }> } };
  assert.deepEqual(raw.body.progress, {
    total: 10_000,
    done: 5_000,
    rewritten: 5_000,
    remaining: 5_000,
    rate_per_second: 250,
    eta_seconds: 20,
  });
  // The rewrite stage carries it as ACK's stages carry their results: `outputs`.
  assert.deepEqual(raw.body.stages.find((st) => st.name === "rewrite")?.outputs, raw.body.progress);

  failMidRewrite = undefined;
  await cs["updateKMSEncryption"]!(
    "c0000000000000000000000000000004",
    csModel("UpdateKMSEncryptionRequest", { disableEncryption: true }),
  );
  await b.service.idle();
  assert.deepEqual(
    { start: calls.start - before.start, resume: calls.resume - before.resume },
    { start: 1, resume: 1 },
    "the retry resumed the failed operation instead of starting another",
  );
  const done = await b.service.store.getCluster("c0000000000000000000000000000004");
  assert.equal(done?.state, "running");
  assert.equal(done?.disable_encryption, 1);
  const { rows } = await b.service.store.listEvents("c0000000000000000000000000000004", {
    offset: 0,
    limit: 20,
  });
  assert.ok(rows.some((r) => /resuming task T-[0-9a-f]+ from stage rewrite/.test(r.message)));
});
