import type Database from "better-sqlite3";

/**
 * Group commit for the SQLite store. better-sqlite3 runs a statement on the calling thread, so a commit
 * under `synchronous = FULL` holds the whole event loop for one fsync (1–3 ms on this machine's disk
 * under load): with one commit per write, every apiserver, plugin and KMS call in the process waits
 * behind the writes, and a rewrite of 32 Secrets in flight ran at ~150/s. Here the writes asked for in
 * one turn of the event loop run in one IMMEDIATE transaction, each inside its own savepoint
 * (better-sqlite3 nests a transaction function as a SAVEPOINT), so one fsync answers them all — what
 * etcd's backend batching and kine's do for the same reason.
 *
 * What a caller sees does not change: a write's promise settles only after the transaction holding it
 * has committed and, with `sync`, been made durable (the fsync runs on the thread pool, so the event
 * loop goes on serving — and committing the next batch — meanwhile); a write that fails (a conflict, a
 * key that exists) is rolled back to its savepoint and rejects alone, the others of its batch commit;
 * writes run in the order they were asked for, so a later write of the same key sees the earlier one.
 * If the commit itself fails, every write of the batch rejects and none of them is stored; if the sync
 * fails, every write of the batch rejects (stored, but not known to survive a power loss).
 */
export interface GroupCommitOptions {
  /** At most this many writes in one transaction (the rest go to the next one, at once). */
  readonly maxBatch?: number;
  /** Turns what a write or the commit threw into the store's error. */
  readonly mapError: (err: unknown) => Error;
  /** After each commit, before any write of it is answered (the store hands new rows to its watchers). */
  readonly afterCommit: (writes: number) => void;
  /** Makes a commit survive a power loss (fsync of the WAL); the batch is answered after it. */
  readonly sync?: () => Promise<void>;
}

interface Pending {
  readonly write: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Batches committed and waiting for their sync. */
  private readonly syncing = new Set<Promise<void>>();
  private readonly maxBatch: number;

  constructor(
    private readonly db: Database.Database,
    private readonly options: GroupCommitOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 256;
  }

  /** `write` runs inside the batch's transaction; it must be a `db.transaction(…)` function (a savepoint). */
  submit<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O callbacks of this turn: the writes their requests asked for join one batch.
        setImmediate(() => void this.flush());
      }
    });
  }

  /**
   * Commits everything queued now (the timer's job; `close` calls it so no queued write is lost);
   * settles once every batch committed so far has been answered.
   */
  async flush(): Promise<void> {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: Error }> = [];
      try {
        this.db
          .transaction(() => {
            for (const p of batch) {
              try {
                outcomes.push({ ok: true, value: p.write() });
              } catch (err) {
                outcomes.push({ ok: false, error: this.options.mapError(err) });
              }
            }
          })
          .immediate();
      } catch (err) {
        const error = this.options.mapError(err);
        for (const p of batch) p.reject(error);
        continue;
      }
      try {
        this.options.afterCommit(batch.length);
      } catch {
        // The writes are stored whatever the watchers' read did; the next poll hands the rows over.
      }
      const answer = (): void =>
        batch.forEach((p, i) => {
          const outcome = outcomes[i]!;
          if (outcome.ok) p.resolve(outcome.value);
          else p.reject(outcome.error);
        });
      if (this.options.sync === undefined) {
        answer();
        continue;
      }
      const synced = this.options.sync().then(answer, (err: unknown) => {
        const error = this.options.mapError(err);
        for (const p of batch) p.reject(error);
      });
      this.syncing.add(synced);
      void synced.finally(() => this.syncing.delete(synced));
    }
    await Promise.all(this.syncing);
  }
}
