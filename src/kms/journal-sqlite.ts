import type Database from "better-sqlite3";
import { chainAuditRows, type AuditHead, type AuditRecord, type AuditRow } from "./audit-log.js";
import type { NonceReservation } from "./nonces.js";

export type JournalWriter = (
  nonces: readonly NonceReservation[],
  records: readonly AuditRecord[],
) => boolean[];

const AUDIT_COLUMNS = [
  "seq",
  "event_time",
  "request_id",
  "principal",
  "access_key_id",
  "source_ip",
  "action",
  "key_id",
  "key_version_id",
  "outcome",
  "error_code",
  "client_uid",
  "request_count",
  "forced",
  "prev_hash",
  "hash",
] as const satisfies ReadonlyArray<keyof AuditRow>;

/**
 * The journal's commit for SQLite as prepared statements in one synchronous IMMEDIATE transaction: the
 * same rows as the Kysely writer (request-journal.ts), without building and compiling queries per
 * batch — on the request path that costs more than SQLite itself. The caller must hold Kysely's
 * connection while it runs.
 */
export function sqliteJournalWriter(sqlite: Database.Database): JournalWriter {
  const insertNonce = sqlite.prepare(
    "INSERT INTO nonce_digests (digest, expires_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING",
  );
  const readHead = sqlite.prepare("SELECT seq, hash FROM audit_head WHERE id = 1");
  const insertEvent = sqlite.prepare(
    `INSERT INTO audit_events (${AUDIT_COLUMNS.join(", ")}) VALUES (${AUDIT_COLUMNS.map(() => "?").join(", ")})`,
  );
  const moveHead = sqlite.prepare("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1");
  const commit = sqlite.transaction(
    (nonces: readonly NonceReservation[], records: readonly AuditRecord[]): boolean[] => {
      // A nonce repeated inside the batch is fresh only for its first use: its second insert changes nothing.
      const fresh = nonces.map((n) => insertNonce.run(n.digest, n.expiresAt).changes === 1);
      if (records.length > 0) {
        const head = readHead.get() as AuditHead | undefined;
        if (head === undefined) throw new Error("audit chain head is missing");
        const chained = chainAuditRows(head, records);
        for (const row of chained.rows) insertEvent.run(AUDIT_COLUMNS.map((c) => row[c]));
        moveHead.run(chained.head.seq, chained.head.hash);
      }
      return fresh;
    },
  );
  return (nonces, records) => commit.immediate(nonces, records);
}
