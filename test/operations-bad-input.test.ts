/**
 * Bad input and refused operations through the real CLI: each is one line on stderr, its own exit
 * status, and changes nothing — not the apiserver's configuration file, not the operation record, not
 * the key's tags or deletion protection.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAtrest, type CliResult } from "./support/cli.js";
import { freePort } from "./support/etcd.js";
import {
  operationsOn,
  startOperationsCluster,
  type OperationsCluster,
} from "./support/operations-cluster.js";

const ENV = { ATREST_LOG_LEVEL: "error" };

function oneLine(r: CliResult): string {
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, /^atrest: /);
  return lines[0]!;
}

describe("atrest encryption: bad input changes nothing", () => {
  let c: OperationsCluster;
  let configBefore: string;
  const snapshot = async () => ({
    config: readFileSync(c.sys.configFile, "utf8"),
    record: JSON.stringify((await operationsOn(c).records.read()).record ?? null),
    tags: JSON.stringify(
      await c.kms.call("ListResourceTags", { KeyId: c.sys.kmsKeyId }).then((r) => r["Tags"]),
    ),
    protection: String(
      (
        (await c.kms.call("DescribeKey", { KeyId: c.sys.kmsKeyId }))["KeyMetadata"] as Record<string, unknown>
      )["DeletionProtection"],
    ),
  });
  let before0: Awaited<ReturnType<typeof snapshot>>;
  let disabledKey: string;
  let pendingKey: string;

  before(async () => {
    c = await startOperationsCluster({ name: "ops-bad" });
    await c.createSecrets("app", 10, "bad");
    configBefore = readFileSync(c.sys.configFile, "utf8");
    const mk = async (): Promise<string> =>
      String(
        (
          (await c.kms.call("CreateKey", { KeySpec: "Aliyun_AES_256" }))["KeyMetadata"] as Record<
            string,
            unknown
          >
        )["KeyId"],
      );
    disabledKey = await mk();
    await c.kms.call("DisableKey", { KeyId: disabledKey });
    pendingKey = await mk();
    await c.kms.call("ScheduleKeyDeletion", { KeyId: pendingKey, PendingWindowInDays: 7 });
    before0 = await snapshot();
  });
  after(() => c?.close());

  const enc = (args: string[]) =>
    runAtrest(["encryption", ...args, "--progress", "none"], { env: ENV, timeoutMs: 120_000 });

  it("refuses unusable keys, a wrong region, a bad cluster file and an unreachable apiserver, each with its exit status", async () => {
    const dir = c.sys.dir;
    const badFile = join(dir, "bad-cluster.yaml");
    writeFileSync(
      badFile,
      readFileSync(c.clusterFile, "utf8")
        .replace(/^name: .*$/m, "name: Not_A_Label")
        .replace(/^kubeconfig:/m, "colour: blue\nkubeconfig:"),
    );
    const otherRegion = join(dir, "other-region.yaml");
    writeFileSync(
      otherRegion,
      readFileSync(c.clusterFile, "utf8").replace(/^region: .*$/m, "region: cn-shanghai"),
    );
    const unreachable = join(dir, "unreachable.yaml");
    const port = await freePort();
    writeFileSync(
      unreachable,
      readFileSync(c.clusterFile, "utf8").replace(
        /^apiservers:\n/m,
        `apiservers:\n  - url: https://127.0.0.1:${port}\n    encryptionConfig: agent\n`,
      ),
    );
    const [bad, unknown, disabled, pending, region, down, rotateIdentity, migrateNone, resumeNone] =
      await Promise.all([
        enc(["enable", "--cluster", badFile, "--key-id", c.sys.kmsKeyId]),
        enc(["enable", "--cluster", c.clusterFile, "--key-id", "no-such-key"]),
        enc(["enable", "--cluster", c.clusterFile, "--key-id", disabledKey]),
        enc(["enable", "--cluster", c.clusterFile, "--key-id", pendingKey]),
        enc(["enable", "--cluster", otherRegion, "--key-id", c.sys.kmsKeyId]),
        enc(["enable", "--cluster", unreachable, "--key-id", c.sys.kmsKeyId]),
        enc(["rotate", "--cluster", c.clusterFile]),
        enc(["migrate", "--to", "v2", "--cluster", c.clusterFile]),
        enc(["resume", "--cluster", c.clusterFile]),
      ]);
    assert.equal(bad.status, 2, bad.stderr);
    const badLine = oneLine(bad);
    assert.match(badLine, /name: must be a DNS label/);
    assert.match(badLine, /colour: unknown field/);

    assert.equal(unknown.status, 8, unknown.stderr);
    assert.match(oneLine(unknown), /KMS key no-such-key does not exist/);
    assert.equal(disabled.status, 6, disabled.stderr);
    assert.match(oneLine(disabled), new RegExp(`KMS key ${disabledKey} is Disabled`));
    assert.equal(pending.status, 6, pending.stderr);
    assert.match(oneLine(pending), /pending deletion/);
    assert.equal(region.status, 6, region.stderr);
    assert.match(oneLine(region), /in region cn-hangzhou, the cluster in cn-shanghai/);
    assert.equal(down.status, 3, down.stderr);
    assert.match(oneLine(down), new RegExp(`apiserver https://127.0.0.1:${port} is unreachable`));
    assert.equal(rotateIdentity.status, 6, rotateIdentity.stderr);
    assert.match(oneLine(rotateIdentity), /only a KMS v2 writer's key can be rotated/);
    assert.equal(migrateNone.status, 6, migrateNone.stderr);
    assert.match(oneLine(migrateNone), /nothing to migrate/);
    assert.equal(resumeNone.status, 6, resumeNone.stderr);
    assert.match(oneLine(resumeNone), /no unfinished operation/);

    assert.deepEqual(await snapshot(), before0, "nothing changed");
    assert.equal(readFileSync(c.sys.configFile, "utf8"), configBefore);
  });

  it("--dry-run lists the plan and its blockers and changes nothing", async () => {
    const plan = await enc([
      "enable",
      "--cluster",
      c.clusterFile,
      "--key-id",
      c.sys.kmsKeyId,
      "--dry-run",
      "-o",
      "json",
    ]);
    assert.equal(plan.status, 0, plan.stderr);
    const p = JSON.parse(plan.stdout) as {
      stages: Array<{ name: string }>;
      resources: Record<string, { total: number; toRewrite: number }>;
      blockers: unknown[];
      estimate: { kmsCalls: number };
    };
    assert.deepEqual(
      p.stages.map((s) => s.name),
      [
        "preflight",
        "add-read-provider",
        "converge-read",
        "switch-writer",
        "converge-writer",
        "rewrite",
        "verify",
        "prune",
        "converge-prune",
        "release-key",
      ],
    );
    assert.ok(p.resources["secrets"]!.toRewrite >= 10, JSON.stringify(p.resources));
    assert.deepEqual(p.blockers, []);
    const blocked = await enc(["enable", "--cluster", c.clusterFile, "--key-id", disabledKey, "--dry-run"]);
    assert.equal(blocked.status, 6);
    assert.match(blocked.stdout, /BLOCKER KmsKeyDisabled/);
    assert.deepEqual(await snapshot(), before0, "nothing changed");
  });

  it("a second operation is refused while one runs, naming it; --force is needed to take over", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atConverge = new Promise<void>((r) => (reached = r));
    const ops = operationsOn(c, {
      owner: "tester@ci pid 1",
      faults: {
        beforeStage: async (stage) => {
          if (stage === "converge-read") {
            reached();
            await held;
          }
        },
      },
    });
    const running = ops.start({ type: "enable", keyId: c.sys.kmsKeyId });
    await atConverge;
    const [second, rotate] = await Promise.all([
      enc(["disable", "--cluster", c.clusterFile]),
      enc(["rotate", "--cluster", c.clusterFile]),
    ]);
    assert.equal(second.status, 9, second.stderr);
    assert.match(
      oneLine(second),
      /operation .* \(enable, stage converge-read\) is running, held by tester@ci pid 1/,
    );
    assert.equal(rotate.status, 9, rotate.stderr);
    const status = await runAtrest(["encryption", "status", "--cluster", c.clusterFile, "-o", "json"], {
      env: ENV,
    });
    assert.equal(status.status, 14, "status exits 14 while Updating");
    const during = JSON.parse(status.stdout) as {
      phase: string;
      reason: string;
      conditions: Array<{ reason: string; message: string }>;
      lease: { owner: string; live: boolean };
    };
    assert.equal(during.phase, "Updating");
    assert.equal(during.reason, "enable at stage converge-read");
    assert.deepEqual(
      [during.conditions[0]?.reason, during.conditions[0]?.message],
      ["EncryptionInProgress", "Resource secrets is being encrypted"],
    );
    assert.deepEqual([during.lease.owner, during.lease.live], ["tester@ci pid 1", true]);
    release();
    assert.equal((await running).state, "Succeeded");
  });
});
