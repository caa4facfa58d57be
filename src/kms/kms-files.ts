import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AtrestError } from "../common/errors.js";

/** The files of a KMS data dir (`atrest kms init` creates them). */
export function kmsPaths(dataDir: string) {
  return {
    rootKey: join(dataDir, "root.key"),
    tlsDir: join(dataDir, "tls"),
    caCert: join(dataDir, "tls", "ca.crt"),
    credentials: join(dataDir, "credentials.json"),
    config: join(dataDir, "kms.json"),
  };
}

export interface KmsDirConfig {
  /** The account id in ARNs (`acs:kms:<region>:<accountId>:key/<id>`); stable per data dir. */
  accountId: string;
  region: string;
  /**
   * Which kind of database `init` put the admin principal in. Only the kind, never the URL (it may
   * carry a password); absent in data dirs made before it was recorded.
   */
  database?: "sqlite" | "postgres";
}

export function databaseKindOf(database: string | undefined): "sqlite" | "postgres" {
  return database !== undefined && /^postgres(ql)?:\/\//.test(database) ? "postgres" : "sqlite";
}

/** Serving a data dir with another kind of database than `init` used would serve an empty KMS. */
export function checkDatabaseKind(dataDir: string, config: KmsDirConfig, database: string | undefined): void {
  const serving = databaseKindOf(database);
  if (config.database === undefined || config.database === serving) return;
  throw new AtrestError(
    "failed-precondition",
    config.database === "postgres"
      ? `${dataDir} was initialised with a PostgreSQL database: pass the same --database postgres://… URL`
      : `${dataDir} was initialised with its SQLite database; it holds the keys: serve it without --database`,
  );
}

export function readKmsConfig(dataDir: string): KmsDirConfig {
  const p = kmsPaths(dataDir).config;
  if (!existsSync(p))
    throw new AtrestError(
      "failed-precondition",
      `${dataDir} is not an initialised KMS data dir; run \`atrest kms init --data-dir ${dataDir}\``,
    );
  const c = JSON.parse(readFileSync(p, "utf8")) as Partial<KmsDirConfig>;
  if (typeof c.accountId !== "string" || typeof c.region !== "string")
    throw new AtrestError("data-corrupt", `${p}: accountId and region must be strings`);
  if (c.database !== undefined && c.database !== "sqlite" && c.database !== "postgres")
    throw new AtrestError("data-corrupt", `${p}: database must be "sqlite" or "postgres"`);
  return {
    accountId: c.accountId,
    region: c.region,
    ...(c.database === undefined ? {} : { database: c.database }),
  };
}
