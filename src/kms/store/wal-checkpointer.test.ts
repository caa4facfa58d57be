import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openKmsDatabase } from "./database.js";
import { nonceDigest } from "../../iam/nonce-digest.js";

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Rows that reached the database file itself (a copy without its -wal sees only those); -1 before the
 * table does. A copy taken while the worker is writing the file can be torn (SQLITE_CORRUPT or
 * SQLITE_NOTADB in the copy, not in the database): then it is taken again, a bounded number of times,
 * so lasting damage still fails the test.
 */
async function noncesInMainFile(dir: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return countInCopy(dir);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= 50 || (code !== "SQLITE_CORRUPT" && code !== "SQLITE_NOTADB")) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function countInCopy(dir: string): number {
  const copy = join(dir, "copy.db");
  rmSync(copy, { force: true });
  copyFileSync(join(dir, "kms.db"), copy);
  const db = new Database(copy, { readonly: true });
  try {
    const table = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'nonce_digests'")
      .get();
    if (table === undefined) return -1;
    return (db.prepare("SELECT count(*) AS n FROM nonce_digests").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test("commits are checkpointed into the database file by the worker, not by the serving connection", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-wal-checkpointer-"));
  try {
    const kdb = await openKmsDatabase({ dataDir: dir });
    // The schema itself reaches the main file only through a checkpoint.
    await until("the schema's checkpoint", async () => (await noncesInMainFile(dir)) >= 0);
    const before = await noncesInMainFile(dir);
    for (let i = 0; i < 200; i++)
      await kdb.db
        .insertInto("nonce_digests")
        .values({ digest: nonceDigest("ak", `n${i}`), expires_at: Date.now() + 60_000 })
        .execute();
    assert.ok(existsSync(join(dir, "kms.db-wal")) && statSync(join(dir, "kms.db-wal")).size > 0);
    // The serving connection never checkpoints (wal_autocheckpoint = 0): only the worker can make the
    // rows appear in the main file, within about one interval.
    await until("the worker's checkpoint", async () => (await noncesInMainFile(dir)) === before + 200);
    // Writes go on while it checkpoints; the WAL is reused, not grown without end.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++)
        await kdb.db
          .insertInto("nonce_digests")
          .values({ digest: nonceDigest("ak", `r${round}-${i}`), expires_at: Date.now() + 60_000 })
          .execute();
      await until(
        `round ${round} checkpointed`,
        async () => (await noncesInMainFile(dir)) === before + 200 * (round + 2),
      );
    }
    const walBytes = statSync(join(dir, "kms.db-wal")).size;
    assert.ok(walBytes < 4 * 1024 * 1024, `the WAL stays small (${walBytes} bytes)`);
    await kdb.close();
    assert.equal(await noncesInMainFile(dir), before + 800, "close leaves everything in the database file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
