/**
 * The principal the plugin of `atrest up` signs with: allowed Encrypt and Decrypt (and DescribeKey,
 * which Encrypt falls back on to learn the key version) on the one key `up` encrypts Secrets with, and
 * nothing else — not the KMS admin's access key. Kept in this one function so that a later issue can
 * replace it with an STS service role.
 *
 * Idempotent on every start: the principal and its policy are created when missing, its access key is
 * kept in `<data-dir>/kms-plugin-credentials.json` (0600) and reused while the KMS still knows it, and
 * any other access key of the principal (left by a start that died before writing the file) is deleted.
 */
import { existsSync } from "node:fs";
import { AtrestError, isAtrestError } from "../common/errors.js";
import type { KmsClient } from "../kms/client/index.js";
import { loadCredentials, type AlibabaCredentials } from "../plugin/index.js";
import { writeFileAtomic } from "../common/atomic-file.js";

export const UP_PLUGIN_PRINCIPAL = "atrest-up-plugin";
/** What the plugin calls: Encrypt and Decrypt, and DescribeKey when Encrypt names no key version. */
export const UP_PLUGIN_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"] as const;

export interface PluginPrincipalOptions {
  readonly keyId: string;
  readonly region: string;
  readonly accountId: string;
  readonly credentialsFile: string;
}

/** The policy for one key (one per key id: the document names it and policies cannot be edited). */
export function pluginPolicy(options: Pick<PluginPrincipalOptions, "keyId" | "region" | "accountId">) {
  return {
    name: `${UP_PLUGIN_PRINCIPAL}-${options.keyId}`,
    document: JSON.stringify({
      Version: "1",
      Statement: [
        {
          Effect: "Allow",
          Action: [...UP_PLUGIN_ACTIONS],
          Resource: `acs:kms:${options.region}:${options.accountId}:key/${options.keyId}`,
        },
      ],
    }),
  };
}

async function unlessExists(call: Promise<unknown>): Promise<boolean> {
  try {
    await call;
    return true;
  } catch (err) {
    if (isAtrestError(err, "already-exists")) return false;
    throw err;
  }
}

/** Ensures the plugin's principal, policy and access key (see the file comment); returns the credentials. */
export async function ensurePluginPrincipal(
  client: KmsClient,
  options: PluginPrincipalOptions,
): Promise<AlibabaCredentials> {
  const PrincipalName = UP_PLUGIN_PRINCIPAL;
  await unlessExists(client.call("CreatePrincipal", { PrincipalName }));
  const policy = pluginPolicy(options);
  const created = await unlessExists(
    client.call("CreatePolicy", { PolicyName: policy.name, PolicyDocument: policy.document }),
  );
  if (!created) {
    const listed = (await client.call("ListPolicies")).Policies as
      { Policy?: Array<{ PolicyName?: string; PolicyDocument?: string }> } | undefined;
    const existing = listed?.Policy?.find((p) => p.PolicyName === policy.name);
    if (existing?.PolicyDocument !== policy.document)
      throw new AtrestError(
        "failed-precondition",
        `the KMS policy ${policy.name} is not the one atrest up wrote for its plugin; delete it (atrest kms delete-policy) to have it written again`,
      );
  }
  await client.call("AttachPolicy", { PolicyName: policy.name, PrincipalName });

  const listed = (await client.call("ListAccessKeys", { PrincipalName })).AccessKeys as
    { AccessKey?: Array<{ AccessKeyId?: string }> } | undefined;
  const known = (listed?.AccessKey ?? []).map((k) => k.AccessKeyId).filter((id) => id !== undefined);
  let credentials = existsSync(options.credentialsFile)
    ? loadCredentials(options.credentialsFile, {})
    : undefined;
  if (credentials === undefined || !known.includes(credentials.accessKeyId)) {
    const ak = await client.call("CreateAccessKey", { PrincipalName });
    if (typeof ak.AccessKeyId !== "string" || typeof ak.AccessKeySecret !== "string")
      throw new AtrestError("internal", "CreateAccessKey: the answer has no AccessKeyId/AccessKeySecret");
    credentials = { accessKeyId: ak.AccessKeyId, accessKeySecret: ak.AccessKeySecret };
    writeFileAtomic(options.credentialsFile, JSON.stringify(credentials, null, 2) + "\n", 0o600);
  }
  for (const id of known)
    if (id !== credentials.accessKeyId) await client.call("DeleteAccessKey", { UserAccessKeyId: id });
  return credentials;
}
