import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isAtrestError } from "../src/common/errors.js";
import { SqliteStore, sqlitePathFromUrl } from "../src/storage/sqlite-store.js";
import { collect, registerStoreConformance } from "./support/store-conformance.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "atrest-sqlite-"));
}

registerStoreConformance("sqlite", () => {
  const dir = tempDir();
  return Promise.resolve({
    store: new SqliteStore({ path: join(dir, "state.db") }),
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

describe("sqlite store on a file", () => {
  test("a watch sees writes made by another process on the same file (polling)", async () => {
    const dir = tempDir();
    const path = join(dir, "state.db");
    const a = new SqliteStore({ path, pollIntervalMs: 20 });
    const b = new SqliteStore({ path, pollIntervalMs: 20 });
    try {
      const from = await a.currentRevision();
      const seen = collect();
      const w = await a.watch("/registry/secrets/", from, seen.handlers);
      const kv = await b.create("/registry/secrets/ns/one", Buffer.from("v1"));
      await b.update(kv.key, Buffer.from("v2"), kv.modRevision);
      const events = await seen.waitFor(2);
      assert.deepEqual(
        events.map((e) => (e.type === "put" ? [e.kv.value.toString(), e.prevKv?.value.toString()] : [])),
        [
          ["v1", undefined],
          ["v2", "v1"],
        ],
      );
      // Compare-and-swap holds across the two handles.
      await assert.rejects(a.update(kv.key, Buffer.from("v3"), kv.modRevision), (e) =>
        isAtrestError(e, "conflict"),
      );
      await w.cancel();
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a compaction by another process ends a watch that had not caught up with gone; a local one does not", async () => {
    const dir = tempDir();
    const path = join(dir, "state.db");
    // `a` polls only when told (a new watch polls first): a write answers after its fsync, on the thread
    // pool, so a timer could otherwise poll between b's writes and catch up before the compaction.
    const a = new SqliteStore({ path, pollIntervalMs: 3_600_000 });
    const b = new SqliteStore({ path, pollIntervalMs: 20 });
    const pollA = async (): Promise<void> => {
      const nothing = collect();
      await (await a.watch("/nothing-here/", await a.currentRevision(), nothing.handlers)).cancel();
    };
    try {
      const from = await a.currentRevision();
      const behind = collect();
      const w = await a.watch("/registry/", from, behind.handlers);
      const kv = await b.create("/registry/secrets/ns/x", Buffer.from("1"));
      const kv2 = await b.update(kv.key, Buffer.from("2"), kv.modRevision);
      const kv3 = await b.update(kv.key, Buffer.from("3"), kv2.modRevision);
      await b.compact(kv3.modRevision);
      assert.equal(behind.events.length, 0, "a has not polled yet");
      await pollA();
      const err = await behind.waitForError();
      assert.ok(isAtrestError(err, "gone"), String(err));
      await w.cancel();

      const local = collect();
      const w2 = await a.watch("/registry/", kv3.modRevision, local.handlers);
      const k4 = await a.update(kv.key, Buffer.from("4"), kv3.modRevision);
      const k5 = await a.update(kv.key, Buffer.from("5"), k4.modRevision);
      await a.compact(k5.modRevision);
      const events = await local.waitFor(2);
      assert.deepEqual(
        events.map((e) => (e.type === "put" ? e.kv.value.toString() : "")),
        ["4", "5"],
      );
      await pollA(); // a poll after its own compaction finds nothing it missed
      assert.equal(local.errors.length, 0);
      await w2.cancel();
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("data, revisions and the compact revision survive a reopen", async () => {
    const dir = tempDir();
    const path = join(dir, "state.db");
    try {
      const first = new SqliteStore({ path });
      assert.equal(statSync(path).mode & 0o777, 0o600, "the database file is owner-only");
      assert.equal(await first.currentRevision(), 1, "an empty store is at revision 1, like etcd");
      const kv = await first.create("/registry/configmaps/ns/a", Buffer.from("x"));
      const deleted = await first.create("/registry/configmaps/ns/b", Buffer.from("y"));
      await first.delete(deleted.key);
      const rev = await first.currentRevision();
      await first.compact(rev);
      await first.close();
      const again = new SqliteStore({ path });
      try {
        assert.equal(
          await again.currentRevision(),
          rev,
          "the revision does not go back after compaction removed the tombstone row",
        );
        assert.deepEqual(await again.get(kv.key), kv);
        assert.equal(await again.get(deleted.key), undefined);
        await assert.rejects(again.list("/registry/", { revision: kv.modRevision }), (e) =>
          isAtrestError(e, "gone"),
        );
        const next = await again.create("/registry/configmaps/ns/c", Buffer.from("z"));
        assert.ok(next.modRevision > rev);
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("writes asked for together (one commit) keep compare-and-swap: one of two racing updates wins, the other conflicts, a create of an existing key fails alone", async () => {
    const dir = tempDir();
    const store = new SqliteStore({ path: join(dir, "state.db") });
    try {
      const kv = await store.create("/registry/secrets/ns/a", Buffer.from("v0"));
      // Not awaited one by one: all four join one transaction.
      const [first, second, dup, other] = await Promise.allSettled([
        store.update(kv.key, Buffer.from("v1"), kv.modRevision),
        store.update(kv.key, Buffer.from("v2"), kv.modRevision),
        store.create(kv.key, Buffer.from("again")),
        store.create("/registry/secrets/ns/b", Buffer.from("b")),
      ]);
      assert.equal(first.status, "fulfilled");
      assert.ok(second.status === "rejected" && isAtrestError(second.reason, "conflict"));
      assert.ok(dup.status === "rejected" && isAtrestError(dup.reason, "already-exists"));
      assert.equal(other.status, "fulfilled");
      assert.equal((await store.get(kv.key))?.value.toString(), "v1");
      assert.equal((await store.get("/registry/secrets/ns/b"))?.value.toString(), "b");
      // Revisions stay dense and ordered as the writes were asked for.
      assert.equal(first.value.modRevision + 1, other.value.modRevision);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("close commits and answers the writes already asked for", async () => {
    const dir = tempDir();
    const path = join(dir, "state.db");
    const store = new SqliteStore({ path });
    const written = store.create("/registry/secrets/ns/late", Buffer.from("v"));
    await store.close();
    assert.equal((await written).value.toString(), "v");
    const again = new SqliteStore({ path });
    try {
      assert.equal((await again.get("/registry/secrets/ns/late"))?.value.toString(), "v");
    } finally {
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("sqlite:/// URLs give absolute paths; other forms are rejected", () => {
    assert.equal(sqlitePathFromUrl("sqlite:///var/lib/atrest/state.db"), "/var/lib/atrest/state.db");
    assert.equal(sqlitePathFromUrl("sqlite:///tmp/a.db?_journal=WAL"), "/tmp/a.db");
    for (const bad of ["sqlite://relative.db", "postgres://x", "sqlite:///", "/tmp/a.db"]) {
      assert.throws(
        () => sqlitePathFromUrl(bad),
        (e) => isAtrestError(e, "invalid-argument"),
        bad,
      );
    }
  });
});
