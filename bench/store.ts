/**
 * `npm run bench -- store`: raw Store throughput (create, get, list) of 1 KiB values with concurrent
 * callers, on SQLite, on a real single-member etcd and in memory — each beside its baseline in the same
 * run: the bare client (better-sqlite3 statements on a plain key/value table; etcd3 put/get).
 */
import Database from "better-sqlite3";
import { Etcd3 } from "etcd3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { MemoryStore } from "../src/storage/memory-store.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import type { Store } from "../src/storage/store.js";
import { startEtcd } from "../test/support/etcd.js";

const VALUE = Buffer.alloc(1024, 0x61);
const CONCURRENCY = 16;

interface OpStats {
  ops: number;
  seconds: number;
  opsPerSec: number;
}

async function measure(ops: number, fn: (i: number) => Promise<unknown>): Promise<OpStats> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= ops) return;
        await fn(i);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { ops, seconds: round(seconds), opsPerSec: Math.round(ops / seconds) };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function storeOps(store: Store, n: number, tag: string): Promise<Record<string, OpStats>> {
  const key = (i: number): string => `/registry/secrets/bench-${tag}/s${String(i).padStart(6, "0")}`;
  const create = await measure(n, (i) => store.create(key(i), VALUE));
  const get = await measure(n, (i) => store.get(key(i)));
  const pages = Math.max(1, Math.floor(n / 500));
  const list = await measure(pages * 4, () => store.list(`/registry/secrets/bench-${tag}/`, { limit: 500 }));
  return { create, get, list500: list };
}

export async function run(): Promise<Record<string, unknown>> {
  const n = Number(process.env.ATREST_BENCH_STORE_OPS ?? 2000);
  const results: Record<string, unknown> = { valueBytes: VALUE.length, concurrency: CONCURRENCY, ops: n };

  // SQLite: the store beside bare better-sqlite3 statements (same file settings: WAL, synchronous FULL).
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-store-"));
  try {
    const sqlite = new SqliteStore({ path: join(dir, "store.db") });
    results.sqlite = await storeOps(sqlite, n, "sqlite");
    await sqlite.close();
    const db = new Database(join(dir, "baseline.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB)");
    const ins = db.prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
    const sel = db.prepare("SELECT v FROM kv WHERE k = ?");
    const key = (i: number): Buffer => Buffer.from(`/registry/secrets/base/s${String(i).padStart(6, "0")}`);
    results.sqliteBaseline = {
      insert: await measure(n, (i) => Promise.resolve(ins.run(key(i), VALUE))),
      select: await measure(n, (i) => Promise.resolve(sel.get(key(i)))),
    };
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // etcd: the store beside the bare etcd3 client on the same member.
  const etcd = await startEtcd();
  try {
    const client = new Etcd3({ hosts: etcd.endpoints });
    // A fresh etcd is slow for its first thousands of writes (it grows its files); warm it up first so
    // neither side of the comparison pays for that.
    await measure(n, (i) => client.put(`/warmup/${i}`).value(VALUE).exec());
    const store = new EtcdStore({ endpoints: etcd.endpoints });
    results.etcd = await storeOps(store, n, "etcd");
    await store.close();
    const key = (i: number): string => `/registry/secrets/base/s${String(i).padStart(6, "0")}`;
    results.etcdBaseline = {
      put: await measure(n, (i) => client.put(key(i)).value(VALUE).exec()),
      // What create does: a transaction on create_revision == 0, through the same client library.
      txnCreate: await measure(n, (i) =>
        client
          .if(`${key(i)}-txn`, "Create", "==", 0)
          .then(client.put(`${key(i)}-txn`).value(VALUE))
          .commit(),
      ),
      get: await measure(n, (i) => client.get(key(i)).buffer()),
    };
    client.close();
  } finally {
    await etcd.stop();
  }

  const memory = new MemoryStore();
  results.memory = await storeOps(memory, n, "memory");
  await memory.close();
  return results;
}
