/**
 * The KMS data dir of `atrest up`: created on first start, checked on every later one. First-time
 * initialisation happens in a sibling temp dir that is renamed into place only when complete, so a
 * failure half-way (disk full, killed) never leaves a dir that the next start mistakes for a real one.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, renameSync, rmSync, rmdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { AtrestError, wrapError } from "../common/errors.js";
import { initKmsDataDir, kmsPaths, readKmsConfig } from "../kms/index.js";
import { loadCredentials, type AlibabaCredentials } from "../plugin/index.js";

export interface KmsDirInfo {
  readonly region: string;
  readonly accountId: string;
  readonly credentials: AlibabaCredentials;
  readonly caCertFile: string;
}

const TEMP_MARK = ".init-";

/**
 * Initialises `kmsDir` when it does not exist (or is empty); returns whether it did. `keyFile` is the
 * record of the key a previous start created in this KMS: when it exists and the KMS dir does not, the
 * KMS was lost (or moved), and a new empty one would leave every Secret encrypted with the old key
 * unreadable while looking healthy — so that is refused, pointing to the restore, and nothing is made.
 */
export async function ensureKmsDir(kmsDir: string, keyFile: string): Promise<{ created: boolean }> {
  removeAbandonedInits(kmsDir);
  if (existsSync(kmsDir) && readdirSync(kmsDir).length > 0) return { created: false };
  if (existsSync(keyFile))
    throw new AtrestError(
      "data-corrupt",
      `the KMS data dir ${kmsDir} is missing, but ${keyFile} names the key this data dir's Secrets are encrypted with; restore the KMS with \`atrest kms restore --from BACKUP --data-dir ${kmsDir}\` (docs/runbook.md), or move ${dirname(kmsDir)} away to start afresh (its Secrets are then lost)`,
    );
  const temp = `${kmsDir}${TEMP_MARK}${randomBytes(6).toString("hex")}`;
  try {
    await initKmsDataDir({ dataDir: temp });
    if (existsSync(kmsDir)) rmdirSync(kmsDir); // empty (checked above); rename cannot replace a dir
    renameSync(temp, kmsDir);
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw wrapError(err, `cannot initialise the KMS data dir ${kmsDir}`);
  }
  return { created: true };
}

/** Temp dirs of an init that was killed before its rename: they hold nothing anyone uses. */
function removeAbandonedInits(kmsDir: string): void {
  const parent = dirname(kmsDir);
  const prefix = `${basename(kmsDir)}${TEMP_MARK}`;
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent))
    if (name.startsWith(prefix)) rmSync(join(parent, name), { recursive: true, force: true });
}

/**
 * Reads what the plugin and the profile need from an existing KMS dir, failing with one clear
 * `data-corrupt` error when a file is missing or unreadable (the server would fail less clearly).
 */
export function readKmsDir(kmsDir: string): KmsDirInfo {
  const paths = kmsPaths(kmsDir);
  const required = [
    paths.rootKey,
    paths.config,
    paths.credentials,
    paths.caCert,
    join(paths.tlsDir, "tls.crt"),
    join(paths.tlsDir, "tls.key"),
  ];
  const missing = required.filter((p) => !existsSync(p));
  if (missing.length > 0) throw damaged(kmsDir, `missing ${missing.join(", ")}`);
  try {
    const config = readKmsConfig(kmsDir);
    return {
      region: config.region,
      accountId: config.accountId,
      credentials: loadCredentials(paths.credentials, {}),
      caCertFile: paths.caCert,
    };
  } catch (err) {
    // JSON.parse quotes the file's content in its message: name the file instead.
    const why =
      err instanceof SyntaxError
        ? `${paths.config} is not valid JSON`
        : err instanceof Error
          ? err.message
          : String(err);
    throw damaged(kmsDir, why, err);
  }
}

function damaged(kmsDir: string, why: string, cause?: unknown): AtrestError {
  return new AtrestError(
    "data-corrupt",
    `the KMS data dir ${kmsDir} is damaged (${why}); restore it from a backup, or move it away to start afresh (its keys, and every Secret encrypted with them, are then lost)`,
    cause === undefined ? {} : { cause },
  );
}
