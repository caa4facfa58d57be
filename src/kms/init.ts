import { randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureTlsFiles } from "../common/tls.js";
import { AtrestError } from "../common/errors.js";
import { IdentityStore } from "../iam/index.js";
import { databaseKindOf, kmsPaths } from "./kms-files.js";
import { createRootKeyFile, ROOT_KEY_BYTES, RootKey } from "./root-key.js";
import { identityDbOf, openKmsDatabase } from "./store/database.js";

/** The built-in policy the admin principal gets (src/iam/policy defines it). */
export const ADMIN_POLICY = "AliyunKMSFullAccess";
/**
 * What else the admin may do from the start: manage users, roles and policies (RAM), assume roles
 * (STS) and read the event trail (ActionTrail) — the identity services share the KMS's store.
 */
export const ADMIN_IDENTITY_POLICIES = [
  "AliyunRAMFullAccess",
  "AliyunSTSAssumeRoleAccess",
  "AliyunActionTrailFullAccess",
] as const;
export const ADMIN_PRINCIPAL = "admin";

export interface InitResult {
  dataDir: string;
  caCertFile: string;
  credentialsFile: string;
  accountId: string;
  region: string;
  accessKeyId: string;
}

/**
 * Initialises a KMS data dir: root key (0600), TLS CA + serving certificate for localhost/127.0.0.1,
 * the key store schema, and an admin principal with full access whose access key goes to
 * credentials.json (0600). Refuses to touch a dir that already has a root key.
 */
export async function initKmsDataDir(options: {
  dataDir: string;
  database?: string;
  region?: string;
  accountId?: string;
}): Promise<InitResult> {
  const paths = kmsPaths(options.dataDir);
  if (existsSync(paths.rootKey) || existsSync(paths.config)) {
    throw new AtrestError(
      "already-exists",
      `${options.dataDir} is already initialised (found ${existsSync(paths.rootKey) ? paths.rootKey : paths.config}); refusing to overwrite`,
    );
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const region = options.region ?? "cn-hangzhou";
  const accountId =
    options.accountId ?? `${randomInt(1e7, 1e8)}${String(randomInt(0, 1e8)).padStart(8, "0")}`;
  if (!/^[a-z0-9-]{1,64}$/.test(region))
    throw new AtrestError("invalid-argument", "--region: lower-case letters, digits and -");
  if (!/^[0-9]{1,32}$/.test(accountId))
    throw new AtrestError("invalid-argument", "--account-id: digits only");
  // The root key is written last, with the credentials: a failure half-way (say, PostgreSQL is
  // unreachable) leaves a dir that `init` can simply be run on again.
  const rootKeyBytes = randomBytes(ROOT_KEY_BYTES);
  const rootKey = new RootKey(rootKeyBytes);
  const tls = await ensureTlsFiles(paths.tlsDir, {
    commonName: "atrest-kms",
    hosts: ["localhost", "127.0.0.1", "::1"],
  });
  const sqliteFile = join(options.dataDir, "kms.db");
  const sqliteExisted = existsSync(sqliteFile);
  let creds: { accessKeyId: string; accessKeySecret: string };
  try {
    const kdb = await openKmsDatabase({ dataDir: options.dataDir, database: options.database });
    try {
      const identity = new IdentityStore({ idb: identityDbOf(kdb), sealer: rootKey, accountId });
      const existing = await identity.listPrincipals();
      if (!existing.some((p) => p.principal_name === ADMIN_PRINCIPAL))
        await identity.createPrincipal(ADMIN_PRINCIPAL, "user");
      for (const policy of [ADMIN_POLICY, ...ADMIN_IDENTITY_POLICIES])
        await identity.attachPolicy(policy, ADMIN_PRINCIPAL);
      const { accessKeyId, accessKeySecret } = await identity.createAccessKey(ADMIN_PRINCIPAL);
      creds = { accessKeyId, accessKeySecret };
    } finally {
      await kdb.close();
    }
  } catch (err) {
    if (!sqliteExisted)
      for (const f of [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`]) rmSync(f, { force: true });
    throw err;
  }
  createRootKeyFile(paths.rootKey, rootKeyBytes);
  rootKeyBytes.fill(0);
  writeFileSync(paths.credentials, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  const database = databaseKindOf(options.database);
  writeFileSync(paths.config, JSON.stringify({ accountId, region, database }, null, 2) + "\n", {
    mode: 0o600,
    flag: "wx",
  });
  return {
    dataDir: options.dataDir,
    caCertFile: tls.caCertFile,
    credentialsFile: paths.credentials,
    accountId,
    region,
    accessKeyId: creds.accessKeyId,
  };
}
