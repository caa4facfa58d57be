import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { KyselyPlugin } from "kysely";
import { ManualClock } from "../../common/clock.js";
import { isAtrestError } from "../../common/errors.js";
import { KeyService, type CreateKeyInput } from "./index.js";
import type { ProtectionBackend } from "../protection/protection.js";
import { createSoftwareProtection } from "../protection/software.js";
import { RootKey } from "../root-key.js";
import { openKmsDatabase, type KmsDb } from "../store/database.js";

/** A fresh SQLite key store for one test, closed and removed after it. */
async function withStore(prefix: string, fn: (kdb: KmsDb) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const kdb = await openKmsDatabase({ dataDir: dir });
  try {
    await fn(kdb);
  } finally {
    await kdb.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A service whose key rows stay cached for an hour (so a test sees what memory holds). */
function cachingService(kdb: KmsDb): KeyService {
  return new KeyService({
    kdb,
    protections: { SOFTWARE: fakeProtection().backend },
    clock: new ManualClock(),
    keyCacheTtlMs: 3_600_000,
  });
}

/** The software backend with knobs and counters. */
function fakeProtection() {
  const inner = createSoftwareProtection({ rootKey: new RootKey(randomBytes(32)) });
  const state = { failGenerate: false, generated: 0, destroyed: 0 };
  const backend: ProtectionBackend = {
    ...inner,
    level: "SOFTWARE",
    generate: (id) => {
      if (state.failGenerate) return Promise.reject(new Error("token unavailable"));
      state.generated++;
      return inner.generate(id);
    },
    destroy: (id, ref) => {
      state.destroyed++;
      return inner.destroy(id, ref);
    },
  };
  return { backend, state };
}

const input: CreateKeyInput = {
  description: "",
  protectionLevel: "SOFTWARE",
  keySpec: "Aliyun_AES_256",
  keyUsage: "ENCRYPT/DECRYPT",
  origin: "Aliyun_KMS",
  automaticRotation: true,
  rotationIntervalS: 7 * 86_400,
  creator: "t",
};

describe("KeyService", () => {
  let dir: string;
  let kdb: KmsDb;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-keysvc-"));
    kdb = await openKmsDatabase({ dataDir: dir });
  });
  after(async () => {
    await kdb.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a rotation whose material cannot be generated changes nothing", async () => {
    const { backend, state } = fakeProtection();
    const svc = new KeyService({ kdb, protections: { SOFTWARE: backend }, clock, keyCacheTtlMs: 0 });
    const key = await svc.createKey(input);
    state.failGenerate = true;
    await assert.rejects(svc.createKeyVersion(key.key_id), /token unavailable/);
    const after = await svc.getKey(key.key_id, { fresh: true });
    assert.equal(after.primary_version_id, key.primary_version_id);
    assert.equal(after.generation, key.generation);
    assert.equal((await svc.listVersions(key.key_id, { pageNumber: 1, pageSize: 10 })).total, 1);
  });

  it("two services racing on one due key rotate it once; the loser's material is destroyed", async () => {
    const a = fakeProtection();
    const b = fakeProtection();
    // Both share one store but different backends, as two instances would share a database.
    const sa = new KeyService({ kdb, protections: { SOFTWARE: a.backend }, clock, keyCacheTtlMs: 0 });
    const sb = new KeyService({ kdb, protections: { SOFTWARE: b.backend }, clock, keyCacheTtlMs: 0 });
    const key = await sa.createKey(input);
    clock.advance(8 * 86_400_000);
    const [ra, rb] = await Promise.all([
      sa.createKeyVersion(key.key_id, { onlyIfDue: clock.now() }),
      sb.createKeyVersion(key.key_id, { onlyIfDue: clock.now() }),
    ]);
    assert.equal([ra, rb].filter((r) => r !== undefined).length, 1);
    assert.equal((await sa.listVersions(key.key_id, { pageNumber: 1, pageSize: 10 })).total, 2);
    assert.equal(
      a.state.generated + b.state.generated - 1 - (a.state.destroyed + b.state.destroyed),
      1,
      "every extra generated version was destroyed",
    );
  });

  it("validates state rules: protection blocks deletion, pending keys cannot be used", async () => {
    const { backend } = fakeProtection();
    const svc = new KeyService({ kdb, protections: { SOFTWARE: backend }, clock, keyCacheTtlMs: 0 });
    const key = await svc.createKey(input);
    await svc.changeKey(key.key_id, { op: "SetDeletionProtection", enabled: true, description: "prod" });
    await assert.rejects(
      svc.changeKey(key.key_id, { op: "ScheduleKeyDeletion", pendingWindowInDays: 7 }),
      (e: unknown) => isAtrestError(e) && e.details.kmsCode === "Forbidden.ResourceProtected",
    );
    await svc.changeKey(key.key_id, { op: "SetDeletionProtection", enabled: false, description: "" });
    await svc.changeKey(key.key_id, { op: "ScheduleKeyDeletion", pendingWindowInDays: 7 });
    await assert.rejects(
      svc.encrypt(key.key_id, Buffer.from("x"), {}),
      (e: unknown) => isAtrestError(e) && e.details.kmsCode === "Rejected.PendingDeletion",
    );
    await assert.rejects(
      svc.changeKey("nope", { op: "CancelKeyDeletion" }),
      (e: unknown) => isAtrestError(e) && e.details.kmsCode === "Forbidden.KeyNotFound",
    );
    await svc.changeKey(key.key_id, { op: "CancelKeyDeletion" });
    await assert.rejects(
      svc.changeKey(key.key_id, { op: "CancelKeyDeletion" }),
      (e: unknown) => isAtrestError(e) && e.details.kmsCode === "Rejected.NotPendingDeletion",
    );
  });
});

/** A store whose UPDATEs fail while `failing.on` is set (a Kysely plugin in front of the real database). */
function failingUpdates(kdb: KmsDb): { kdb: KmsDb; failing: { on: boolean } } {
  const failing = { on: false };
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      if (failing.on && args.node.kind === "UpdateQueryNode") throw new Error("disk I/O error");
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };
  return { kdb: { ...kdb, db: kdb.db.withPlugin(plugin) }, failing };
}

describe("KeyService: a change that fails to persist", () => {
  it("leaves the cached key as the store has it (no half-applied change in memory)", async () => {
    await withStore("atrest-keysvc-fail-", async (real) => {
      const { kdb, failing } = failingUpdates(real);
      const svc = cachingService(kdb);
      const key = await svc.createKey(input);
      await svc.getKey(key.key_id); // cached now
      failing.on = true;
      await assert.rejects(svc.changeKey(key.key_id, { op: "DisableKey" }), /disk I\/O error/);
      await assert.rejects(svc.createKeyVersion(key.key_id), /disk I\/O error/);
      failing.on = false;
      const cached = await svc.getKey(key.key_id);
      const stored = await svc.getKey(key.key_id, { fresh: true });
      assert.equal(cached.key_state, "Enabled");
      assert.equal(cached.primary_version_id, key.primary_version_id);
      assert.deepEqual(cached, stored);
      assert.equal(
        (await svc.encrypt(key.key_id, Buffer.from("x"), {})).keyVersionId,
        key.primary_version_id,
      );
    });
  });
});

describe("KeyService: the key in use", () => {
  it("a cluster tag that lands between a DisableKey's read and its write makes it retry and refuse", async () => {
    await withStore("atrest-keysvc-inuse-", async (real) => {
      const sqlite = real.sqlite!;
      let keyId = "";
      let raced = false;
      // Another instance's TagResource (tag + generation bump, as key-tags.ts does), run synchronously
      // just before this instance's compare-and-set of the key row.
      const plugin: KyselyPlugin = {
        transformQuery(args) {
          if (!raced && keyId !== "" && args.node.kind === "UpdateQueryNode") {
            raced = true;
            sqlite.transaction(() => {
              sqlite
                .prepare(
                  "insert into tags (key_id, tag_key, tag_value) values (?, 'atrest:cluster:demo', 'write')",
                )
                .run(keyId);
              sqlite.prepare("update keys set generation = generation + 1 where key_id = ?").run(keyId);
            })();
          }
          return args.node;
        },
        transformResult: (args) => Promise.resolve(args.result),
      };
      const svc = new KeyService({
        kdb: { ...real, db: real.db.withPlugin(plugin) },
        protections: { SOFTWARE: fakeProtection().backend },
        clock: new ManualClock(),
        keyCacheTtlMs: 0,
      });
      keyId = (await svc.createKey(input)).key_id;
      await assert.rejects(
        svc.changeKey(keyId, { op: "DisableKey" }),
        (e: unknown) => isAtrestError(e) && e.details.kmsCode === "Rejected.KeyInUse",
      );
      assert.ok(raced);
      assert.equal((await svc.getKey(keyId, { fresh: true })).key_state, "Enabled");
    });
  });

  it("tagging and untagging count as changes of the key (its generation moves, its cached row is dropped)", async () => {
    await withStore("atrest-keysvc-tags-", async (kdb) => {
      const svc = cachingService(kdb);
      const key = await svc.createKey(input);
      await svc.getKey(key.key_id);
      await svc.tagResource(key.key_id, [{ TagKey: "atrest:cluster:demo", TagValue: "write" }]);
      assert.equal((await svc.getKey(key.key_id)).generation, key.generation + 1);
      await svc.untagResource(key.key_id, ["atrest:cluster:demo"]);
      assert.equal((await svc.getKey(key.key_id)).generation, key.generation + 2);
      const { row, overrode } = await svc.changeKey(key.key_id, { op: "DisableKey" });
      assert.equal(row.key_state, "Disabled");
      assert.deepEqual(overrode, []);
    });
  });
});

describe("KeyService durability", () => {
  it("new key material is synced to stable storage before it is returned or cached (API and scheduled)", async () => {
    await withStore("atrest-keysvc-sync-", async (kdb) => {
      const events: string[] = [];
      const counted: KmsDb = {
        ...kdb,
        db: kdb.db,
        sync: async () => {
          events.push("sync");
          await kdb.sync(); // the real one: fsync of the WAL file
        },
      };
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      const { backend } = fakeProtection();
      const svc = new KeyService({
        kdb: counted,
        protections: { SOFTWARE: backend },
        clock,
        keyCacheTtlMs: 0,
      });
      const key = await svc.createKey(input);
      events.push("created");
      assert.deepEqual(events, ["sync", "created"]);
      await svc.createKeyVersion(key.key_id);
      events.push("rotated");
      assert.deepEqual(events.slice(2), ["sync", "rotated"]);
      clock.advance(8 * 86_400_000);
      assert.deepEqual(await svc.rotateDueKeys(clock.now()), [key.key_id]);
      assert.deepEqual(events.slice(4), ["sync"], "a scheduled rotation syncs too");
    });
  });
});
