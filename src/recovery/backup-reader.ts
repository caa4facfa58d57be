/**
 * Opening a backup for reading: the file checks that need no key (backup-file.ts), then the key
 * check, then the payload's records one by one, validated. Restore, verify-backup and export read
 * backups through here.
 */
import { AtrestError } from "../common/errors.js";
import { openBackupFile, readBackupRecords, type OpenedBackup } from "./backup-file.js";
import { deriveBackupKey, keyCheckMatches, type BackupSecret } from "./backup-key.js";
import { parseBackupRecord, type BackupRecord } from "./backup-records.js";

/** Unlocks the backup: checksum and header first (no key needed), then the key check. */
export async function unlockBackup(
  path: string,
  secret: BackupSecret,
): Promise<{ opened: OpenedBackup; encryptionKey: Buffer }> {
  const opened = await openBackupFile(path);
  const key = await deriveBackupKey(secret, opened.header.kdf, Buffer.from(opened.header.salt, "base64"));
  if (!keyCheckMatches(key, Buffer.from(opened.header.keyCheck, "base64"))) {
    key.encryptionKey.fill(0);
    throw new AtrestError(
      "unauthenticated",
      `${secret.kind === "passphrase" ? "the passphrase" : "the key file"} (${secret.file}) does not open the backup ${path}`,
    );
  }
  return { opened, encryptionKey: key.encryptionKey };
}

/** Every record of an unlocked backup, validated. */
export async function* backupRecords(
  opened: OpenedBackup,
  encryptionKey: Buffer,
): AsyncGenerator<BackupRecord> {
  let index = 0;
  for await (const value of readBackupRecords(opened, encryptionKey)) yield parseBackupRecord(value, index++);
}
