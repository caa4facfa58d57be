/**
 * How the plugin of `atrest up` gets its KMS credentials: as ACK's does, by assuming the service role
 * `AliyunCSManagedSecurityRole` (session named after up's cluster), not with a key of its own that
 * can use the KMS. At every start, up "quick-authorizes" the role (creates it trusting cs.aliyuncs.com,
 * with ACK's policy; idempotent) and keeps the service principal's access key in
 * `<data-dir>/kms-plugin-credentials.json` (0600): a key that can do nothing on the KMS itself, only
 * assume the roles that trust the service. It is reused while the identity store still knows it; any
 * other key of the service (left by a start that died before writing the file) is deleted.
 */
import { existsSync } from "node:fs";
import {
  CS_SERVICE_PRINCIPAL,
  ensureServicePrincipal,
  ensureServiceRole,
  serviceRoleArn,
  type IdentityStore,
} from "../iam/index.js";
import { loadCredentials, type AlibabaCredentials, type AssumeRoleSettings } from "../plugin/index.js";
import { writeFileAtomic } from "../common/atomic-file.js";

/** The cluster `atrest up` runs; its plugin's STS session carries this name in the audit trail. */
export const UP_CLUSTER_NAME = "atrest-up";

export interface UpPluginIdentity {
  /** The service principal's key: it only assumes the role. */
  readonly credentials: AlibabaCredentials;
  readonly assumeRole: AssumeRoleSettings;
}

export async function authorizeUpServiceRole(
  identity: IdentityStore,
  options: { credentialsFile: string; stsEndpoint: string },
): Promise<UpPluginIdentity> {
  await ensureServiceRole(identity);
  await ensureServicePrincipal(identity);
  const known = (await identity.listAccessKeys(CS_SERVICE_PRINCIPAL)).map((k) => k.access_key_id);
  let credentials = existsSync(options.credentialsFile)
    ? loadCredentials(options.credentialsFile, {})
    : undefined;
  if (credentials === undefined || !known.includes(credentials.accessKeyId)) {
    const ak = await identity.createAccessKey(CS_SERVICE_PRINCIPAL);
    credentials = { accessKeyId: ak.accessKeyId, accessKeySecret: ak.accessKeySecret };
    writeFileAtomic(options.credentialsFile, JSON.stringify(credentials, null, 2) + "\n", 0o600);
  }
  for (const id of known) if (id !== credentials.accessKeyId) await identity.deleteAccessKey(id);
  return {
    credentials,
    assumeRole: {
      stsEndpoint: options.stsEndpoint,
      roleArn: serviceRoleArn(identity.accountId),
      roleSessionName: UP_CLUSTER_NAME,
    },
  };
}
