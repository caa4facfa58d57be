import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import type { KmsClientFactories } from "../encryption-config/build.js";
import { grpcKmsClients } from "../encryption-config/grpc-clients.js";
import { loadEncryptionConfigurationFile } from "../encryption-config/load.js";
import { readBackupSecret, wipeBackupSecret } from "../recovery/backup-key.js";
import { BackupKeyring } from "../recovery/backup-keyring.js";
import { unlockBackup } from "../recovery/backup-reader.js";
import { keyringPlugin, type KeyringPlugin } from "../recovery/keyring-plugin.js";
import type { ObjectSource } from "../recovery/object-source.js";
import { backupOnlyValueReader, configuredValueReader, type ValueReader } from "../recovery/value-reader.js";
import { storeEndpointFromFlags } from "../storage/open-store.js";
import { addEtcdTlsOptions, etcdTlsFrom, type EtcdTlsFlags } from "./etcd-tls-flags.js";
import { loadHsm, type Pkcs11Flags } from "./pkcs11-flags.js";

/** Where `atrest export` and `atrest verify-backup` read objects: a live store or a snapshot file. */
export interface SourceFlags extends EtcdTlsFlags {
  etcdServers?: string;
  datastoreEndpoint?: string;
  snapshot?: string;
  etcdPrefix: string;
}

export interface BackupFlags extends Pkcs11Flags {
  kmsBackup?: string;
  passphraseFile?: string;
  keyFile?: string;
}

export function addSourceOptions(cmd: Command): Command {
  return addEtcdTlsOptions(cmd)
    .option(
      "--snapshot <file>",
      "an etcd snapshot file (etcdctl snapshot save), restored into a temporary member",
    )
    .option("--etcd-servers <urls>", "a running etcd: client URLs, comma-separated")
    .option("--datastore-endpoint <url>", "the apiserver's SQLite store: sqlite:///absolute/path.db")
    .option("--etcd-prefix <prefix>", "the apiserver's --etcd-prefix", "/registry");
}

export function addBackupOptions(cmd: Command): Command {
  return cmd
    .option("--passphrase-file <file>", "the KMS backup's passphrase (mode 0600)")
    .option("--key-file <file>", "the KMS backup's key file (mode 0600)")
    .option("--pkcs11-module <path>", "PKCS#11 module of the token holding the backup's HSM keys")
    .option("--pkcs11-token-label <label>", "PKCS#11 token label")
    .option("--pkcs11-pin-file <file>", "file holding the token user PIN");
}

export function sourceFrom(flags: SourceFlags): ObjectSource {
  const given = [flags.snapshot, flags.etcdServers, flags.datastoreEndpoint].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw new AtrestError(
      "invalid-argument",
      "give exactly one source: --snapshot FILE, --etcd-servers URLS or --datastore-endpoint sqlite:///path",
    );
  if (flags.snapshot !== undefined) return { kind: "snapshot", file: flags.snapshot };
  const endpoint = storeEndpointFromFlags({
    etcdServers: flags.etcdServers,
    ...etcdTlsFrom(flags),
    datastoreEndpoint: flags.datastoreEndpoint,
  });
  if (endpoint === "memory")
    throw new AtrestError("invalid-argument", "--datastore-endpoint: memory:// holds nothing to read");
  return { kind: "store", endpoint };
}

export interface OpenedBackupKeys {
  readonly keyring: BackupKeyring;
  readonly plugin: KeyringPlugin;
  readonly backup: { readonly id: string; readonly createdAt: string };
  close(): Promise<void>;
}

/** Unlocks `--kms-backup` with its secret flags and loads its key versions. */
export async function openBackupKeys(flags: BackupFlags & { kmsBackup: string }): Promise<OpenedBackupKeys> {
  const secret = readBackupSecret(flags);
  const hsm = await loadHsm(flags);
  try {
    const { opened, encryptionKey } = await unlockBackup(flags.kmsBackup, secret);
    try {
      const keyring = await BackupKeyring.load(opened, encryptionKey, hsm === undefined ? {} : { hsm });
      return {
        keyring,
        plugin: keyringPlugin(keyring),
        backup: { id: opened.header.backupId, createdAt: opened.header.createdAt },
        async close() {
          keyring.close();
          await hsm?.close();
        },
      };
    } finally {
      encryptionKey.fill(0);
    }
  } catch (err) {
    await hsm?.close();
    throw err;
  } finally {
    wipeBackupSecret(secret);
  }
}

/**
 * The value reader the flags ask for: the configuration's providers with its plugins, or with the
 * backup in place of every KMS plugin; the backup alone; or neither (plaintext stores only).
 */
export async function valueReaderFrom(
  configFile: string | undefined,
  backup: OpenedBackupKeys | undefined,
): Promise<ValueReader> {
  if (configFile === undefined) return backupOnlyValueReader(backup?.plugin.clients);
  const clients: KmsClientFactories = backup === undefined ? grpcKmsClients : backup.plugin.clients;
  const { config, contentHash } = await loadEncryptionConfigurationFile(configFile);
  return configuredValueReader(config, clients, { contentHash, livePlugins: backup === undefined });
}
