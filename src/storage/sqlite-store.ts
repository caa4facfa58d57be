import Database from "better-sqlite3";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { AtrestError } from "../common/errors.js";
import { prefixEnd } from "./prefix-end.js";
import { fsyncFile } from "../common/fsync-file.js";
import { startWalCheckpointer, type WalCheckpointer } from "../common/sqlite-wal-checkpointer.js";
import { GroupCommit } from "./sqlite-group-commit.js";
import type { KeyValue, ListOptions, ListResult, Store, Watch, WatchEvent, WatchHandlers } from "./store.js";
import {
  alreadyExistsError,
  checkKey,
  checkLimit,
  checkRevision,
  closedError,
  compactedError,
  conflictError,
  futureRevisionError,
  deliverWatchEvent,
  notFoundError,
  settle,
} from "./store-errors.js";

/**
 * The Store on an embedded SQLite file, the way kine gives k3s an etcd on SQLite: one append-only table
 * of rows whose AUTOINCREMENT id is the revision (kine's columns under our own table name, so a k3s
 * database is never mistaken for ours). The newest row of a key is its current state (a row
 * with deleted = 1 is a tombstone), history is the older rows, compaction deletes superseded rows.
 * Watches read new rows after the last revision they delivered: immediately after a local write, and
 * by polling for writes made by other processes on the same file.
 */
export interface SqliteStoreOptions {
  /** Absolute path of the database file (created when missing). */
  readonly path: string;
  /** How often watches look for rows written by other processes (default 100 ms). */
  readonly pollIntervalMs?: number;
  /** SQLite `synchronous` in WAL mode: FULL (default) survives power loss, NORMAL only process crashes. */
  readonly synchronous?: "FULL" | "NORMAL";
}

interface Row {
  id: number;
  name: Buffer;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: Buffer | null;
  old_value: Buffer | null;
}

interface Subscriber {
  readonly prefix: Buffer;
  readonly handlers: WatchHandlers;
  /** Only events after this revision (a watch may start in the future). */
  readonly after: number;
  readonly queue: WatchEvent[];
  /** Delivered after the queued events; the watch is over. */
  pendingError?: AtrestError;
  scheduled: boolean;
  cancelled: boolean;
}

const TABLE = "atrest_kv";
const SCHEMA = `
CREATE TABLE IF NOT EXISTS atrest_kv (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name BLOB NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value BLOB,
  old_value BLOB
);
CREATE INDEX IF NOT EXISTS atrest_kv_name_id_index ON atrest_kv (name, id);
CREATE UNIQUE INDEX IF NOT EXISTS atrest_kv_name_prev_revision_uindex ON atrest_kv (name, prev_revision);
CREATE TABLE IF NOT EXISTS atrest_kv_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;
/** Rows store create_revision = 0 when they create the key; the key's create revision is then their id. */
const COLUMNS =
  "id, name, created, deleted, CASE WHEN created = 1 THEN id ELSE create_revision END AS create_revision, prev_revision, value, old_value";

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly pollIntervalMs: number;
  private readonly subscribers = new Set<Subscriber>();
  /** The last revision whose rows were handed to the subscribers. */
  private dispatched = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Writes of one event-loop turn share a transaction (one fsync); see sqlite-group-commit.ts. */
  private readonly commits: GroupCommit;
  private readonly checkpointer: WalCheckpointer;
  private readonly stmt: {
    latest: Database.Statement<[Buffer], Row>;
    insert: Database.Statement<[Buffer, number, number, number, number, Buffer | null, Buffer | null]>;
    revision: Database.Statement<[], { seq: number }>;
    compactRevision: Database.Statement<[], { value: number }>;
    rowsAfter: Database.Statement<[number], Row>;
    rowsBetween: Database.Statement<[number, number], Row>;
  };

  constructor(options: SqliteStoreOptions) {
    if (!options.path.startsWith("/")) {
      throw new AtrestError("invalid-argument", `SQLite path "${options.path}" must be absolute`, {
        details: { path: options.path },
      });
    }
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    try {
      // The file holds every Secret (in the clear under the identity provider): owner-only from the
      // start; SQLite gives its -wal and -shm files the same mode.
      mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
      closeSync(openSync(options.path, "a", 0o600));
      this.db = new Database(options.path);
      this.db.pragma("journal_mode = WAL");
      // Commits do not fsync on the event loop: FULL's durability comes from the group commit's fsync
      // of the WAL on the thread pool before a write is answered; checkpoints (which fsync the database
      // file) run on a worker thread, not inside a commit.
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("wal_autocheckpoint = 0");
      this.db.pragma("busy_timeout = 5000");
      // One writer at a time sets the schema up (two processes may open a new file together).
      this.db
        .transaction(() => {
          this.db.exec(SCHEMA);
          // Like etcd, an empty store is at revision 1 (a list never reports 0, which means "any").
          this.db
            .prepare(
              "INSERT INTO sqlite_sequence (name, seq) SELECT ?, 1 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
            )
            .run(TABLE, TABLE);
        })
        .immediate();
    } catch (err) {
      throw new AtrestError(
        "unavailable",
        `cannot open SQLite store at "${options.path}": ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.stmt = {
      latest: this.db.prepare(`SELECT ${COLUMNS} FROM atrest_kv WHERE name = ? ORDER BY id DESC LIMIT 1`),
      insert: this.db.prepare(
        "INSERT INTO atrest_kv (name, created, deleted, create_revision, prev_revision, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      revision: this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'atrest_kv'"),
      compactRevision: this.db.prepare("SELECT value FROM atrest_kv_meta WHERE key = 'compact_revision'"),
      rowsAfter: this.db.prepare(`SELECT ${COLUMNS} FROM atrest_kv WHERE id > ? ORDER BY id`),
      rowsBetween: this.db.prepare(`SELECT ${COLUMNS} FROM atrest_kv WHERE id > ? AND id <= ? ORDER BY id`),
    };
    this.dispatched = this.revisionNow();
    this.checkpointer = startWalCheckpointer(options.path);
    const wal = `${options.path}-wal`;
    this.commits = new GroupCommit(this.db, {
      mapError: (err) => this.writeError(err),
      ...((options.synchronous ?? "FULL") === "FULL" ? { sync: () => fsyncFile(wal) } : {}),
      afterCommit: () => {
        if (this.subscribers.size > 0) this.poll();
      },
    });
  }

  currentRevision(): Promise<number> {
    return settle(() => {
      this.checkOpen();
      return this.revisionNow();
    });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      const row = this.stmt.latest.get(Buffer.from(key, "utf8"));
      return row === undefined || row.deleted === 1 ? undefined : rowKeyValue(row);
    });
  }

  list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    return settle(() => {
      this.checkOpen();
      const limit = options.limit ?? 0;
      const revision = options.revision ?? 0;
      checkLimit(limit);
      checkRevision(revision, "revision");
      const prefixBytes = Buffer.from(prefix, "utf8");
      const end =
        prefixBytes.length === 0 || prefixEnd(prefixBytes).equals(Buffer.from([0]))
          ? undefined
          : prefixEnd(prefixBytes);
      const after = options.startAfter === undefined ? undefined : Buffer.from(options.startAfter, "utf8");
      // One read transaction: the revision, the compact check and the rows agree.
      const read = this.db.transaction((): ListResult => {
        const current = this.revisionNow();
        if (revision > current) throw futureRevisionError("list", revision, current);
        const compacted = this.compactRevisionNow();
        if (revision !== 0 && revision < compacted) throw compactedError(revision, compacted);
        const at = revision === 0 ? current : revision;
        const where = ["name >= ?", "id <= ?"];
        const params: Array<Buffer | number> = [prefixBytes, at];
        if (end !== undefined) {
          where.push("name < ?");
          params.push(end);
        }
        if (after !== undefined) {
          where.push("name > ?");
          params.push(after);
        }
        // The newest row of each key at the revision (tombstones: the key did not exist then). Walking the
        // (name, id) index in name order lets LIMIT stop the scan early.
        params.push(at);
        let sql =
          `SELECT ${COLUMNS} FROM atrest_kv WHERE ${where.join(" AND ")} AND deleted = 0 ` +
          `AND id = (SELECT MAX(k2.id) FROM atrest_kv k2 WHERE k2.name = atrest_kv.name AND k2.id <= ?) ORDER BY name`;
        if (limit > 0) {
          sql += " LIMIT ?";
          params.push(limit + 1);
        }
        const rows = this.db.prepare<Array<Buffer | number>, Row>(sql).all(...params);
        const more = limit > 0 && rows.length > limit;
        return { items: (more ? rows.slice(0, limit) : rows).map(rowKeyValue), revision: at, more };
      });
      return read.deferred();
    });
  }

  create(key: string, value: Uint8Array): Promise<KeyValue> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      const name = Buffer.from(key, "utf8");
      const bytes = Buffer.from(value);
      const write = this.db.transaction((): KeyValue => {
        const latest = this.stmt.latest.get(name);
        if (latest !== undefined && latest.deleted === 0) throw alreadyExistsError(key);
        const id = Number(this.stmt.insert.run(name, 1, 0, 0, latest?.id ?? 0, bytes, null).lastInsertRowid);
        return { key, value: Buffer.from(bytes), modRevision: id, createRevision: id };
      });
      return this.commits.submit(write);
    });
  }

  update(key: string, value: Uint8Array, expectedModRevision: number): Promise<KeyValue> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      checkRevision(expectedModRevision, "expectedModRevision");
      const name = Buffer.from(key, "utf8");
      const bytes = Buffer.from(value);
      const write = this.db.transaction((): KeyValue => {
        const latest = this.current(key, name, expectedModRevision);
        const id = Number(
          this.stmt.insert.run(name, 0, 0, latest.create_revision, latest.id, bytes, latest.value)
            .lastInsertRowid,
        );
        return { key, value: Buffer.from(bytes), modRevision: id, createRevision: latest.create_revision };
      });
      return this.commits.submit(write);
    });
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      if (expectedModRevision !== undefined) checkRevision(expectedModRevision, "expectedModRevision");
      const name = Buffer.from(key, "utf8");
      const write = this.db.transaction((): KeyValue => {
        const latest = this.current(key, name, expectedModRevision);
        this.stmt.insert.run(name, 0, 1, latest.create_revision, latest.id, null, latest.value);
        return rowKeyValue(latest);
      });
      return this.commits.submit(write);
    });
  }

  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    return settle(() => {
      this.checkOpen();
      checkRevision(fromRevision, "fromRevision");
      // Hand out what is already written to the existing watchers first, so the new one starts cleanly
      // at `dispatched` and gets everything after it from the live feed.
      this.poll();
      const sub: Subscriber = {
        prefix: Buffer.from(prefix, "utf8"),
        handlers,
        after: fromRevision,
        queue: [],
        scheduled: false,
        cancelled: false,
      };
      if (fromRevision !== 0) {
        const history = this.db.transaction((): Row[] => {
          const compacted = this.compactRevisionNow();
          // Like etcd: the watch needs events from fromRevision + 1 on.
          if (fromRevision + 1 < compacted) throw compactedError(fromRevision, compacted);
          return fromRevision < this.dispatched
            ? this.stmt.rowsBetween.all(fromRevision, this.dispatched)
            : [];
        });
        for (const row of history.deferred()) {
          if (hasPrefix(row.name, sub.prefix)) sub.queue.push(rowEvent(row));
        }
      }
      this.subscribers.add(sub);
      this.schedule(sub);
      this.startPolling();
      return {
        cancel: () => {
          sub.cancelled = true;
          this.subscribers.delete(sub);
          if (this.subscribers.size === 0) this.stopPolling();
          return Promise.resolve();
        },
      };
    });
  }

  compact(revision: number): Promise<void> {
    return settle(() => {
      this.checkOpen();
      checkRevision(revision, "revision");
      // This process's watchers get every row before it may go.
      this.poll();
      const run = this.db.transaction(() => {
        const current = this.revisionNow();
        if (revision > current) throw futureRevisionError("compaction", revision, current);
        if (revision <= this.compactRevisionNow()) return;
        // Rows superseded by a newer row of the same key at or before the revision: history no one may
        // read any more. Then tombstones before it: the key's absence needs no row. The rows at the
        // revision itself stay, so a watch may still start right after it (as in etcd).
        this.db
          .prepare(
            "DELETE FROM atrest_kv WHERE id < ? AND id < (SELECT MAX(k2.id) FROM atrest_kv k2 WHERE k2.name = atrest_kv.name AND k2.id <= ?)",
          )
          .run(revision, revision);
        this.db.prepare("DELETE FROM atrest_kv WHERE deleted = 1 AND id < ?").run(revision);
        this.db
          .prepare(
            "INSERT INTO atrest_kv_meta (key, value) VALUES ('compact_revision', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          )
          .run(revision);
      });
      run.immediate();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Writes already asked for are committed (and answered) before the file closes.
    await this.commits.flush();
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    for (const sub of this.subscribers) sub.cancelled = true;
    this.subscribers.clear();
    await this.checkpointer.stop();
    this.db.close();
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }

  private revisionNow(): number {
    return this.stmt.revision.get()?.seq ?? 0;
  }

  private compactRevisionNow(): number {
    return this.stmt.compactRevision.get()?.value ?? 0;
  }

  /** The key's live row, checked against the expected revision (inside the write transaction). */
  private current(key: string, name: Buffer, expectedModRevision: number | undefined): Row {
    const latest = this.stmt.latest.get(name);
    if (latest === undefined || latest.deleted === 1) throw notFoundError(key);
    if (expectedModRevision !== undefined && latest.id !== expectedModRevision)
      throw conflictError(key, latest.id, expectedModRevision);
    return latest;
  }

  /** A write's failure as the store's error (what better-sqlite3 threw, mapped to its kind). */
  private writeError(err: unknown): Error {
    if (err instanceof AtrestError) return err;
    const code = (err as { code?: string }).code ?? "";
    if (code.startsWith("SQLITE_BUSY"))
      return new AtrestError("unavailable", "SQLite store is busy; retry", { cause: err });
    // The (name, prev_revision) unique index: another process wrote the same key first.
    if (code === "SQLITE_CONSTRAINT_UNIQUE")
      return new AtrestError("conflict", "the key was modified concurrently", { cause: err });
    return new AtrestError("internal", `SQLite write failed: ${(err as Error).message}`, { cause: err });
  }

  /** Reads rows after the last dispatched revision and hands them to the watchers, in order. */
  private poll(): void {
    if (this.closed) return;
    const read = this.db.transaction(() => ({
      rows: this.stmt.rowsAfter.all(this.dispatched),
      compacted: this.compactRevisionNow(),
    }));
    const { rows, compacted } = read.deferred();
    if (compacted > this.dispatched + 1) {
      // Another process compacted rows this one had not delivered yet: its watchers would miss events,
      // so they end with "gone" (clients list again), as etcd does for a watcher that fell behind.
      for (const sub of this.subscribers) {
        sub.pendingError = compactedError(this.dispatched, compacted);
        this.schedule(sub);
      }
      this.subscribers.clear();
      this.stopPolling();
      if (rows.length === 0) this.dispatched = compacted - 1;
    }
    if (rows.length === 0) return;
    this.dispatched = rows[rows.length - 1]!.id;
    if (this.subscribers.size === 0) return;
    for (const row of rows) {
      const event = rowEvent(row);
      for (const sub of this.subscribers) {
        if (row.id > sub.after && hasPrefix(row.name, sub.prefix)) sub.queue.push(event);
      }
    }
    for (const sub of this.subscribers) this.schedule(sub);
  }

  private startPolling(): void {
    if (this.pollTimer !== undefined) return;
    this.pollTimer = setInterval(() => {
      try {
        this.poll();
      } catch (err) {
        for (const sub of this.subscribers) {
          sub.pendingError = new AtrestError("unavailable", "SQLite watch poll failed", { cause: err });
          this.schedule(sub);
        }
        this.subscribers.clear();
        this.stopPolling();
      }
    }, this.pollIntervalMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Events are delivered asynchronously and in order, never from inside the write call. */
  private schedule(sub: Subscriber): void {
    if (sub.scheduled || (sub.queue.length === 0 && sub.pendingError === undefined)) return;
    sub.scheduled = true;
    queueMicrotask(() => {
      sub.scheduled = false;
      while (!sub.cancelled && sub.queue.length > 0) {
        if (!deliverWatchEvent(sub.handlers, sub.queue.shift()!)) {
          sub.cancelled = true;
          this.subscribers.delete(sub);
        }
      }
      if (!sub.cancelled && sub.pendingError !== undefined) {
        sub.cancelled = true;
        sub.handlers.onError(sub.pendingError);
      }
    });
  }
}

function hasPrefix(name: Buffer, prefix: Buffer): boolean {
  return name.length >= prefix.length && name.subarray(0, prefix.length).equals(prefix);
}

function rowKeyValue(row: Row): KeyValue {
  return {
    key: row.name.toString("utf8"),
    value: Buffer.from(row.value ?? Buffer.alloc(0)),
    modRevision: row.id,
    createRevision: row.create_revision,
  };
}

function rowEvent(row: Row): WatchEvent {
  const key = row.name.toString("utf8");
  const prevKv: KeyValue | undefined =
    row.created === 1 || row.prev_revision === 0
      ? undefined
      : {
          key,
          value: Buffer.from(row.old_value ?? Buffer.alloc(0)),
          modRevision: row.prev_revision,
          createRevision: row.create_revision,
        };
  if (row.deleted === 1) {
    return prevKv
      ? { type: "delete", key, modRevision: row.id, prevKv }
      : { type: "delete", key, modRevision: row.id };
  }
  const kv = rowKeyValue(row);
  return prevKv ? { type: "put", kv, prevKv } : { type: "put", kv };
}

/** `sqlite:///abs/path.db` (kine's --datastore-endpoint form) → `/abs/path.db`. */
export function sqlitePathFromUrl(url: string): string {
  const m = /^sqlite:\/\/(\/[^?#]*)(?:[?#].*)?$/.exec(url);
  if (m === null || m[1] === undefined || m[1] === "/") {
    throw new AtrestError(
      "invalid-argument",
      `datastore endpoint "${url}" must look like sqlite:///absolute/path.db`,
      { details: { url } },
    );
  }
  return decodeURIComponent(m[1]);
}
