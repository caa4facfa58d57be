import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Writes a file whole or not at all (a temp file beside it, flushed, then renamed over the target), so
 * a crash or a full disk never leaves a truncated file behind — a profile or key file that breaks the
 * next start, or an EncryptionConfiguration an apiserver half-reads.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode: number): void {
  const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    const fd = openSync(tmp, "wx", mode);
    try {
      writeSync(fd, typeof content === "string" ? Buffer.from(content, "utf8") : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    // The rename itself survives a power loss only once the directory is flushed.
    const dir = openSync(dirname(path), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the file itself is complete either way.
  }
}
