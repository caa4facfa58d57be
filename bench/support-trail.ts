/**
 * The synthetic KMS audit trail the LookupEvents benchmarks query (identity.ts, control-plane.ts):
 * `records` calls spread over the last 6 days (inside LookupEvents' default 7-day window), written
 * straight into the KMS's SQLite database before the KMS starts, as one hash chain (chainAuditRows,
 * the KMS's own linking; verifyAuditChain checks it). 5% are calls of AliyunCSManagedSecurityRole's
 * sessions (Encrypt/Decrypt, 1 in 500 of them GenerateDataKey), 1 in 5000 a rarely used role's, the
 * rest 50 RAM users' (Encrypt, Decrypt, DescribeKey, ListKeys). Deterministic but for request ids,
 * so runs compare. run.ts skips support-* files.
 */
import { randomUUID } from "node:crypto";
import { chainAuditRows, ensureAuditHead, type AuditRecord } from "../src/kms/audit-log.js";
import { openKmsDatabase } from "../src/kms/store/database.js";

/** The service role of the seed documents (the console spells it in lower case). */
export const TRAIL_ROLE = "AliyunCSManagedSecurityRole";
export const TRAIL_RARE_ROLE = "rarely-used-role";
/** How far back the trail reaches from its start time. */
export const TRAIL_WINDOW_MS = 6 * 86_400_000;

/** The i-th of `records` records of the trail starting at `startMs`. */
export function trailRecord(i: number, records: number, startMs: number, keyId: string): AuditRecord {
  const eventTime = startMs + Math.floor((i * TRAIL_WINDOW_MS) / records);
  const base = {
    eventTime,
    requestId: randomUUID().toUpperCase(),
    sourceIp: "127.0.0.1",
    keyId,
    keyVersionId: "",
    outcome: "Allowed" as const,
    errorCode: "",
    clientUid: "",
  };
  if (i % 20 === 0 || i % 5000 === 1) {
    const role = i % 20 === 0 ? TRAIL_ROLE : TRAIL_RARE_ROLE;
    const session = `cluster-${i % 7}`;
    const action = i % 10_000 === 0 ? "GenerateDataKey" : i % 40 === 0 ? "Encrypt" : "Decrypt";
    return {
      ...base,
      principal: role,
      accessKeyId: `STS.bench${String(i % 7).padStart(20, "0")}`,
      action,
      identityType: "assumed-role",
      principalId: `3${String(i % 3).padStart(18, "0")}:${session}`,
      userName: `${role}:${session}`,
      sessionCreatedAt: eventTime - 600_000,
    };
  }
  const user = `user-${i % 50}`;
  return {
    ...base,
    principal: user,
    accessKeyId: `LTAI${String(i % 50).padStart(20, "0")}`,
    action: ["Encrypt", "Decrypt", "DescribeKey", "ListKeys"][i % 4]!,
    ...(i % 4 === 3 ? { keyId: "" } : {}),
    identityType: "ram-user",
    principalId: `2${String(i % 50).padStart(18, "0")}`,
    userName: user,
  };
}

/**
 * Writes the trail into the KMS data dir's SQLite database (the KMS must not be running), chained
 * onto its audit head, 10,000 records per transaction; resolves to the milliseconds it took.
 */
export async function writeTrail(
  dataDir: string,
  keyId: string,
  startMs: number,
  records: number,
): Promise<number> {
  const kdb = await openKmsDatabase({ dataDir, migrate: true });
  const t0 = performance.now();
  try {
    await ensureAuditHead(kdb.db);
    const sqlite = kdb.sqlite;
    if (sqlite === undefined) throw new Error("the bench writes a SQLite store");
    let head = sqlite.prepare("SELECT seq, hash FROM audit_head WHERE id = 1").get() as {
      seq: number;
      hash: string;
    };
    const columns = Object.keys(chainAuditRows(head, [trailRecord(0, records, startMs, keyId)]).rows[0]!);
    const insert = sqlite.prepare(
      `INSERT INTO audit_events (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`,
    );
    const setHead = sqlite.prepare("UPDATE audit_head SET seq = @seq, hash = @hash WHERE id = 1");
    const batch = sqlite.transaction((rows: Record<string, unknown>[], next: typeof head) => {
      for (const r of rows) insert.run(r);
      setHead.run(next);
    });
    for (let from = 0; from < records; from += 10_000) {
      const chunk: AuditRecord[] = [];
      for (let i = from; i < Math.min(records, from + 10_000); i++)
        chunk.push(trailRecord(i, records, startMs, keyId));
      const chained = chainAuditRows(head, chunk);
      batch(chained.rows, chained.head);
      head = chained.head;
    }
    return performance.now() - t0;
  } finally {
    await kdb.close();
  }
}
