/**
 * The one KMS key `atrest up` encrypts Secrets with: created through the KMS's own signed API on
 * first start (so it is audited like any other), its id remembered in the data dir so every later
 * start uses the same key. The alias is the fallback memory: if a start died between CreateKey and
 * writing the key file, the next start finds the key by alias instead of making a second one.
 * Before the key file is written, the key is protected as the operations protect a cluster's key
 * (deletion protection, the `atrest:cluster:atrest-up` = write tag): up's cluster encrypts with it from
 * its first write, so the KMS refuses to disable or delete it while that is so.
 */
import { existsSync, readFileSync } from "node:fs";
import { AtrestError, isAtrestError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { KmsClient } from "../kms/client/index.js";
import { describeKey, protectKey } from "../operations/index.js";
import { writeFileAtomic } from "../common/atomic-file.js";

export const UP_KEY_ALIAS = "alias/atrest-up";

interface KeyFile {
  keyId: string;
  alias: string;
}

export interface UpKey {
  readonly keyId: string;
  readonly alias: string;
  readonly created: boolean;
}

function readKeyFile(path: string): KeyFile {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new AtrestError("data-corrupt", `${path} is not readable JSON; it names the KMS key in use`, {
      cause,
    });
  }
  const v = value as Partial<KeyFile> | null;
  if (v === null || typeof v !== "object" || typeof v.keyId !== "string" || v.keyId === "")
    throw new AtrestError("data-corrupt", `${path}: keyId must be a non-empty string`);
  return { keyId: v.keyId, alias: typeof v.alias === "string" ? v.alias : UP_KEY_ALIAS };
}

async function describeKeyId(client: KmsClient, keyIdOrAlias: string): Promise<string | undefined> {
  try {
    const r = await client.call("DescribeKey", { KeyId: keyIdOrAlias });
    const md = r["KeyMetadata"] as { KeyId?: unknown } | undefined;
    if (typeof md?.KeyId !== "string")
      throw new AtrestError("internal", "DescribeKey: the answer has no KeyMetadata.KeyId");
    return md.KeyId;
  } catch (err) {
    if (isAtrestError(err, "not-found")) return undefined;
    throw err;
  }
}

async function createKey(client: KmsClient, alias: string): Promise<string> {
  const r = await client.call("CreateKey", {
    KeySpec: "Aliyun_AES_256",
    ProtectionLevel: "SOFTWARE",
    EnableAutomaticRotation: false,
    Description: "atrest up: encrypts Kubernetes Secrets at rest",
  });
  const md = r["KeyMetadata"] as { KeyId?: unknown } | undefined;
  if (typeof md?.KeyId !== "string")
    throw new AtrestError("internal", "CreateKey: the answer has no KeyMetadata.KeyId");
  await client.call("CreateAlias", { AliasName: alias, KeyId: md.KeyId });
  return md.KeyId;
}

/** Returns the key named in `keyFile`, else the one behind the alias, else a new one (then records it). */
export async function ensureUpKey(
  client: KmsClient,
  keyFile: string,
  cluster: string,
  logger: Logger,
): Promise<UpKey> {
  if (existsSync(keyFile)) {
    const recorded = readKeyFile(keyFile);
    const found = await describeKeyId(client, recorded.keyId);
    if (found === undefined)
      throw new AtrestError(
        "data-corrupt",
        `the KMS has no key ${recorded.keyId} (named in ${keyFile}); was the kms dir replaced?`,
      );
    return { keyId: found, alias: recorded.alias, created: false };
  }
  let keyId = await describeKeyId(client, UP_KEY_ALIAS);
  const created = keyId === undefined;
  keyId ??= await createKey(client, UP_KEY_ALIAS);
  await protectKey(client, await describeKey(client, keyId), cluster, "write");
  writeFileAtomic(keyFile, JSON.stringify({ keyId, alias: UP_KEY_ALIAS }, null, 2) + "\n", 0o600);
  logger.info({ alias: UP_KEY_ALIAS, created }, created ? "kms key created" : "kms key found by alias");
  return { keyId, alias: UP_KEY_ALIAS, created };
}
