import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { ManualClock } from "../../common/clock.js";
import {
  renderClusterFile,
  type EncryptionOperations,
  type OperationRecord,
} from "../../operations/index.js";
import type { IamDb, IdentityStore } from "../../iam/index.js";
import { migrateControlPlaneDatabase } from "../store/migrations.js";
import type { ControlPlaneDatabase } from "../store/schema.js";
import { serviceContext } from "./context.js";
import type { ClusterEngineFactory } from "./engine-port.js";
import { TaskRunner } from "./task-runner.js";

/** A control-plane store in memory, a cluster file, and the cluster `c1` updating under task `T-1`. */
async function withStore(
  fn: (f: {
    db: Kysely<ControlPlaneDatabase>;
    cdb: { db: Kysely<ControlPlaneDatabase>; dialect: "sqlite" };
    insert: (
      at: number,
      task: { current_stage: string; operation_id: string },
      lease: Lease,
    ) => Promise<void>;
  }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-cp-runner-"));
  const sqlite = new Database(":memory:");
  const db = new Kysely<ControlPlaneDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    const clusterFile = join(dir, "cluster.yaml");
    writeFileSync(
      clusterFile,
      renderClusterFile({
        name: "c1",
        region: "cn-hangzhou",
        kubeconfig: join(dir, "kubeconfig"),
        apiservers: [{ url: "https://127.0.0.1:1" }],
        store: { sqlite: join(dir, "store.db") },
        kmsProfile: join(dir, "kms-profile.json"),
        plugins: [{ name: "kms", endpoint: `unix://${join(dir, "kms.sock")}` }],
      }),
    );
    const cdb = { db, dialect: "sqlite" as const };
    await migrateControlPlaneDatabase(cdb);
    const insert = async (
      at: number,
      task: { current_stage: string; operation_id: string },
      lease: Lease,
    ): Promise<void> => {
      await db
        .insertInto("cp_clusters")
        .values({
          cluster_id: "c1",
          name: "c1",
          region_id: "cn-hangzhou",
          cluster_file: clusterFile,
          state: "updating",
          kms_key_id: "",
          disable_encryption: 1,
          current_task_id: "T-1",
          failure_reason: "",
          last_change_at: 0,
          created_by: "admin",
          created_at: at,
          updated_at: at,
        })
        .execute();
      await db
        .insertInto("cp_tasks")
        .values({
          task_id: "T-1",
          cluster_id: "c1",
          task_type: "kms_encryption_enable",
          state: "running",
          request: JSON.stringify({ type: "enable", keyId: "key-1" }),
          stages: "[]",
          ...task,
          error_code: "",
          error_message: "",
          created_by: "admin",
          created_at: at,
          updated_at: at,
          finished_at: null,
          ...lease,
        })
        .execute();
    };
    await fn({ db, cdb, insert });
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Lease = { lease_owner: string; lease_expires_at: number };

// Unit test (a fake engine): a task whose instance died (lease expired) is taken over by the next
// runner, which resumes the engine's unfinished operation (not a new one) and sets the cluster running.
test("a task whose lease expired is resumed from the engine's record, then the cluster is running", async () => {
  await withStore(async ({ db, cdb, insert }) => {
    const calls: string[] = [];
    const running = { id: "op-1", state: "Running", stage: "rewrite" } as unknown as OperationRecord;
    const done = {
      id: "op-1",
      state: "Succeeded",
      stage: "done",
      target: { keyId: "key-1" },
      stages: [{ name: "rewrite", state: "done", startedAt: "2026-01-01T00:00:00Z" }],
      progress: { rewritten: 3 },
      verify: { underTarget: 3, total: 3 },
    } as unknown as OperationRecord;
    const ops = {
      status: () => Promise.resolve({ operation: running }),
      resume: () => (calls.push("resume"), Promise.resolve(done)),
      start: () => (calls.push("start"), Promise.resolve(done)),
    } as unknown as EncryptionOperations;
    const engines: ClusterEngineFactory = () => ({ ops, close: () => undefined });
    const ctx = serviceContext({
      identity: {} as IdentityStore,
      idb: {} as IamDb,
      cdb,
      accountId: "1",
      regionId: "cn-hangzhou",
      engines,
      instanceId: "second",
    });
    const now = Date.now();
    // Held by a live instance: not taken over.
    await insert(
      now,
      { current_stage: "rewrite", operation_id: "op-1" },
      { lease_owner: "first", lease_expires_at: now + 60_000 },
    );
    const runner = new TaskRunner(ctx);
    await runner.sweepOrphans();
    await runner.idle();
    assert.deepEqual(calls, []);
    // The first instance died: its lease ran out.
    await db
      .updateTable("cp_tasks")
      .set({ lease_expires_at: now - 1 })
      .where("task_id", "=", "T-1")
      .execute();
    await runner.sweepOrphans();
    await runner.idle();
    runner.close();
    const t = await ctx.store.getTask("T-1");
    assert.deepEqual([calls, t?.error_message], [["resume"], ""]);
    assert.equal(t?.state, "success");
    assert.equal(t?.lease_owner, "second");
    const c = await ctx.store.getCluster("c1");
    assert.equal(c?.state, "running");
    assert.equal(c?.kms_key_id, "key-1");
    assert.equal(c?.disable_encryption, 0);
    const { rows } = await ctx.store.listEvents("c1", { offset: 0, limit: 10 });
    assert.ok(rows.some((r) => r.reason === "UpdateKMSEncryptionSucceeded"));
  });
});

// A paused instance (its lease ran out while it was stalled, then it woke up) must not finish a task
// another instance took over: its end is fenced on the lease, the new holder's result stands.
test("an instance that lost the lease finishes nothing; the instance that took over finishes", async () => {
  await withStore(async ({ cdb, insert }) => {
    const done = {
      id: "op-1",
      state: "Succeeded",
      stage: "done",
      target: { keyId: "key-1" },
      stages: [{ name: "rewrite", state: "succeeded" }],
      progress: { rewritten: 3 },
      verify: { underTarget: 3, total: 3 },
    } as unknown as OperationRecord;
    /** Each runner's engine call: settled by the test. */
    const pending = new Map<string, { resolve: (r: OperationRecord) => void; reject: (e: Error) => void }>();
    const engineOf =
      (name: string): ClusterEngineFactory =>
      () => ({
        ops: {
          status: () => Promise.resolve({ operation: { id: "op-1", state: "Running", stage: "rewrite" } }),
          start: () => new Promise((resolve, reject) => pending.set(name, { resolve, reject })),
          resume: () => new Promise((resolve, reject) => pending.set(name, { resolve, reject })),
        } as unknown as EncryptionOperations,
        close: () => undefined,
      });
    const t0 = Date.UTC(2026, 0, 1);
    const clockA = new ManualClock(t0);
    const clockB = new ManualClock(t0);
    const ctxOf = (name: string, clock: ManualClock) =>
      serviceContext({
        identity: {} as IdentityStore,
        idb: {} as IamDb,
        cdb,
        accountId: "1",
        regionId: "cn-hangzhou",
        engines: engineOf(name),
        instanceId: name,
        taskLeaseMs: 3_000,
        clock,
      });
    const a = ctxOf("first", clockA);
    const b = ctxOf("second", clockB);
    await insert(
      t0,
      { current_stage: "preflight", operation_id: "" },
      { lease_owner: "first", lease_expires_at: t0 + 3_000 },
    );
    const first = new TaskRunner(a);
    first.drive("T-1", false);
    const waitFor = async (name: string) => {
      for (let i = 0; i < 200 && !pending.has(name); i++) await new Promise((r) => setImmediate(r));
      assert.ok(pending.has(name), `${name}'s engine was called`);
    };
    await waitFor("first");
    // "first" stalls (its clock, hence its renewals, stand still); its lease runs out for "second".
    clockB.advance(3_001);
    const second = new TaskRunner(b);
    await second.sweepOrphans();
    await waitFor("second");
    assert.equal((await b.store.getTask("T-1"))?.lease_owner, "second");
    // "first" wakes: its renewal finds the lease gone, its engine fails (as the real one does when its
    // own lease was taken) — and neither changes the task nor the cluster.
    clockA.advance(1_000);
    pending.get("first")!.reject(new Error("the operation's lease was taken over by second"));
    await first.idle();
    assert.equal((await a.store.getTask("T-1"))?.state, "running");
    assert.equal((await a.store.getCluster("c1"))?.state, "updating");
    pending.get("second")!.resolve(done);
    await second.idle();
    first.close();
    second.close();
    const t = await b.store.getTask("T-1");
    assert.deepEqual([t?.state, t?.lease_owner, t?.error_message], ["success", "second", ""]);
    const c = await b.store.getCluster("c1");
    assert.deepEqual([c?.state, c?.kms_key_id, c?.failure_reason], ["running", "key-1", ""]);
    const reasons = (await b.store.listTaskEvents("T-1")).map((e) => e.reason);
    assert.deepEqual(reasons, ["UpdateKMSEncryptionTakenOver", "UpdateKMSEncryptionSucceeded"]);
    const takeover = (await b.store.listTaskEvents("T-1"))[0]!;
    assert.match(takeover.message, /instance second took over task T-1 from instance first/);
  });
});
