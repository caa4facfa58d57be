/**
 * Two `atrest control-plane serve` processes on one PostgreSQL (the KMS's: keys, identity and the
 * control plane's tables), a registered cluster (atrest kms on that PostgreSQL, the plugin, an apiserver
 * on SQLite with a few hundred Secrets) and the official cs client (2015-12-15):
 *
 * - UpdateKMSEncryption on instance 1; while it rewrites, both instances describe and list the same, and
 *   a second change on instance 2 is 409. Instance 1 is SIGKILLed (by its pid) mid-rewrite; instance 2
 *   takes the task over once the lease ran out and finishes it: `updating` → `running`, every Secret
 *   under the key (`atrest scan`), values intact; DescribeTaskInfo and the cluster events name both.
 * - A restart of instance 1 while instance 2 drives the task does not take it (the lease is live), and
 *   nothing runs twice: one takeover, one end.
 * - The store on PostgreSQL: instances migrating a fresh database at once all succeed, once; of many
 *   instances racing for an expired lease exactly one wins.
 *
 * "Mid-rewrite" is made certain rather than hoped for: the apiserver's writes of the Secrets are held
 * (HeldWrites) once a number of them went through, so instance 1 is killed with requests in flight
 * and progress recorded; they are let go once the test has seen what it waits for.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { ClusterStore } from "../src/control-plane/store/cluster-store.js";
import {
  controlPlaneMigrations,
  migrateControlPlaneDatabase,
} from "../src/control-plane/store/migrations.js";
import type { ControlPlaneDatabase } from "../src/control-plane/store/schema.js";
import { ensureServiceRole } from "../src/iam/index.js";
import type { Store } from "../src/storage/store.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { csClient, csFailure, csModel, until, type Creds } from "./support/control-plane.js";
import {
  assertStored,
  startOperationsCluster,
  type OperationsCluster,
} from "./support/operations-cluster.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

const SECRETS = 300;
/** Secret writes let through before the rest are held (instance 1 dies with the rewrite part-way). */
const HOLD_AFTER = 90;
const NAMESPACE = "ha";
const TIMEOUT_MS = 60_000;

/** Holds the apiserver's updates of keys under a prefix once `after` went through, until released. */
class HeldWrites {
  #passed = 0;
  #after = Number.POSITIVE_INFINITY;
  #waiting: Array<() => void> = [];
  constructor(private readonly prefix: string) {}
  get held(): number {
    return this.#waiting.length;
  }
  holdAfter(n: number): void {
    this.#after = this.#passed + n;
  }
  release(): void {
    this.#after = Number.POSITIVE_INFINITY;
    for (const go of this.#waiting.splice(0)) go();
  }
  wrap(store: Store): Store {
    const update: Store["update"] = async (key, value, rev) => {
      if (key.startsWith(this.prefix) && ++this.#passed > this.#after)
        await new Promise<void>((go) => this.#waiting.push(go));
      return store.update(key, value, rev);
    };
    return new Proxy(store, {
      get: (target, p): unknown => {
        if (p === "update") return update;
        const v: unknown = Reflect.get(target, p);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

interface Instance {
  readonly child: ChildProcess;
  readonly url: string;
  readonly instanceId: string;
}

type TaskInfo = {
  state: string;
  currentStage: string;
  stages: Array<{ state: string; outputs?: { total: number; remaining: number } }>;
  events: Array<{ reason: string; message: string; source: string; timestamp: string }>;
  parameters: { owner: string };
};
type Detail = { state: string; metaData: string; clusterId: string };

describe("two control-plane instances on one PostgreSQL", { timeout: 240_000 }, () => {
  let pgsql: TestPostgres;
  let c: OperationsCluster;
  const held = new HeldWrites(`/registry/secrets/${NAMESPACE}/`);
  const children: ChildProcess[] = [];
  let caPem: string;
  let admin: Creds;
  let clusterId: string;

  /** `atrest control-plane serve` on the shared database (a 1 s task lease); resolves with its ready line. */
  async function serve(): Promise<Instance> {
    const child = spawnAtrest(
      [
        "control-plane",
        "serve",
        "--kms-data-dir",
        c.sys.kmsDataDir!,
        "--database",
        pgsql.url,
        "--listen",
        "127.0.0.1:0",
        "--task-lease",
        "1s",
        "--update-cooldown",
        "0s",
      ],
      { env: { ATREST_LOG_LEVEL: "warn" } },
    );
    children.push(child);
    let out = "";
    let err = "";
    child.stderr?.on("data", (b: Buffer) => (err += b.toString()));
    return new Promise<Instance>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${err}`)), TIMEOUT_MS);
      child.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        const nl = out.indexOf("\n");
        if (nl < 0) return;
        clearTimeout(timer);
        const ready = JSON.parse(out.slice(0, nl)) as { url: string; instanceId: string };
        resolve({ child, url: ready.url, instanceId: ready.instanceId });
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`control-plane serve exited ${String(code)}: ${err}`));
      });
    });
  }
  const cs = (i: Instance) => csClient(i.url, caPem, admin);
  const detail = async (i: Instance) =>
    ((await cs(i)["describeClusterDetail"]!(clusterId)) as { body: Detail }).body;
  const list = async (i: Instance) =>
    (
      (await cs(i)["describeClustersV1"]!(csModel("DescribeClustersV1Request", {}))) as {
        body: { clusters: Detail[] };
      }
    ).body.clusters.map((x) => `${x.clusterId} ${x.state} ${x.metaData}`);
  const taskInfo = async (i: Instance, taskId: string) =>
    ((await cs(i)["describeTaskInfo"]!(taskId)) as { body: TaskInfo }).body;
  const clusterEvents = async (i: Instance, taskId?: string) =>
    (
      (await cs(i)["describeClusterEvents"]!(
        clusterId,
        csModel("DescribeClusterEventsRequest", {
          pageSize: 100,
          ...(taskId === undefined ? {} : { taskId }),
        }),
      )) as { body: { events: Array<{ data: { reason: string; message: string } }> } }
    ).body.events;
  const update = (i: Instance, body: Record<string, unknown>) =>
    cs(i)["updateKMSEncryption"]!(clusterId, csModel("UpdateKMSEncryptionRequest", body));
  /** Resolves once the child is gone (exited, or killed by a signal). */
  const exited = (child: ChildProcess) =>
    new Promise<void>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve()),
    );

  before(async () => {
    pgsql = await startTestPostgres();
    c = await startOperationsCluster({
      name: "cp-pg",
      kmsDatabase: pgsql.url,
      wrapStore: (s) => held.wrap(s),
      tunables:
        "operation: {convergeTimeout: 30s, retryTimeout: 30s, leaseDuration: 3s, concurrency: 4, pageSize: 30}\n",
    });
    await c.createSecrets(NAMESPACE, SECRETS, "pg");
    const profile = JSON.parse(readFileSync(c.sys.profileFile, "utf8")) as Creds & { caFile: string };
    admin = { accessKeyId: profile.accessKeyId, accessKeySecret: profile.accessKeySecret };
    caPem = readFileSync(profile.caFile, "utf8");
    // Quick authorization (the service role) and the admin allowed the cs API, on the shared identity.
    const identity = c.sys.kms!.identity;
    await ensureServiceRole(identity);
    await identity.attachPolicy("AliyunCSFullAccess", "admin");
  });

  after(async () => {
    held.release();
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.all(children.map(exited));
    await c?.close();
    await pgsql?.stop();
  });

  it("the store: instances migrating a fresh database at once all succeed, and migrate once", async () => {
    const admin = new pg.Client({ connectionString: pgsql.url });
    await admin.connect();
    await admin.query("CREATE DATABASE cp_fresh");
    await admin.end();
    const url = pgsql.url.replace(/\/postgres$/, "/cp_fresh");
    const dbs = Array.from(
      { length: 4 },
      () =>
        new Kysely<ControlPlaneDatabase>({
          dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
        }),
    );
    try {
      await Promise.all(dbs.map((db) => migrateControlPlaneDatabase({ db, dialect: "postgres" })));
      const applied = await sql<{
        name: string;
      }>`select name from control_plane_migrations order by name`.execute(dbs[0]!);
      assert.deepEqual(
        applied.rows.map((r) => r.name),
        Object.keys(controlPlaneMigrations("postgres")).sort(),
      );
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });

  it("the store: of eight instances racing for an expired lease exactly one wins", async () => {
    const dbs = Array.from(
      { length: 8 },
      () =>
        new Kysely<ControlPlaneDatabase>({
          dialect: new PostgresDialect({
            pool: new pg.Pool({
              connectionString: pgsql.url,
              max: 1,
              types: {
                getTypeParser: ((oid: number, format?: string): unknown =>
                  oid === 20
                    ? (v: string) => Number(v)
                    : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
              },
            }),
          }),
        }),
    );
    try {
      await migrateControlPlaneDatabase({ db: dbs[0]!, dialect: "postgres" });
      const stores = dbs.map((db) => new ClusterStore({ db, dialect: "postgres" }));
      const now = Date.now();
      await dbs[0]!
        .insertInto("cp_tasks")
        .values({
          task_id: "T-race",
          cluster_id: "c-race",
          task_type: "kms_encryption_disable",
          state: "running",
          request: "{}",
          stages: "[]",
          current_stage: "rewrite",
          operation_id: "",
          error_code: "",
          error_message: "",
          created_by: "test",
          created_at: now,
          updated_at: now,
          finished_at: null,
          lease_owner: "dead",
          lease_expires_at: now - 1,
        })
        .execute();
      for (let round = 0; round < 5; round++) {
        const t = now + round * 10_000;
        const won = await Promise.all(stores.map((s, i) => s.leaseTask("T-race", `i${i}`, t, t + 5_000)));
        assert.equal(won.filter(Boolean).length, 1, `round ${round}: one winner, got ${JSON.stringify(won)}`);
        const row = await stores[0]!.getTask("T-race");
        assert.equal(row?.lease_owner, `i${won.indexOf(true)}`);
        assert.equal(row?.lease_expires_at, t + 5_000, "the lease's end is a number (ms), not a string");
      }
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });

  it("an operation started on one instance, killed mid-way, is finished by the other; a restart rejoins", async () => {
    // Both start together on the shared database (each migrates the control plane's tables at once).
    const [one, two] = await Promise.all([serve(), serve()]);
    assert.notEqual(one.instanceId, two.instanceId);
    const reg = await runAtrest([
      "control-plane",
      "register",
      "--profile",
      c.sys.profileFile,
      "--endpoint",
      one.url,
      "--cluster",
      c.clusterFile,
      "-o",
      "json",
    ]);
    assert.equal(reg.status, 0, reg.stderr);
    clusterId = (JSON.parse(reg.stdout) as { cluster_id: string }).cluster_id;
    assert.equal((await detail(two)).state, "running", "the other instance sees the registered cluster");
    const valuesBefore = await c.secretValues();

    held.holdAfter(HOLD_AFTER);
    const accepted = (await update(one, { disableEncryption: false, kmsKeyId: c.sys.kmsKeyId })) as {
      statusCode: number;
    };
    assert.equal(accepted.statusCode, 202);
    const taskId =
      (await detail(one)).state === "updating" ? await currentTask(one) : assert.fail("not updating");

    // Instance 1 is rewriting (writes held) and its progress is in the database, as instance 2 reads it.
    const mid = await until("persisted rewrite progress, seen by instance 2", TIMEOUT_MS, async () => {
      if (held.held === 0) return undefined;
      const t = await taskInfo(two, taskId);
      const p = t.stages.find((s) => s.outputs !== undefined)?.outputs;
      return p !== undefined && p.total >= SECRETS && p.remaining < p.total ? t : undefined;
    });
    assert.equal(mid.state, "running");
    assert.equal(mid.parameters.owner, one.instanceId);
    // Both answer the same while it runs; a second change on instance 2 is 409.
    assert.deepEqual([(await detail(one)).state, (await detail(two)).state], ["updating", "updating"]);
    assert.deepEqual(await list(one), await list(two));
    assert.deepEqual((await taskInfo(one, taskId)).parameters, (await taskInfo(two, taskId)).parameters);
    const conflict = await csFailure(update(two, { disableEncryption: true }));
    assert.deepEqual([conflict.status, conflict.code], [409, "ErrorClusterStateConflict"]);

    // Instance 1 dies mid-rewrite.
    assert.ok(one.child.pid !== undefined);
    process.kill(one.child.pid, "SIGKILL");
    await exited(one.child);

    // Instance 2 takes the task over once the lease ran out (its writes are held too, so it is still
    // running when instance 1 comes back).
    const takenOver = await until("instance 2 to take the task over", TIMEOUT_MS, async () => {
      const t = await taskInfo(two, taskId);
      return t.parameters.owner === two.instanceId &&
        t.events.some((e) => e.reason === "UpdateKMSEncryptionTakenOver")
        ? t
        : undefined;
    });
    const takeover = takenOver.events.find((e) => e.reason === "UpdateKMSEncryptionTakenOver")!;
    assert.ok(
      takeover.message.includes(
        `instance ${two.instanceId} took over task ${taskId} from instance ${one.instanceId}`,
      ),
      takeover.message,
    );
    assert.match(takeover.timestamp, /^\d{13}$/);

    // Instance 1 restarts (a new instance id): it sweeps for orphans before it answers, and must leave
    // the task to instance 2, whose lease is live.
    const again = await serve();
    assert.equal((await taskInfo(again, taskId)).parameters.owner, two.instanceId);
    assert.equal((await detail(again)).state, "updating");
    held.release();

    const done = await until("the cluster to be running", TIMEOUT_MS, async () => {
      const d = await detail(two);
      return d.state === "updating" ? undefined : d;
    });
    assert.equal(done.state, "running");
    assert.deepEqual(JSON.parse(done.metaData), {
      EncryptionKMSKeyId: c.sys.kmsKeyId,
      DisableEncryption: false,
    });
    assert.equal((await detail(again)).state, "running");
    const final = await taskInfo(again, taskId);
    assert.equal(final.state, "success");
    assert.equal(final.parameters.owner, two.instanceId);
    assert.deepEqual(
      final.events.map((e) => e.reason),
      ["UpdateKMSEncryption", "UpdateKMSEncryptionTakenOver", "UpdateKMSEncryptionSucceeded"],
      "one takeover, one end: nothing ran twice",
    );
    const events = (await clusterEvents(two, taskId)).map((e) => e.data.reason);
    assert.deepEqual(events, [
      "UpdateKMSEncryptionSucceeded",
      "UpdateKMSEncryptionTakenOver",
      "UpdateKMSEncryption",
    ]);

    // Every Secret under the key (read from the store), and none changed.
    const scan = await c.sys.scan();
    const secrets = scan.report.resources["secrets"]!;
    assert.ok(secrets.total >= SECRETS, `scanned ${secrets.total}`);
    assert.deepEqual([secrets.encrypted, secrets.plaintext], [secrets.total, 0]);
    assert.equal(
      Object.values(secrets.byKmsProvider).reduce((a, b) => a + b, 0),
      secrets.total,
      JSON.stringify(secrets.byKmsProvider),
    );
    assert.ok((await assertStored(c, "kms:v2")) >= SECRETS);
    assert.deepEqual(await c.secretValues(), valuesBefore);
  });

  /** The cluster's current task, named by its UpdateKMSEncryption event (ACK's answer has no body). */
  async function currentTask(i: Instance): Promise<string> {
    const e = (await clusterEvents(i)).find((x) => x.data.reason === "UpdateKMSEncryption");
    const id = /\(task (T-[0-9a-f]{24})\)/.exec(e?.data.message ?? "")?.[1];
    assert.ok(id !== undefined, `an UpdateKMSEncryption event naming its task: ${JSON.stringify(e)}`);
    return id;
  }
});
