import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, it } from "node:test";
import { sql } from "kysely";
import { auditUsage, queryAuditEvents, verifyAuditChain, type AuditRecord } from "./audit-log.js";
import { RequestJournal } from "./request-journal.js";
import { openKmsDatabase, type KmsDb } from "./store/database.js";

function rec(i: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    eventTime: Date.UTC(2026, 0, 1 + (i % 2)) + i,
    requestId: `R${i}`,
    principal: i % 3 === 0 ? "ops" : "app",
    accessKeyId: "LTAIx",
    sourceIp: "127.0.0.1",
    action: i % 2 === 0 ? "Encrypt" : "Decrypt",
    keyId: "k1",
    keyVersionId: "v1",
    outcome: "Allowed",
    errorCode: "",
    clientUid: "",
    ...over,
  };
}

describe("AuditLog hash chain", () => {
  let dir: string;
  let kdb: KmsDb;
  let log: RequestJournal;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-audit-"));
    kdb = await openKmsDatabase({ dataDir: dir });
    log = new RequestJournal(kdb);
    await Promise.all(Array.from({ length: 10 }, (_, i) => log.appendAudit(rec(i + 1))));
  });
  afterEach(async () => {
    await kdb.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("verifies an intact chain and queries by filters", async () => {
    const r = await verifyAuditChain(kdb, 3);
    assert.deepEqual([r.ok, r.records], [true, 10]);
    assert.equal((await queryAuditEvents(kdb, { action: "Encrypt" })).length, 5);
    assert.equal((await queryAuditEvents(kdb, { principal: "ops" })).length, 3);
    assert.equal((await queryAuditEvents(kdb, { startMs: Date.UTC(2026, 0, 2) })).length, 5);
    const usage = await auditUsage(kdb, { pricePer10k: 1 });
    assert.deepEqual(
      usage.map((u) => [u.day, u.action, u.calls]),
      [
        ["2026-01-01", "Encrypt", 5],
        ["2026-01-02", "Decrypt", 5],
      ],
    );
  });

  it("detects an edited, a removed and a truncated record", async () => {
    await kdb.db.updateTable("audit_events").set({ key_id: "k2" }).where("seq", "=", 4).execute();
    let r = await verifyAuditChain(kdb);
    assert.equal(r.ok ? 0 : r.brokenSeq, 4);
    await kdb.db.updateTable("audit_events").set({ key_id: "k1" }).where("seq", "=", 4).execute();
    assert.equal((await verifyAuditChain(kdb)).ok, true);

    await kdb.db.deleteFrom("audit_events").where("seq", "=", 10).execute();
    r = await verifyAuditChain(kdb);
    assert.equal(r.ok ? 0 : r.brokenSeq, 10);

    await kdb.db.deleteFrom("audit_events").where("seq", "=", 6).execute();
    r = await verifyAuditChain(kdb);
    assert.equal(r.ok ? 0 : r.brokenSeq, 6);
  });

  it("keeps chaining after a reopen", async () => {
    await log.appendAudit(rec(11));
    const again = new RequestJournal(kdb);
    await again.appendAudit(rec(12));
    const r = await verifyAuditChain(kdb);
    assert.deepEqual([r.ok, r.records], [true, 12]);
  });

  it("a record's request count and forced flag are in its hash; records with the defaults hash as before", async () => {
    await log.appendAudit(
      rec(11, { requestCount: 7, errorCode: "SignatureDoesNotMatch", outcome: "Denied" }),
    );
    await log.appendAudit(rec(12, { forced: true }));
    assert.equal((await verifyAuditChain(kdb)).ok, true);
    const rows = await queryAuditEvents(kdb, {});
    assert.deepEqual(
      rows.slice(-3).map((r) => [Number(r.request_count), Number(r.forced)]),
      [
        [1, 0],
        [7, 0],
        [1, 1],
      ],
    );
    // A record written before the columns existed (migration 0003): the same 13 fields, the old hash.
    const last = rows[rows.length - 1]!;
    const { hash: _h, request_count: _c, forced: _f, ...old } = { ...last, seq: 13, prev_hash: last.hash };
    const oldHash = createHash("sha256")
      .update("atrest-kms-audit/v1\n")
      .update(
        JSON.stringify([
          old.seq,
          Number(old.event_time),
          old.request_id,
          old.principal,
          old.access_key_id,
          old.source_ip,
          old.action,
          old.key_id,
          old.key_version_id,
          old.outcome,
          old.error_code,
          old.client_uid,
          old.prev_hash,
        ]),
      )
      .digest("hex");
    await sql`insert into audit_events (seq, event_time, request_id, principal, access_key_id, source_ip, action,
      key_id, key_version_id, outcome, error_code, client_uid, prev_hash, hash)
      values (${old.seq}, ${Number(old.event_time)}, ${old.request_id}, ${old.principal}, ${old.access_key_id},
      ${old.source_ip}, ${old.action}, ${old.key_id}, ${old.key_version_id}, ${old.outcome}, ${old.error_code},
      ${old.client_uid}, ${old.prev_hash}, ${oldHash})`.execute(kdb.db);
    await kdb.db.updateTable("audit_head").set({ seq: 13, hash: oldHash }).where("id", "=", 1).execute();
    assert.deepEqual(await verifyAuditChain(kdb), { ok: true, records: 13, headHash: oldHash });
    // Editing the count (or the flag) of a record breaks the chain at it.
    await kdb.db.updateTable("audit_events").set({ request_count: 1 }).where("seq", "=", 11).execute();
    const broken = await verifyAuditChain(kdb);
    assert.equal(broken.ok ? 0 : broken.brokenSeq, 11);
    await kdb.db
      .updateTable("audit_events")
      .set({ request_count: 7, forced: 1 })
      .where("seq", "=", 11)
      .execute();
    assert.equal((await verifyAuditChain(kdb)).ok, false, "a forced flag set afterwards is detected");
    const usage = await auditUsage(kdb, { pricePer10k: 1 });
    assert.equal(
      usage.reduce((n, u) => n + u.calls, 0),
      13 + 6,
      "usage counts the requests a summary record stands for",
    );
  });
});
