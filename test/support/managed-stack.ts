/**
 * For the managed-cluster tests: atrest kms with its identity endpoint, the service role as quick
 * authorization makes it (with the service principal's access key), a control-plane KMS profile (the
 * admin) and ManagedClusters on a data dir, all stopped by close().
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CS_SERVICE_PRINCIPAL,
  ensureServicePrincipal,
  ensureServiceRole,
  serviceRoleArn,
} from "../../src/iam/index.js";
import {
  ManagedClusters,
  type ManagedClustersOptions,
  type ServiceRoleAccess,
} from "../../src/control-plane/managed/index.js";
import { KmsClient } from "../../src/kms/client/index.js";
import { callRpc, startIdentityStack, TEST_REGION, type IdentityStack } from "./identity-stack.js";

export interface ManagedStack {
  readonly stack: IdentityStack;
  readonly dataDir: string;
  readonly profile: string;
  readonly serviceRole: ServiceRoleAccess;
  /** A KMS call as the admin (official openapi-client, signature V3). */
  kms(action: string, query?: Record<string, string>): Promise<Record<string, unknown>>;
  /** atrest's own KMS client as the admin (the control plane's). */
  kmsClient(): KmsClient;
  createKey(): Promise<string>;
  managed(extra?: Partial<ManagedClustersOptions>): ManagedClusters;
  close(): Promise<void>;
}

export async function startManagedStack(name: string): Promise<ManagedStack> {
  const stack = await startIdentityStack(name);
  const dataDir = join(stack.dir, "control-plane");
  const profile = join(stack.dir, "cp-profile.json");
  writeFileSync(
    profile,
    JSON.stringify({
      endpoint: stack.kms.url,
      regionId: TEST_REGION,
      ...stack.admin,
      caFile: stack.caFile,
      identityEndpoint: stack.identity.url,
    }),
    { mode: 0o600 },
  );
  const identity = stack.kms.identity;
  await ensureServiceRole(identity);
  await ensureServicePrincipal(identity);
  const ak = await identity.createAccessKey(CS_SERVICE_PRINCIPAL);
  const serviceRole: ServiceRoleAccess = {
    credentials: { accessKeyId: ak.accessKeyId, accessKeySecret: ak.accessKeySecret },
    stsEndpoint: stack.identity.url,
    roleArn: serviceRoleArn(identity.accountId),
  };
  const opened: ManagedClusters[] = [];
  const clients: KmsClient[] = [];
  const kms = (action: string, query: Record<string, string> = {}) =>
    callRpc(stack.kms.url, stack.caPem, stack.admin, { action, version: "2016-01-20", query });
  return {
    stack,
    dataDir,
    profile,
    serviceRole,
    kms,
    kmsClient() {
      const c = new KmsClient({
        endpoint: stack.kms.url,
        regionId: TEST_REGION,
        caPem: stack.caPem,
        ...stack.admin,
      });
      clients.push(c);
      return c;
    },
    async createKey() {
      const r = await kms("CreateKey", { KeySpec: "Aliyun_AES_256" });
      return (r["KeyMetadata"] as { KeyId: string }).KeyId;
    },
    managed(extra = {}) {
      const m = new ManagedClusters({ dataDir, kmsProfile: profile, serviceRole, ...extra });
      opened.push(m);
      return m;
    },
    async close() {
      for (const m of opened) await m.close();
      for (const c of clients) c.close();
      await stack.close();
    },
  };
}
