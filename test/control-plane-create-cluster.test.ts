/**
 * CreateCluster / DeleteCluster of the official `@alicloud/cs20151215` client against `atrest up`'s
 * control plane: a cluster created with `encryption_provider_key` is `running` at once and its first
 * Secret (real kubectl) is already under KMS v2 (`atrest scan`), the key tagged for it; one created
 * without a key stores Secrets as they are until UpdateKMSEncryption enables encryption (the managed
 * cluster gets a plugin for the key; every Secret then under it); a restart of up brings the clusters
 * back; DeleteCluster removes them and releases the key (as it was before); bad input is refused and creates nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
import { callRpc } from "./support/identity-stack.js";
import { Kubectl } from "./support/kubectl.js";

const root = mkdtempSync(join(tmpdir(), "atrest-cp-create-"));
const dataDir = join(root, "up");
let child: ChildProcess | undefined;
let up: UpReady;
let caPem: string;
let admin: Creds;

type Detail = { state: string; metaData: string; clusterId: string; name: string };
const cs = () => csClient(up.controlPlaneUrl, caPem, admin);
const describe = async (id: string) => ((await cs()["describeClusterDetail"]!(id)) as { body: Detail }).body;
const meta = (d: Detail) =>
  JSON.parse(d.metaData) as { EncryptionKMSKeyId: string; DisableEncryption: boolean };
const create = async (body: Record<string, unknown>) =>
  (
    (await cs()["createCluster"]!(csModel("CreateClusterRequest", body))) as {
      body: { clusterId: string; requestId: string };
    }
  ).body;
const remove = (id: string) =>
  cs()["deleteCluster"]!(id, csModel("DeleteClusterRequest", {})) as Promise<{
    statusCode: number;
    body: { clusterId: string };
  }>;
/** Where up keeps a managed cluster (its kubeconfig, SQLite file). */
const clusterDir = (id: string) => join(dataDir, "managed", "clusters", id);
const kms = (action: string, query: Record<string, string>) =>
  callRpc(up.kmsEndpoint, caPem, admin, { action, version: "2016-01-20", query });

async function secretsScan(id: string) {
  const r = await runAtrest([
    "scan",
    "--datastore-endpoint",
    `sqlite://${join(clusterDir(id), "apiserver.db")}`,
    "--resource",
    "secrets",
    "-o",
    "json",
  ]);
  return (
    JSON.parse(r.stdout) as {
      resources: { secrets: { total: number; plaintext: number; byKmsProvider: Record<string, number> } };
    }
  ).resources.secrets;
}

async function tagsOf(key: string): Promise<Record<string, string>> {
  const r = await kms("ListResourceTags", { KeyId: key });
  const tags = (r["Tags"] as { Tag: Array<{ TagKey: string; TagValue: string }> }).Tag;
  return Object.fromEntries(tags.map((t) => [t.TagKey, t.TagValue]));
}

async function protectionOf(key: string): Promise<string> {
  const r = await kms("DescribeKey", { KeyId: key });
  return (r["KeyMetadata"] as { DeletionProtection: string }).DeletionProtection;
}

async function startUp(): Promise<void> {
  const started = await startUpWithControlPlane(dataDir, ["--update-cooldown", "1s"]);
  child = started.child;
  up = started.ready;
}

async function stopUp(): Promise<void> {
  const c = child!;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill("SIGINT");
  await exited;
  child = undefined;
}

before(async () => {
  await startUp();
  const profile = JSON.parse(readFileSync(up.kmsProfile, "utf8")) as Creds & { caFile: string };
  admin = { accessKeyId: profile.accessKeyId, accessKeySecret: profile.accessKeySecret };
  caPem = readFileSync(profile.caFile, "utf8");
  initialTags = await tagsOf(up.keyId);
  initialProtection = await protectionOf(up.keyId);
});

after(() => {
  child?.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

let initialTags: Record<string, string>;
let initialProtection: string;
let encrypted: string;
let plain: string;

test(
  "CreateCluster with a key: running, its first Secret already under the key",
  { timeout: 120_000 },
  async () => {
    const r = await create({
      name: "prod-a",
      regionId: up.region,
      clusterType: "ManagedKubernetes",
      encryptionProviderKey: up.keyId,
    });
    encrypted = r.clusterId;
    assert.match(encrypted, /^c[0-9a-f]{32}$/);
    const d = await describe(encrypted);
    assert.equal(d.state, "running");
    assert.equal(d.name, "prod-a");
    assert.deepEqual(meta(d), { EncryptionKMSKeyId: up.keyId, DisableEncryption: false });
    const kubectl = new Kubectl(join(clusterDir(encrypted), "kubeconfig"));
    await kubectl.ok(["create", "secret", "generic", "first", "--from-literal=k=created-encrypted"]);
    const scan = await secretsScan(encrypted);
    assert.equal(scan.plaintext, 0);
    assert.deepEqual(scan.byKmsProvider, { "kms:v2:atrest": 1 });
    assert.equal((await tagsOf(up.keyId))[`atrest:cluster:${encrypted}`], "write");
  },
);

test("CreateCluster without a key, then UpdateKMSEncryption enables it", { timeout: 360_000 }, async () => {
  plain = (
    await create({
      name: "plain-b",
      regionId: up.region,
      clusterType: "ManagedKubernetes",
      // ACK's CreateCluster tags: this one starts with automatic re-encryption off.
      tags: [csModel("Tag", { key: "atrest.io/auto-reencrypt", value: "false" })],
    })
  ).clusterId;
  assert.deepEqual(meta(await describe(plain)), { EncryptionKMSKeyId: "", DisableEncryption: true });
  assert.deepEqual(
    ((await describe(plain)) as unknown as { tags: Array<{ key: string; value: string }> }).tags.map((t) => [
      t.key,
      t.value,
    ]),
    [["atrest.io/auto-reencrypt", "false"]],
  );
  const kubectl = new Kubectl(join(clusterDir(plain), "kubeconfig"));
  await kubectl.ok(["create", "secret", "generic", "early", "--from-literal=k=v"]);
  assert.equal((await secretsScan(plain)).plaintext, 1);
  await cs()["updateKMSEncryption"]!(
    plain,
    csModel("UpdateKMSEncryptionRequest", { disableEncryption: false, kmsKeyId: up.keyId }),
  );
  const d = await until("the cluster to be running", 300_000, async () => {
    const x = await describe(plain);
    return x.state === "updating" ? undefined : x;
  });
  assert.equal(d.state, "running");
  assert.deepEqual(meta(d), { EncryptionKMSKeyId: up.keyId, DisableEncryption: false });
  const scan = await secretsScan(plain);
  assert.equal(scan.plaintext, 0);
  assert.equal(scan.byKmsProvider["kms:v2:atrest"], scan.total);
});

test(
  "a restart of up brings the managed clusters back with their Secrets",
  { timeout: 180_000 },
  async () => {
    await stopUp();
    await startUp();
    assert.equal((await describe(encrypted)).state, "running");
    const kubectl = new Kubectl(join(clusterDir(encrypted), "kubeconfig"));
    const v = await kubectl.ok(["get", "secret", "first", "-o", "jsonpath={.data.k}"]);
    assert.equal(Buffer.from(v, "base64").toString(), "created-encrypted");
  },
);

test("bad input creates nothing", { timeout: 60_000 }, async () => {
  const before = (
    (await cs()["describeClustersV1"]!(csModel("DescribeClustersV1Request", {}))) as {
      body: { pageInfo: { totalCount: number } };
    }
  ).body.pageInfo.totalCount;
  const unknownKey = await csFailure(
    create({ name: "x-1", regionId: up.region, encryptionProviderKey: "key-nope" }),
  );
  assert.equal(unknownKey.status, 400);
  assert.equal(unknownKey.code, "ErrorKMSKeyInvalid");
  const taken = await csFailure(create({ name: "prod-a", regionId: up.region }));
  assert.equal(taken.status, 409);
  const badName = await csFailure(create({ name: "no spaces here", regionId: up.region }));
  assert.equal(badName.code, "InvalidParameter");
  const region = await csFailure(create({ name: "x-2", regionId: "us-west-1" }));
  assert.equal(region.code, "ErrorRegionMismatch");
  const badTag = await csFailure(
    create({
      name: "x-3",
      regionId: up.region,
      tags: [csModel("Tag", { key: "atrest.io/auto-reencrypt", value: "sometimes" })],
    }),
  );
  assert.deepEqual([badTag.status, badTag.code], [400, "InvalidParameter"]);
  assert.match(badTag.message, /true or false/);
  const after = (
    (await cs()["describeClustersV1"]!(csModel("DescribeClustersV1Request", {}))) as {
      body: { pageInfo: { totalCount: number } };
    }
  ).body.pageInfo.totalCount;
  assert.equal(after, before);
  const unknown = await csFailure(remove("c00000000000000000000000000000000"));
  assert.equal(unknown.status, 404);
});

test("DeleteCluster: gone, its data removed, the key released", { timeout: 120_000 }, async () => {
  for (const id of [encrypted, plain]) {
    const r = await remove(id);
    assert.equal(r.statusCode, 200);
    assert.equal(r.body.clusterId, id);
    const f = await csFailure(describe(id));
    assert.equal(f.code, "ErrorClusterNotFound");
    assert.equal(existsSync(clusterDir(id)), false);
    assert.equal((await tagsOf(up.keyId))[`atrest:cluster:${id}`], undefined);
  }
  // The key is as it was before the clusters: their tags gone, its protection what it was.
  assert.deepEqual(await tagsOf(up.keyId), initialTags);
  assert.equal(await protectionOf(up.keyId), initialProtection);
});
