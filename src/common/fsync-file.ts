import { open, type FileHandle } from "node:fs/promises";

/**
 * fsync on the thread pool, off the event loop. A file that is not there has nothing to sync (SQLite's
 * -wal file before the first write since it was removed).
 */
export async function fsyncFile(path: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r+");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
