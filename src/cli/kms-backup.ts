import type { Command } from "commander";
import { readBackupSecret, wipeBackupSecret } from "../recovery/backup-key.js";
import { backupKms } from "../recovery/kms-backup.js";
import { restoreKms } from "../recovery/kms-restore.js";
import { loadHsm } from "./pkcs11-flags.js";

interface SecretFlags {
  passphraseFile?: string;
  keyFile?: string;
}

const SECRET_HELP = `
The backup key: --passphrase-file F (scrypt, N=2^17 r=8 p=1, at least 12 characters) or --key-file F
(32 random bytes, raw or base64: openssl rand -base64 32 > F). Either file must be mode 0600 (not
readable by group or others), as the KMS root key. The backup holds every key's material sealed
under that key: keep the passphrase or key file apart from the backup.`;

const RESTORE_HELP = `
Exit status: 0 restored (or --dry-run passed); 2 bad arguments; 3 the database is unreachable;
4 the backup is damaged, truncated or was tampered with; 5 the passphrase or key file does not open it;
6 the data dir is in use by a running KMS, or the HSM token given lacks a key the backup names;
7 the data dir (or the database) already holds a key store. Nothing is written unless it exits 0.`;

/** `atrest kms backup` and `atrest kms restore` (src/recovery). */
export function registerKmsBackupCommands(kms: Command): void {
  kms
    .command("backup")
    .description(
      "write the key store (keys, versions, material, aliases, tags, rotation, principals, policies, audit chain) to an encrypted backup file",
    )
    .requiredOption("--data-dir <dir>", "the KMS data dir (read directly; a running KMS may keep serving it)")
    .option("--database <url>", "postgres:// URL of the key store (default: SQLite in the data dir)")
    .requiredOption("--out <file>", "the backup file to create (mode 0600; never overwritten)")
    .option("--passphrase-file <file>", "a passphrase (mode 0600) to derive the backup key from")
    .option("--key-file <file>", "a 32-byte backup key (mode 0600)")
    .option(
      "--insecure-low-kdf-cost",
      "scrypt N=2^12 instead of 2^17 (32x cheaper to guess): only for tests and benchmarks",
    )
    .option("-o, --output <format>", "json for JSON output")
    .addHelpText("after", SECRET_HELP)
    .action(
      async (
        opts: SecretFlags & {
          dataDir: string;
          database?: string;
          out: string;
          insecureLowKdfCost?: boolean;
          output?: string;
        },
      ) => {
        const secret = readBackupSecret(opts);
        try {
          const r = await backupKms({
            dataDir: opts.dataDir,
            out: opts.out,
            secret,
            ...(opts.database === undefined ? {} : { database: opts.database }),
            ...(opts.insecureLowKdfCost === true ? { insecureLowKdfCost: true } : {}),
          });
          const s = r.summary;
          process.stdout.write(
            opts.output === "json"
              ? JSON.stringify(r, null, 2) + "\n"
              : `backup ${r.backupId} written to ${r.path} (${r.bytes} bytes, sha256 ${r.sha256})\n` +
                  `  ${s.keys} keys, ${s.keyVersions} key versions (${s.hsmKeyVersions} in an HSM, named only), ${s.aliases} aliases, ${s.principals} principals, ${s.accessKeys} access keys, ${s.policies} policies, ${s.auditRecords} audit records (head ${r.auditHead.hash.slice(0, 16)}…)\n`,
          );
        } finally {
          wipeBackupSecret(secret);
        }
      },
    );

  kms
    .command("restore")
    .description("make a KMS data dir (and key store) from a backup, with a new root key")
    .requiredOption("--from <file>", "the backup file")
    .requiredOption("--data-dir <dir>", "the data dir to create (absent or empty; see --replace)")
    .option("--database <url>", "an empty PostgreSQL database (postgres:// URL) for the key store")
    .option("--passphrase-file <file>", "the backup's passphrase (mode 0600)")
    .option("--key-file <file>", "the backup's key file (mode 0600)")
    .option("--replace", "replace an existing data dir (kept as <dir>.before-restore-<time>)")
    .option("--dry-run", "check the backup (and the HSM token) completely, write nothing")
    .option("--pkcs11-module <path>", "PKCS#11 module of the token holding the backup's HSM keys")
    .option("--pkcs11-token-label <label>", "PKCS#11 token label")
    .option("--pkcs11-pin-file <file>", "file holding the token user PIN")
    .option("-o, --output <format>", "json for JSON output")
    .addHelpText("after", SECRET_HELP + "\n" + RESTORE_HELP)
    .action(
      async (
        opts: SecretFlags & {
          from: string;
          dataDir: string;
          database?: string;
          replace?: boolean;
          dryRun?: boolean;
          pkcs11Module?: string;
          pkcs11TokenLabel?: string;
          pkcs11PinFile?: string;
          output?: string;
        },
      ) => {
        const secret = readBackupSecret(opts);
        const hsm = await loadHsm(opts);
        try {
          const r = await restoreKms({
            from: opts.from,
            dataDir: opts.dataDir,
            secret,
            ...(opts.database === undefined ? {} : { database: opts.database }),
            ...(opts.replace === true ? { replace: true } : {}),
            ...(opts.dryRun === true ? { dryRun: true } : {}),
            ...(hsm === undefined ? {} : { hsm }),
          });
          const s = r.summary;
          process.stdout.write(
            opts.output === "json"
              ? JSON.stringify(r, null, 2) + "\n"
              : `${r.dryRun ? "backup checked (dry run, nothing written)" : `restored into ${r.dataDir} (${r.database})`}: backup ${r.backupId} of ${r.backupCreatedAt}, ${s.keys} keys, ${s.keyVersions} key versions, ${s.accessKeys} access keys, ${s.auditRecords} audit records\n` +
                  (r.previousDataDir === undefined
                    ? ""
                    : `  the replaced data dir is kept at ${r.previousDataDir}\n`) +
                  (r.auditHead === undefined
                    ? ""
                    : `  audit chain continues at record ${r.auditHead.seq} (${"RestoreFromBackup"})\n`),
          );
        } finally {
          wipeBackupSecret(secret);
          await hsm?.close();
        }
      },
    );
}
