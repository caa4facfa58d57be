/**
 * `atrest up`'s cluster through its control plane, with the official clients (cs 2015-12-15 and, for
 * the rotation, kms 2016-01-20): UpdateKMSEncryption with a disabled key, a key pending deletion and a
 * key ARN of another region is refused with Alibaba's shape, nothing changed, the refusal audited;
 * with the cluster's `atrest.io/auto-reencrypt` tag set false, a key rotation (CreateKeyVersion) that
 * every apiserver reports starts nothing; set back on, the control plane re-encrypts on its own: a
 * task (DescribeTaskInfo), cluster events naming who started it and why, ActionTrail's event of the
 * service, and `atrest scan` finds every Secret under the new key version.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { keyIdHash } from "../src/common/key-id-hash.js";
import { CsClient } from "../src/control-plane/index.js";
import { repoRoot, runAtrest } from "./support/cli.js";
import {
  csClient,
  csFailure,
  csModel,
  startUpWithControlPlane,
  until,
  type Creds,
  type UpReady,
} from "./support/control-plane.js";
import { callRpc } from "./support/identity-stack.js";
import { Kubectl } from "./support/kubectl.js";

const SECRETS = 6;
const OPERATION_TIMEOUT_MS = 4 * 60_000;
const execFileAsync = promisify(execFile);

const root = mkdtempSync(join(tmpdir(), "atrest-cp-up-reencrypt-"));
let child: ChildProcess | undefined;
let up: UpReady;
let caPem: string;
let caFile: string;
let admin: Creds;
let kubectl: Kubectl;

type Detail = { state: string; metaData: string };
type Raw = {
  state: string;
  auto_reencrypt: boolean;
  health: { issues: unknown[]; checked_at?: string };
};
type Event = {
  type: string;
  source: string;
  data: { level: string; reason: string; message: string };
};
const cs = () => csClient(up.controlPlaneUrl, caPem, admin);
const describe = async () => ((await cs()["describeClusterDetail"]!(up.clusterId)) as { body: Detail }).body;
const raw = async (): Promise<Raw> =>
  (
    await new CsClient({ endpoint: up.controlPlaneUrl, caPem, ...admin }).call(
      "DescribeClusterDetail",
      "GET",
      `/clusters/${up.clusterId}`,
    )
  ).body as Raw;
const events = async (): Promise<Event[]> =>
  (
    (await cs()["describeClusterEvents"]!(
      up.clusterId,
      csModel("DescribeClusterEventsRequest", { pageSize: 100 }),
    )) as { body: { events: Event[] } }
  ).body.events;
const update = (body: Record<string, unknown>) =>
  cs()["updateKMSEncryption"]!(up.clusterId, csModel("UpdateKMSEncryptionRequest", body));
const setTags = (tags: Array<[string, string]>, clusterId = up.clusterId) =>
  cs()["modifyClusterTags"]!(
    clusterId,
    csModel("ModifyClusterTagsRequest", { body: tags.map(([key, value]) => csModel("Tag", { key, value })) }),
  );
const kms = (action: string, query: Record<string, string> = {}) =>
  callRpc(up.kmsEndpoint, caPem, admin, { action, version: "2016-01-20", query });
const lookup = async (eventName: string) =>
  (
    await callRpc(up.controlPlaneUrl, caPem, admin, {
      action: "LookupEvents",
      version: "2020-07-06",
      query: { "LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": eventName },
    })
  )["Events"] as Array<{
    errorCode?: string;
    errorMessage?: string;
    userIdentity: { type: string; userName: string };
    requestParameters?: Record<string, unknown>;
  }>;

/** The stored Secrets per KMS v2 key_id, read straight from the store (no plaintext). */
async function secretsByKeyId(): Promise<Record<string, number>> {
  const r = await runAtrest([
    "scan",
    "--datastore-endpoint",
    `sqlite://${up.storeLocation.sqlite!}`,
    "--resource",
    "secrets",
    "-o",
    "json",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const s = (
    JSON.parse(r.stdout) as { resources: { secrets: { byKeyId: Record<string, { count: number }> } } }
  ).resources.secrets;
  return Object.fromEntries(Object.entries(s.byKeyId).map(([k, v]) => [k, v.count]));
}

/** A new key version with the official KMS SDK (its own process: the CA comes in as Node's documented way). */
async function rotateWithKmsSdk(keyId: string): Promise<string> {
  const script = `
const Kms = require("@alicloud/kms20160120");
const { Config } = require("@alicloud/rpc-client");
const client = new Kms.default(new Config({
  accessKeyId: process.env.T_AK, accessKeySecret: process.env.T_SK,
  endpoint: process.env.T_HOST, protocol: "https", regionId: process.env.T_REGION,
}));
client.createKeyVersion(new Kms.CreateKeyVersionRequest({ keyId: process.env.T_KEY }))
  .then((r) => process.stdout.write(r.keyVersion.keyVersionId))
  .catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;
  const { stdout } = await execFileAsync(process.execPath, ["-e", script], {
    cwd: repoRoot,
    timeout: 60_000,
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: caFile,
      T_AK: admin.accessKeyId,
      T_SK: admin.accessKeySecret,
      T_HOST: new URL(up.kmsEndpoint).host,
      T_REGION: up.region,
      T_KEY: keyId,
    },
  });
  assert.match(stdout, /^\S+$/);
  return `${keyId}:${stdout}`;
}

/** Until the apiserver's KMS Status calls return `keyId` (asking /healthz makes it check sooner). */
async function apiserverReports(keyId: string): Promise<void> {
  const hash = keyIdHash(keyId);
  await until(`the apiserver on ${hash}`, 120_000, async () => {
    await kubectl.run(["get", "--raw", "/healthz/kms-providers"]);
    const metrics = await kubectl.ok(["get", "--raw", "/metrics"]);
    return metrics.includes(hash) ? true : undefined;
  });
}

before(async () => {
  const started = await startUpWithControlPlane(join(root, "up"), [
    "--update-cooldown",
    "0s",
    "--plugin-status-refresh",
    "500ms",
    "--key-health-interval",
    "1s",
    "--auto-reencrypt-interval",
    "1s",
    "--auto-reencrypt-settle",
    "0s",
  ]);
  child = started.child;
  up = started.ready;
  const profile = JSON.parse(readFileSync(up.kmsProfile, "utf8")) as Creds & { caFile: string };
  admin = { accessKeyId: profile.accessKeyId, accessKeySecret: profile.accessKeySecret };
  caFile = profile.caFile;
  caPem = readFileSync(caFile, "utf8");
  kubectl = new Kubectl(up.kubeconfig);
  for (let i = 0; i < SECRETS; i++)
    await kubectl.ok(["create", "secret", "generic", `s${i}`, "--from-literal", `k=value-${i}`]);
});

after(() => {
  child?.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

test("UpdateKMSEncryption bad input: a disabled key, a key pending deletion, another region's key ARN — refused, nothing changed, audited", async () => {
  const newKey = async () =>
    (await kms("CreateKey", { KeySpec: "Aliyun_AES_256" }))["KeyMetadata"] as { KeyId: string; Arn: string };
  const disabled = await newKey();
  await kms("DisableKey", { KeyId: disabled.KeyId });
  const pending = await newKey();
  await kms("ScheduleKeyDeletion", { KeyId: pending.KeyId, PendingWindowInDays: "7" });
  const usable = await newKey();
  const otherRegion = usable.Arn.replace(`:${up.region}:`, ":cn-beijing:");
  assert.notEqual(otherRegion, usable.Arn);
  const before = await describe();
  const cases: Array<[string, string, RegExp]> = [
    ["disabled", disabled.KeyId, /Disabled|EnableKey/],
    ["pending deletion", pending.KeyId, /pending deletion/],
    ["another region", otherRegion, /region cn-beijing/],
  ];
  for (const [what, kmsKeyId, message] of cases) {
    const f = await csFailure(update({ disableEncryption: false, kmsKeyId }));
    assert.deepEqual([f.status, f.code], [400, "ErrorKMSKeyInvalid"], what);
    assert.match(f.message, message, what);
  }
  const afterwards = await describe();
  assert.equal(afterwards.state, "running");
  assert.equal(afterwards.metaData, before.metaData);
  assert.deepEqual(JSON.parse(afterwards.metaData), {
    EncryptionKMSKeyId: up.keyId,
    DisableEncryption: false,
  });
  assert.ok(!(await events()).some((e) => e.data.reason === "UpdateKMSEncryption"), "no change began");
  const refused = (await lookup("UpdateKMSEncryption")).filter((e) => e.errorCode === "ErrorKMSKeyInvalid");
  for (const [, kmsKeyId] of cases)
    assert.ok(
      refused.some((e) => e.requestParameters?.["kms_key_id"] === kmsKeyId),
      `the refusal of ${kmsKeyId} is in LookupEvents`,
    );
  // The tags action on a cluster that does not exist.
  const f = await csFailure(setTags([["k", "v"]], "c0000000000000000000000000000000"));
  assert.deepEqual([f.status, f.code], [404, "ErrorClusterNotFound"]);
  // The still usable key stays so (nothing was switched to it): its health is none of the cluster's.
  assert.deepEqual((await raw()).health.issues, []);
});

test(
  "with atrest.io/auto-reencrypt=false a rotation starts nothing; back on, the control plane re-encrypts every Secret on its own",
  { timeout: 6 * 60_000 },
  async () => {
    const start = await secretsByKeyId();
    assert.deepEqual(Object.keys(start).length, 1, JSON.stringify(start));
    const oldKeyId = Object.keys(start)[0]!;
    assert.ok(oldKeyId.startsWith(`${up.keyId}:`), oldKeyId);

    await setTags([["atrest.io/auto-reencrypt", "false"]]);
    assert.equal((await raw()).auto_reencrypt, false);
    const newKeyId = await rotateWithKmsSdk(up.keyId);
    await apiserverReports(newKeyId);
    // Several rounds of the watch after that (its health check every second says it is alive): nothing.
    const seenAt = Date.now();
    await until("three more watch rounds", 60_000, async () => {
      const at = Date.parse((await raw()).health.checked_at ?? "");
      return at >= seenAt + 3_000 ? true : undefined;
    });
    assert.ok(!(await events()).some((e) => e.data.reason === "AutoReencrypt"), "no re-encrypt began");
    assert.equal((await describe()).state, "running");
    assert.deepEqual(await secretsByKeyId(), start, "every Secret still under the old version");

    // Back on (the setting left out: the default).
    await setTags([]);
    const began = await until("the automatic re-encrypt", 120_000, async () =>
      (await events()).find((e) => e.data.reason === "AutoReencrypt"),
    );
    assert.equal(began.source, "atrest-control-plane");
    assert.match(
      began.data.message,
      new RegExp(`automatic re-encryption \\(key rotated to ${keyIdHash(newKeyId)}\\)`),
    );
    // The SDK's event model has no task_id: the message names the task.
    const taskId = /\(task (T-[0-9a-f]{24})\)/.exec(began.data.message)?.[1];
    assert.ok(taskId !== undefined, began.data.message);
    const done = await until("the cluster running again", OPERATION_TIMEOUT_MS, async () => {
      const d = await describe();
      return d.state === "updating" ? undefined : d;
    });
    assert.equal(done.state, "running");
    assert.deepEqual(JSON.parse(done.metaData), { EncryptionKMSKeyId: up.keyId, DisableEncryption: false });
    const task = (
      (await cs()["describeTaskInfo"]!(taskId)) as {
        body: { state: string; taskType: string; stages: Array<{ state: string }> };
      }
    ).body;
    assert.equal(task.state, "success");
    assert.equal(task.taskType, "kms_encryption_reencrypt");
    assert.ok(
      task.stages.length > 0 && task.stages.every((s) => s.state === "succeeded"),
      JSON.stringify(task.stages),
    );
    const reasons = (await events()).map((e) => e.data.reason);
    assert.ok(reasons.includes("ReencryptSucceeded"), reasons.join(","));
    const byKeyId = await secretsByKeyId();
    assert.deepEqual(Object.keys(byKeyId), [newKeyId], JSON.stringify(byKeyId));
    assert.ok(byKeyId[newKeyId]! >= SECRETS);
    // Who asked: the service itself, in ActionTrail.
    const trail = await lookup("AutoReencrypt");
    assert.ok(
      trail.some(
        (e) => e.userIdentity.userName === "cs.aliyuncs.com" && e.requestParameters?.["TaskId"] === taskId,
      ),
      JSON.stringify(trail),
    );
    // UpToDate now: no second re-encrypt follows.
    const after = (await events()).filter((e) => e.data.reason === "AutoReencrypt").length;
    assert.equal(after, 1);
  },
);
