import { chmodSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { AtrestError } from "./errors.js";

/**
 * Files that hold secrets (access keys, tokens, profiles, PINs, passphrases, key material) and the
 * directories that hold sockets and data, checked when a command starts: a secret file another user
 * can read is refused, as ssh refuses such a key and atrest refuses such a root key; a data directory
 * others can write to (anyone could replace the plugin socket) is made 0700, as etcd makes its data dir.
 */

/** The one message for a secret file with group or other permissions. */
export function exposedSecretFileError(path: string, what: string): AtrestError {
  return new AtrestError(
    "failed-precondition",
    `${what} ${path} must not be readable by group or others (chmod 600 ${path})`,
    { details: { path } },
  );
}

/** Refuses `path` when its mode gives group or others any access (a symlink is judged by its target). */
export function assertPrivateFile(path: string, what: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (cause) {
    throw new AtrestError("invalid-argument", `cannot read ${what} ${path}`, { cause, details: { path } });
  }
  if ((mode & 0o077) !== 0) throw exposedSecretFileError(path, what);
}

/** Reads a secret file after checking its mode; the error never holds its content. */
export function readSecretFile(path: string, what: string): Buffer {
  assertPrivateFile(path, what);
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new AtrestError("invalid-argument", `cannot read ${what} ${path}`, { cause, details: { path } });
  }
}

/**
 * Creates `dir` (0700) or, when it exists with group or other permissions, changes it to owner-only.
 * Returns the mode it had when it was changed (for the caller's one warning line), else undefined.
 * Refuses a path that is not a directory.
 */
export function ensurePrivateDir(dir: string): number | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    // The caller words other failures (an unwritable parent, a file in the way).
    if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw cause;
  }
  const st = statSync(dir);
  if (!st.isDirectory())
    throw new AtrestError("invalid-argument", `${dir} is not a directory`, { details: { path: dir } });
  const mode = st.mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  chmodSync(dir, mode & 0o700);
  return mode;
}

/** `0777` for log fields and messages. */
export function octalMode(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}
