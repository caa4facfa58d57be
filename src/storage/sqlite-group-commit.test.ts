import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { GroupCommit } from "./sqlite-group-commit.js";

function setup(busyTimeoutMs = 5000) {
  const dir = mkdtempSync(join(tmpdir(), "atrest-group-commit-"));
  const path = join(dir, "t.db");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
  const insert = db.prepare<[string, string]>("INSERT INTO t (k, v) VALUES (?, ?)");
  const commits: number[] = [];
  const group = new GroupCommit(db, {
    mapError: (err) => new Error(`mapped: ${(err as Error).message}`),
    afterCommit: (n) => commits.push(n),
  });
  const put = (k: string, v: string) =>
    group.submit(
      db.transaction(() => {
        insert.run(k, v);
        return k;
      }),
    );
  const rows = () =>
    db
      .prepare<[], { k: string }>("SELECT k FROM t ORDER BY k")
      .all()
      .map((r) => r.k);
  return {
    path,
    db,
    group,
    put,
    rows,
    commits,
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("writes asked for in one turn share one commit; a failing one rejects alone and stores nothing", async () => {
  const s = setup();
  try {
    const asked = Array.from({ length: 32 }, (_, i) => s.put(`k${String(i).padStart(2, "0")}`, "v"));
    const dup = s.put("k05", "again"); // the primary key exists by then: rolled back to its savepoint
    const results = await Promise.allSettled([...asked, dup]);
    assert.deepEqual(s.commits, [33]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 32);
    const last = results[32]!;
    assert.equal(last.status, "rejected");
    assert.match(String(last.reason), /mapped: UNIQUE constraint failed/);
    assert.equal(s.rows().length, 32);
    assert.equal(s.db.prepare("SELECT v FROM t WHERE k = 'k05'").pluck().get(), "v");
    // A later turn is a later commit.
    await s.put("z", "v");
    assert.deepEqual(s.commits, [33, 1]);
  } finally {
    s.close();
  }
});

test("a batch is capped; the rest commit at once in the next transaction", async () => {
  const s = setup();
  try {
    const group = new GroupCommit(s.db, {
      maxBatch: 10,
      mapError: (e) => e as Error,
      afterCommit: (n) => s.commits.push(n),
    });
    const insert = s.db.prepare<[string]>("INSERT INTO t (k, v) VALUES (?, 'v')");
    await Promise.all(
      Array.from({ length: 25 }, (_, i) => group.submit(s.db.transaction(() => insert.run(`k${i}`)))),
    );
    assert.deepEqual(s.commits, [10, 10, 5]);
    assert.equal(s.rows().length, 25);
  } finally {
    s.close();
  }
});

test("a commit that cannot happen rejects every write of its batch and stores none", async () => {
  const s = setup(0);
  const other = new Database(s.path);
  try {
    other.prepare("BEGIN IMMEDIATE").run(); // another writer holds the lock: BEGIN IMMEDIATE is busy
    const results = await Promise.allSettled([s.put("a", "v"), s.put("b", "v")]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["rejected", "rejected"],
    );
    assert.match(String((results[0] as PromiseRejectedResult).reason), /mapped: database is locked/);
    assert.deepEqual(s.commits, []);
    other.prepare("ROLLBACK").run();
    assert.deepEqual(s.rows(), []);
    // The store goes on once the lock is free.
    await s.put("c", "v");
    assert.deepEqual(s.rows(), ["c"]);
  } finally {
    other.close();
    s.close();
  }
});

test("flush commits what is queued at once (close uses it) and answers it", async () => {
  const s = setup();
  try {
    const p = s.put("a", "v");
    const flushed = s.group.flush();
    assert.deepEqual(s.rows(), ["a"]); // committed before flush returned
    await flushed;
    assert.equal(await p, "a");
    assert.deepEqual(s.commits, [1]);
  } finally {
    s.close();
  }
});

test("with a sync, a batch is answered only after its sync; the next batch commits meanwhile; a failed sync rejects its batch", async () => {
  const s = setup();
  try {
    const syncs: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
    const group = new GroupCommit(s.db, {
      mapError: (e) => e as Error,
      afterCommit: (n) => s.commits.push(n),
      sync: () => new Promise<void>((resolve, reject) => syncs.push({ resolve, reject })),
    });
    const insert = s.db.prepare<[string]>("INSERT INTO t (k, v) VALUES (?, 'v')");
    const put = (k: string) => group.submit(s.db.transaction(() => insert.run(k).changes));
    let answered = false;
    const first = put("a").then((v) => {
      answered = true;
      return v;
    });
    await waitFor(() => syncs.length === 1);
    assert.deepEqual(s.rows(), ["a"]); // committed (and visible) ...
    assert.equal(answered, false); // ... but not answered before its sync
    const second = put("b");
    await waitFor(() => syncs.length === 2); // the second batch committed while the first syncs
    assert.deepEqual(s.commits, [1, 1]);
    syncs[0]!.resolve();
    assert.equal(await first, 1);
    syncs[1]!.reject(new Error("EIO"));
    await assert.rejects(second, /EIO/);
  } finally {
    s.close();
  }
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(condition(), "condition not reached");
}
