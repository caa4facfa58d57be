import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import { verifyAuditChain, type AuditRecord } from "./audit-log.js";
import { RequestJournal } from "./request-journal.js";
import { kmsMigrations, openKmsDatabase, type KmsDb } from "./store/database.js";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-journal-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function withStore(fn: (kdb: KmsDb) => Promise<void>): Promise<void> {
  return withDir(async (dir) => {
    const kdb = await openKmsDatabase({ dataDir: dir });
    try {
      await fn(kdb);
    } finally {
      await kdb.close();
    }
  });
}

function record(requestId: string): AuditRecord {
  return {
    eventTime: Date.now(),
    requestId,
    principal: "app",
    accessKeyId: "ak1",
    sourceIp: "127.0.0.1",
    action: "Encrypt",
    keyId: "k1",
    keyVersionId: "v1",
    outcome: "Allowed",
    errorCode: "",
    clientUid: "",
  };
}

// The SQLite statements and the portable Kysely writer (PostgreSQL's) must behave the same.
for (const writer of ["auto", "kysely"] as const) {
  test(`${writer === "auto" ? "SQLite statements" : "Kysely"}: a nonce is fresh once per access key, also when repeated inside one batch`, async () => {
    await withStore(async (kdb) => {
      const journal = new RequestJournal(kdb, { writer });
      const exp = Date.now() + 60_000;
      const same = await Promise.all([
        journal.reserveNonce("ak1", "n1", exp),
        journal.reserveNonce("ak1", "n1", exp),
      ]);
      assert.deepEqual(same, [true, false]);
      assert.equal(await journal.reserveNonce("ak1", "n1", exp), false, "replayed in a later batch");
      assert.equal(await journal.reserveNonce("ak2", "n1", exp), true, "another access key may use it");
      // The digest input is length-prefixed: ("ak1", "n1x") is not ("ak1n", "1x").
      assert.equal(await journal.reserveNonce("ak1n", "1x", exp), true);
      assert.equal(await journal.reserveNonce("ak1", "n1x", exp), true);
      assert.equal(await journal.purgeExpiredNonces(exp + 1), 4);
      assert.equal(await journal.reserveNonce("ak1", "n1", exp + 60_000), true, "forgotten after expiry");
    });
  });

  test(`${writer === "auto" ? "SQLite statements" : "Kysely"}: nonces and audit records submitted together are committed together, the chain intact`, async () => {
    await withStore(async (kdb) => {
      const journal = new RequestJournal(kdb, { writer });
      const exp = Date.now() + 60_000;
      const results = await Promise.all([
        journal.reserveNonce("ak1", "a", exp),
        journal.appendAudit(record("R1")),
        journal.reserveNonce("ak1", "a", exp),
        journal.appendAudit(record("R2")),
        journal.reserveNonce("ak1", "b", exp),
      ]);
      assert.deepEqual(results, [true, undefined, false, undefined, true]);
      const chain = await verifyAuditChain(kdb);
      assert.deepEqual([chain.ok, chain.records], [true, 2]);
    });
  });

  test(`${writer === "auto" ? "SQLite statements" : "Kysely"}: a failed commit rejects every entry of its batch and stores none of them`, async () => {
    await withStore(async (kdb) => {
      const journal = new RequestJournal(kdb, { writer });
      await journal.appendAudit(record("R0")); // the chain head exists
      await kdb.db.schema.dropTable("audit_events").execute();
      const exp = Date.now() + 60_000;
      const settled = await Promise.allSettled([
        journal.reserveNonce("ak1", "lost", exp),
        journal.appendAudit(record("R1")),
      ]);
      assert.deepEqual(
        settled.map((s) => s.status),
        ["rejected", "rejected"],
      );
      const kept = await kdb.db.selectFrom("nonce_digests").select("digest").execute();
      assert.equal(kept.length, 0, "the nonce of the failed batch was rolled back with it");
    });
  });
}

test("SQLite statements wait for a Kysely transaction in progress on the same connection", async () => {
  await withStore(async (kdb) => {
    const journal = new RequestJournal(kdb);
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const open = kdb.db.transaction().execute(async (tx) => {
      await tx
        .insertInto("nonce_digests")
        .values({ digest: Buffer.alloc(16, 1), expires_at: Date.now() + 60_000 })
        .execute();
      order.push("transaction wrote");
      await held;
      order.push("transaction done");
    });
    await new Promise((r) => setTimeout(r, 20));
    const reserved = journal.reserveNonce("ak1", "n1", Date.now() + 60_000).then((fresh) => {
      order.push("journal");
      return fresh;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(order, ["transaction wrote"], "the journal's batch waits for the open transaction");
    release();
    await open;
    assert.equal(await reserved, true);
    assert.deepEqual(order, ["transaction wrote", "transaction done", "journal"]);
  });
});

test("upgrading a store from 0001 keeps the nonces inside their window refused", async () => {
  await withDir(async (dir) => {
    const old = new Kysely<Record<string, Record<string, unknown>>>({
      dialect: new SqliteDialect({ database: new Database(join(dir, "kms.db")) }),
    });
    const migrator = new Migrator({
      db: old,
      provider: {
        getMigrations: () => Promise.resolve({ "0001-initial": kmsMigrations("sqlite")["0001-initial"]! }),
      },
      migrationTableName: "kms_migrations",
      migrationLockTableName: "kms_migrations_lock",
    });
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const exp = Date.now() + 60_000;
    await old
      .insertInto("nonces")
      .values([
        { access_key_id: "ak1", nonce: "used-before", expires_at: exp },
        { access_key_id: "ak2", nonce: "other", expires_at: exp },
      ])
      .execute();
    await old.destroy();

    const kdb = await openKmsDatabase({ dataDir: dir });
    try {
      const journal = new RequestJournal(kdb);
      assert.equal(await journal.reserveNonce("ak1", "used-before", exp), false);
      assert.equal(await journal.reserveNonce("ak2", "other", exp), false);
      assert.equal(await journal.reserveNonce("ak1", "new", exp), true);
      const tables = await kdb.db.introspection.getTables();
      assert.equal(
        tables.some((t) => t.name === "nonces"),
        false,
        "the old table is gone",
      );
    } finally {
      await kdb.close();
    }
  });
});
