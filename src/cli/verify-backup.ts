import type { Command } from "commander";
import { openObjectSource } from "../recovery/object-source.js";
import { verifyBackup, VERIFY_BACKUP_EXIT, type VerifyBackupReport } from "../recovery/verify-backup.js";
import {
  addBackupOptions,
  addSourceOptions,
  openBackupKeys,
  sourceFrom,
  valueReaderFrom,
  type BackupFlags,
  type SourceFlags,
} from "./recovery-flags.js";

interface VerifyFlags extends SourceFlags, BackupFlags {
  kmsBackup: string;
  encryptionProviderConfig?: string;
  output?: string;
}

const HELP = `
Every Secret is decrypted with the backup's key material alone (no KMS, no plugin running) and
decoded. Values under a local key (aescbc, aesgcm, secretbox) need --encryption-provider-config;
its KMS providers are then read with the backup too. Nothing is written.

Exit status: ${VERIFY_BACKUP_EXIT.ok} every Secret decrypts; ${VERIFY_BACKUP_EXIT.failed} some do not (listed: storage key, key_id, why);
2 bad arguments; 3 the snapshot's temporary member or the store is unavailable; 4 the backup or the
snapshot is damaged; 5 the passphrase or key file does not open the backup.`;

function text(r: VerifyBackupReport): string {
  const lines = [
    `backup ${r.backup.id} (${r.backup.createdAt}) against ${r.secrets} Secrets at revision ${r.revision}: ${r.decrypted} decrypted, ${r.plaintext} stored in plaintext, ${r.failed} failed`,
  ];
  for (const [keyId, t] of Object.entries(r.byKeyId).sort())
    lines.push(
      `  key_id ${keyId}: ${t.secrets} Secrets${t.failed === 0 ? "" : `, ${t.failed} failed`}${t.keyState === undefined ? " (key not in the backup)" : t.keyState === "Enabled" ? "" : ` (key ${t.keyState} in the backup)`}`,
    );
  for (const f of r.failures)
    lines.push(`  FAILED ${f.key}${f.keyId === undefined ? "" : ` (${f.keyId})`}: ${f.reason}`);
  if (r.failed > r.failures.length) lines.push(`  … and ${r.failed - r.failures.length} more`);
  return lines.join("\n") + "\n";
}

/** `atrest verify-backup`: does this KMS backup open every Secret of this snapshot? */
export function registerVerifyBackup(program: Command): void {
  const cmd = program.command("verify-backup");
  addBackupOptions(addSourceOptions(cmd))
    .description(
      "prove that every Secret in an etcd snapshot (or store) decrypts with what a KMS backup holds",
    )
    .requiredOption("--kms-backup <file>", "the KMS backup (atrest kms backup)")
    .option("--encryption-provider-config <file>", "for Secrets under local keys (aescbc, aesgcm, secretbox)")
    .option("-o, --output <format>", "json for JSON output")
    .addHelpText("after", HELP)
    .action(async (flags: VerifyFlags) => {
      const source = sourceFrom(flags);
      const backup = await openBackupKeys(flags);
      try {
        const reader = await valueReaderFrom(flags.encryptionProviderConfig, backup);
        const opened = await openObjectSource(source);
        try {
          const r = await verifyBackup({
            store: opened.store,
            reader,
            keyring: backup.keyring,
            backup: backup.backup,
            prefix: flags.etcdPrefix,
          });
          process.stdout.write(flags.output === "json" ? JSON.stringify(r, null, 2) + "\n" : text(r));
          process.exitCode = r.exitCode;
        } finally {
          reader.close();
          await opened.close();
        }
      } finally {
        await backup.close();
      }
    });
}
