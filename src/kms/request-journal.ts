import { ensureAuditHead, extendAuditChain, type AuditRecord } from "./audit-log.js";
import { GroupCommit } from "./group-commit.js";
import { sqliteJournalWriter, type JournalWriter } from "./journal-sqlite.js";
import { insertNonces, nonceReservation, purgeExpiredNonces, type NonceReservation } from "./nonces.js";
import type { KmsDb } from "./store/database.js";

type JournalEntry = { nonce: NonceReservation } | { audit: AuditRecord };

/**
 * What the request path writes: the nonce of each arriving request (replay protection, before its
 * action runs) and the audit record of each finished one (before its response is sent). Everything
 * submitted in one event-loop turn is written in one transaction (group commit), so a request costs a
 * share of one commit rather than two commits of its own; a promise settles only after its transaction
 * has committed, so nothing is acted on or answered before it is stored (on SQLite that commit survives
 * a process crash; see KmsDb.sync for a power loss).
 */
export class RequestJournal {
  readonly #kdb: KmsDb;
  readonly #batch: GroupCommit<JournalEntry, boolean>;
  /** SQLite: prepared statements (journal-sqlite.ts); PostgreSQL: Kysely (`#commitWithKysely`). */
  readonly #sqliteWriter: JournalWriter | undefined;
  #headReady = false;

  /** `writer: "kysely"` forces the portable writer on SQLite too (tests compare the two). */
  constructor(kdb: KmsDb, options: { writer?: "auto" | "kysely" } = {}) {
    this.#kdb = kdb;
    this.#sqliteWriter =
      kdb.sqlite !== undefined && options.writer !== "kysely" ? sqliteJournalWriter(kdb.sqlite) : undefined;
    this.#batch = new GroupCommit((entries) => this.#commit(entries), { maxBatch: 500 });
  }

  /** True when the nonce was not used before by this access key (it is now recorded until `expiresAt`). */
  reserveNonce(accessKeyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    return this.#batch.submit({ nonce: nonceReservation(accessKeyId, nonce, expiresAt) });
  }

  /** Resolves once the record is stored in the hash chain. */
  async appendAudit(record: AuditRecord): Promise<void> {
    await this.#batch.submit({ audit: record });
  }

  purgeExpiredNonces(now: number): Promise<number> {
    return purgeExpiredNonces(this.#kdb.db, now);
  }

  /** Resolves when everything submitted so far is committed (or has failed). */
  idle(): Promise<void> {
    return this.#batch.idle();
  }

  async #commit(entries: JournalEntry[]): Promise<boolean[]> {
    const nonces: NonceReservation[] = [];
    const records: AuditRecord[] = [];
    for (const e of entries) {
      if ("nonce" in e) nonces.push(e.nonce);
      else records.push(e.audit);
    }
    if (records.length > 0 && !this.#headReady) {
      await ensureAuditHead(this.#kdb.db);
      this.#headReady = true;
    }
    const writer = this.#sqliteWriter;
    const fresh =
      writer === undefined
        ? await this.#commitWithKysely(nonces, records)
        : // Holding Kysely's only connection: no Kysely transaction is open while the statements run.
          await this.#kdb.db.connection().execute(() => Promise.resolve(writer(nonces, records)));
    let n = 0;
    return entries.map((e) => ("nonce" in e ? fresh[n++] === true : true));
  }

  #commitWithKysely(nonces: NonceReservation[], records: AuditRecord[]): Promise<boolean[]> {
    return this.#kdb.db.transaction().execute(async (tx) => {
      const fresh = await insertNonces(tx, nonces);
      await extendAuditChain(tx, this.#kdb.dialect, records);
      return fresh;
    });
  }
}
