import { createHash } from "node:crypto";
import type { Kysely, Selectable, Transaction } from "kysely";
import { AtrestError } from "../common/errors.js";
import type { DialectName, KmsDb } from "./store/database.js";
import type { AuditEventsTable, KmsDatabase } from "./store/schema.js";

/** What one request leaves in the audit trail. Never plaintext, ciphertext or key material. */
export interface AuditRecord {
  eventTime: number;
  requestId: string;
  principal: string;
  accessKeyId: string;
  sourceIp: string;
  action: string;
  keyId: string;
  keyVersionId: string;
  outcome: "Allowed" | "Denied" | "Failed";
  errorCode: string;
  clientUid: string;
  /** Requests this record stands for (default 1): a summary of refused attempts counts them all. */
  requestCount?: number;
  /** The action overrode a refusal (Force=true, e.g. a key in use by a cluster). */
  forced?: boolean;
}

export type AuditRow = Selectable<AuditEventsTable>;

export const GENESIS_HASH = "0".repeat(64);

/**
 * The canonical serialisation each record's hash covers: a JSON array of the fields in this fixed
 * order, prefixed by the previous record's hash. Never change it (old chains must keep verifying).
 * `request_count` and `forced` (added later) are appended only when either differs from its default
 * (1, 0), so every record without them hashes exactly as records did before they existed.
 */
export function auditHash(row: Omit<AuditRow, "hash">): string {
  const fields: unknown[] = [
    row.seq,
    row.event_time,
    row.request_id,
    row.principal,
    row.access_key_id,
    row.source_ip,
    row.action,
    row.key_id,
    row.key_version_id,
    row.outcome,
    row.error_code,
    row.client_uid,
    row.prev_hash,
  ];
  const requestCount = Number(row.request_count);
  const forced = Number(row.forced);
  if (requestCount !== 1 || forced !== 0) fields.push(requestCount, forced);
  return createHash("sha256").update("atrest-kms-audit/v1\n").update(JSON.stringify(fields)).digest("hex");
}

/** Creates the chain head row if this store has none yet (idempotent; run once before the first append). */
export async function ensureAuditHead(db: Kysely<KmsDatabase>): Promise<void> {
  await db
    .insertInto("audit_head")
    .values({ id: 1, seq: 0, hash: GENESIS_HASH })
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
}

export interface AuditHead {
  seq: number;
  hash: string;
}

/** Links records after `head`: their stored rows and the new head. Pure; both writers use it. */
export function chainAuditRows(
  head: AuditHead,
  records: readonly AuditRecord[],
): { rows: AuditRow[]; head: AuditHead } {
  let seq = Number(head.seq);
  let prev = head.hash;
  const rows = records.map((r): AuditRow => {
    seq += 1;
    const base = {
      seq,
      event_time: r.eventTime,
      request_id: r.requestId,
      principal: r.principal,
      access_key_id: r.accessKeyId,
      source_ip: r.sourceIp,
      action: r.action,
      key_id: r.keyId,
      key_version_id: r.keyVersionId,
      outcome: r.outcome,
      error_code: r.errorCode,
      client_uid: r.clientUid,
      request_count: r.requestCount ?? 1,
      forced: r.forced === true ? 1 : 0,
      prev_hash: prev,
    };
    const hash = auditHash(base);
    prev = hash;
    return { ...base, hash };
  });
  return { rows, head: { seq, hash: prev } };
}

/**
 * Appends records to the hash chain inside the caller's transaction: reads the head (locked with
 * PostgreSQL, so several instances extend one chain), links each record to the one before it, and
 * moves the head. The records are stored when the transaction commits, or not at all.
 */
export async function extendAuditChain(
  tx: Transaction<KmsDatabase>,
  dialect: DialectName,
  records: readonly AuditRecord[],
): Promise<void> {
  if (records.length === 0) return;
  let q = tx.selectFrom("audit_head").select(["seq", "hash"]).where("id", "=", 1);
  if (dialect === "postgres") q = q.forUpdate();
  const chained = chainAuditRows(await q.executeTakeFirstOrThrow(), records);
  await tx.insertInto("audit_events").values(chained.rows).execute();
  await tx.updateTable("audit_head").set(chained.head).where("id", "=", 1).execute();
}

export interface AuditQuery {
  startMs?: number;
  endMs?: number;
  action?: string;
  principal?: string;
  keyId?: string;
  limit?: number;
}

export async function queryAuditEvents(kdb: KmsDb, q: AuditQuery): Promise<AuditRow[]> {
  let s = kdb.db.selectFrom("audit_events").selectAll();
  if (q.startMs !== undefined) s = s.where("event_time", ">=", q.startMs);
  if (q.endMs !== undefined) s = s.where("event_time", "<", q.endMs);
  if (q.action !== undefined) s = s.where("action", "=", q.action);
  if (q.principal !== undefined) s = s.where("principal", "=", q.principal);
  if (q.keyId !== undefined) s = s.where("key_id", "=", q.keyId);
  return s
    .orderBy("seq")
    .limit(q.limit ?? 10_000)
    .execute();
}

export type AuditVerification =
  | { ok: true; records: number; headHash: string }
  | { ok: false; records: number; brokenSeq: number; reason: string };

/**
 * Re-computes the chain from the first record up to the chain head read at the start (so records
 * appended meanwhile by a running server do not disturb it); names the first record that does not
 * verify. A record removed at the end is caught by the head, which stores the last hash and count.
 */
export async function verifyAuditChain(kdb: KmsDb, pageSize = 5000): Promise<AuditVerification> {
  const head = await kdb.db
    .selectFrom("audit_head")
    .select(["seq", "hash"])
    .where("id", "=", 1)
    .executeTakeFirst();
  const headSeq = head === undefined ? 0 : Number(head.seq);
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  while (expectedSeq <= headSeq) {
    const rows = await kdb.db
      .selectFrom("audit_events")
      .selectAll()
      .where("seq", ">=", expectedSeq)
      .where("seq", "<=", headSeq)
      .orderBy("seq")
      .limit(pageSize)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq !== expectedSeq)
        return {
          ok: false,
          records: count,
          brokenSeq: expectedSeq,
          reason: `record ${expectedSeq} is missing`,
        };
      if (row.prev_hash !== prev)
        return {
          ok: false,
          records: count,
          brokenSeq: seq,
          reason: `record ${seq} does not link to record ${seq - 1}`,
        };
      const { hash, ...rest } = row;
      if (auditHash({ ...rest, seq, event_time: Number(row.event_time) }) !== hash) {
        return {
          ok: false,
          records: count,
          brokenSeq: seq,
          reason: `record ${seq} was modified (hash mismatch)`,
        };
      }
      prev = hash;
      expectedSeq += 1;
      count += 1;
    }
  }
  if (count !== headSeq)
    return {
      ok: false,
      records: count,
      brokenSeq: count + 1,
      reason: `record ${count + 1} is missing (the chain head says ${headSeq} records)`,
    };
  if (head !== undefined && head.hash !== prev) {
    return {
      ok: false,
      records: count,
      brokenSeq: headSeq,
      reason: `record ${headSeq} does not match the chain head`,
    };
  }
  if (head === undefined) {
    const any = await kdb.db.selectFrom("audit_events").select("seq").limit(1).executeTakeFirst();
    if (any !== undefined)
      return {
        ok: false,
        records: 0,
        brokenSeq: Number(any.seq),
        reason: "audit records exist but the chain head is missing",
      };
  }
  return { ok: true, records: count, headHash: prev };
}

export interface UsageRow {
  day: string;
  keyId: string;
  action: string;
  calls: number;
  estimatedCost: number;
}

/** Calls per key, action and UTC day; cost = calls / 10,000 × pricePer10k. */
export async function auditUsage(
  kdb: KmsDb,
  options: { pricePer10k: number; startMs?: number; endMs?: number },
): Promise<UsageRow[]> {
  if (!(options.pricePer10k >= 0))
    throw new AtrestError("invalid-argument", "--price-per-10k: must be a non-negative number");
  const rows = await queryAuditEvents(kdb, {
    ...(options.startMs === undefined ? {} : { startMs: options.startMs }),
    ...(options.endMs === undefined ? {} : { endMs: options.endMs }),
    limit: Number.MAX_SAFE_INTEGER,
  });
  const counts = new Map<string, UsageRow>();
  for (const r of rows) {
    const day = new Date(Number(r.event_time)).toISOString().slice(0, 10);
    const k = `${day}\0${r.key_id}\0${r.action}`;
    const u = counts.get(k) ?? { day, keyId: r.key_id, action: r.action, calls: 0, estimatedCost: 0 };
    u.calls += Number(r.request_count);
    counts.set(k, u);
  }
  const out = [...counts.values()].sort(
    (a, b) =>
      a.day.localeCompare(b.day) || a.keyId.localeCompare(b.keyId) || a.action.localeCompare(b.action),
  );
  for (const u of out) u.estimatedCost = Math.round((u.calls / 10_000) * options.pricePer10k * 1e6) / 1e6;
  return out;
}
