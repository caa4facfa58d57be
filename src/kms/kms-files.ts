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
  return { accountId: c.accountId, region: c.region };
}
