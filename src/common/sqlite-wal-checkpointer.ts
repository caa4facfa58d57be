/**
 * WAL checkpoints for the KMS's SQLite database, off the event loop. better-sqlite3 is synchronous: with
 * SQLite's automatic checkpoints, the commit that crosses the threshold copies the WAL into the database
 * and fsyncs it while every request waits — the tail of the KMS's latency. Here the serving connection
 * turns automatic checkpoints off and a worker thread with a connection of its own runs a PASSIVE
 * checkpoint every interval: it never blocks writers, and the fsync happens on the worker's thread.
 * SQLite keeps this safe across connections (the checkpoint lock); the WAL is reset by the next writer
 * once a checkpoint has caught up.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1_000;

// Plain CommonJS for the worker (an eval'd worker has no TypeScript loader); it loads the same
// better-sqlite3 build as the main thread, by absolute path.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 5000");
const timer = setInterval(() => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
}, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch {}
  db.close();
  parentPort.postMessage({ stopped: true });
});
`;

export interface WalCheckpointer {
  /** Runs a last checkpoint and stops the worker. */
  stop(): Promise<void>;
}

export function startWalCheckpointer(
  file: string,
  options: { intervalMs?: number; onError?: (message: string) => void } = {},
): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { file, driver, intervalMs: options.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS },
  });
  worker.unref();
  let stopped: Promise<void> | undefined;
  worker.on("message", (m: { error?: string }) => {
    if (m.error !== undefined) options.onError?.(m.error);
  });
  worker.on("error", (err) => options.onError?.(err.message));
  return {
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        const done = (): void => {
          void worker.terminate().then(() => resolve());
        };
        worker.once("message", done);
        worker.once("exit", () => resolve());
        worker.postMessage("stop");
        // A worker stuck in a checkpoint must not hold shutdown forever.
        setTimeout(done, 5_000).unref();
      });
      return stopped;
    },
  };
}
