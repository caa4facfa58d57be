import { IdentityStore, type EventSource, type IamDb } from "../iam/index.js";
import { readTlsFiles, type TlsMaterial } from "../common/tls.js";
import { READ_ONLY_ACTIONS } from "./actions/index.js";
import { kmsAuditEventSource } from "./audit-events.js";
import { checkDatabaseKind, kmsPaths, readKmsConfig } from "./kms-files.js";
import { loadRootKeyFile } from "./root-key.js";
import { identityDbOf, openKmsDatabase, type KmsDb } from "./store/database.js";

/** A KMS data dir's identity store, opened by another service (the control plane) beside the KMS. */
export interface SharedIdentity {
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly kdb: KmsDb;
  /** The KMS's audit trail as ActionTrail events (rank 0, as on the KMS's identity endpoint). */
  readonly eventSource: EventSource;
  readonly accountId: string;
  readonly region: string;
  /** The KMS's serving certificate and key (for localhost/127.0.0.1), when the dir has them. */
  readonly tls: TlsMaterial | undefined;
  close(): Promise<void>;
}

/**
 * Opens the identity store of a KMS data dir — the same database (SQLite in the dir, or the
 * PostgreSQL URL the KMS serves) and root key — so principals, access keys, policies and STS sessions
 * are one set for the KMS and the control plane (README "Identity").
 */
export async function openSharedIdentity(options: {
  dataDir: string;
  database?: string;
  cacheTtlMs?: number;
}): Promise<SharedIdentity> {
  const config = readKmsConfig(options.dataDir);
  checkDatabaseKind(options.dataDir, config, options.database);
  const paths = kmsPaths(options.dataDir);
  const rootKey = loadRootKeyFile(paths.rootKey);
  let tls: TlsMaterial | undefined;
  try {
    tls = readTlsFiles({
      caCertFile: paths.caCert,
      certFile: `${paths.tlsDir}/tls.crt`,
      keyFile: `${paths.tlsDir}/tls.key`,
    });
  } catch {
    tls = undefined;
  }
  const kdb = await openKmsDatabase({ dataDir: options.dataDir, database: options.database });
  const idb = identityDbOf(kdb);
  return {
    identity: new IdentityStore({
      idb,
      sealer: rootKey,
      accountId: config.accountId,
      cacheTtlMs: options.cacheTtlMs ?? 1000,
    }),
    idb,
    kdb,
    eventSource: kmsAuditEventSource(kdb, {
      region: config.region,
      accountId: config.accountId,
      readOnlyActions: READ_ONLY_ACTIONS,
      rank: 0,
    }),
    accountId: config.accountId,
    region: config.region,
    tls,
    close: () => kdb.close(),
  };
}
