/**
 * atrest kms with its identity endpoint (STS, RAM, ActionTrail) for tests: an initialised data dir,
 * both servers in this process over HTTPS (the KMS's private CA), the admin's access key.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../src/common/clock.js";
import type { IdentityServer, StsOptions } from "../../src/iam/index.js";
import { startKmsIdentityEndpoint } from "../../src/kms/identity-endpoint.js";
import { initKmsDataDir } from "../../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../../src/kms/server.js";

const require = createRequire(import.meta.url);

export const TEST_ACCOUNT_ID = "1234567890123456";
export const TEST_REGION = "cn-hangzhou";

export interface IdentityStack {
  readonly dir: string;
  readonly kms: KmsServer;
  readonly identity: IdentityServer;
  readonly caPem: string;
  readonly caFile: string;
  readonly admin: { accessKeyId: string; accessKeySecret: string };
  close(): Promise<void>;
}

export async function startIdentityStack(
  name: string,
  options: {
    sts?: StsOptions;
    clock?: Clock;
    /** postgres:// URL (default SQLite) */ database?: string;
  } = {},
): Promise<IdentityStack> {
  const dir = mkdtempSync(join(tmpdir(), `atrest-${name}-`));
  const dataDir = join(dir, "kms");
  const database = options.database === undefined ? {} : { database: options.database };
  const init = await initKmsDataDir({
    dataDir,
    accountId: TEST_ACCOUNT_ID,
    region: TEST_REGION,
    ...database,
  });
  const admin = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as IdentityStack["admin"];
  const kms = await startKmsServer({
    dataDir,
    ...database,
    schedulerIntervalMs: 0,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const identity = await startKmsIdentityEndpoint(kms, {
    dataDir,
    ...(options.sts === undefined ? {} : { sts: options.sts }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  return {
    dir,
    kms,
    identity,
    caPem: readFileSync(init.caCertFile, "utf8"),
    caFile: init.caCertFile,
    admin,
    async close() {
      await identity.close();
      await kms.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type SdkCtor = new (config: unknown) => Record<string, (...args: unknown[]) => Promise<unknown>>;
interface SdkModule {
  default: SdkCtor;
  [model: string]: unknown;
}

/** The official SDKs, loaded as an application would (their CommonJS builds). */
export const stsSdk = require("@alicloud/sts20150401") as SdkModule;
export const ramSdk = require("@alicloud/ram20150501") as SdkModule;
export const openapiCore = require("@alicloud/openapi-core") as {
  $OpenApiUtil: { Config: new (c: Record<string, unknown>) => unknown };
};
export const openapiClient = require("@alicloud/openapi-client") as {
  default: new (config: unknown) => {
    callApi(
      params: unknown,
      request: unknown,
      runtime: unknown,
    ): Promise<{ body: Record<string, unknown>; statusCode: number }>;
  };
  Config: new (c: Record<string, unknown>) => unknown;
  Params: new (c: Record<string, unknown>) => unknown;
  OpenApiRequest: new (c: Record<string, unknown>) => unknown;
};
export const teaUtil = require("@alicloud/tea-util") as {
  RuntimeOptions: new (c: Record<string, unknown>) => unknown;
};

/** An official SDK client (sts20150401, ram20150501) for an endpoint, unmodified but for its config. */
export function sdkClient(
  sdk: SdkModule,
  url: string,
  caPem: string,
  creds: { accessKeyId: string; accessKeySecret: string; securityToken?: string },
  options: { signatureV1?: boolean } = {},
) {
  const { host, protocol } = new URL(url);
  const Ctor = sdk.default;
  return new Ctor(
    new openapiCore.$OpenApiUtil.Config({
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      ...(creds.securityToken === undefined ? {} : { securityToken: creds.securityToken }),
      endpoint: host,
      protocol: protocol.replace(":", ""),
      regionId: TEST_REGION,
      ca: caPem,
      // "v2" selects the RPC signature V1 (HMAC-SHA1) path; the default is V3 (ACS3-HMAC-SHA256).
      ...(options.signatureV1 === true ? { signatureAlgorithm: "v2" } : {}),
    }),
  );
}

/** `@alicloud/openapi-client`'s generic callApi (there is no ActionTrail SDK on npm): one RPC call. */
export async function callRpc(
  url: string,
  caPem: string,
  creds: { accessKeyId: string; accessKeySecret: string; securityToken?: string },
  call: { action: string; version: string; query?: Record<string, string>; signatureV1?: boolean },
): Promise<Record<string, unknown>> {
  const { host, protocol } = new URL(url);
  const client = new openapiClient.default(
    new openapiClient.Config({
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      ...(creds.securityToken === undefined ? {} : { securityToken: creds.securityToken }),
      endpoint: host,
      protocol: protocol.replace(":", ""),
      regionId: TEST_REGION,
      ca: caPem,
      ...(call.signatureV1 === true ? { signatureAlgorithm: "v2" } : {}),
    }),
  );
  const res = await client.callApi(
    new openapiClient.Params({
      action: call.action,
      version: call.version,
      protocol: protocol.replace(":", "").toUpperCase(),
      pathname: "/",
      method: "POST",
      authType: "AK",
      style: "RPC",
      reqBodyType: "formData",
      bodyType: "json",
    }),
    new openapiClient.OpenApiRequest({ query: call.query ?? {} }),
    new teaUtil.RuntimeOptions({ ca: caPem }),
  );
  return res.body;
}

/** The Alibaba error code an SDK call failed with. */
export async function sdkErrorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: unknown; data?: { Code?: unknown } };
    return String(e.data?.Code ?? e.code ?? err);
  }
  throw new Error("the call succeeded");
}
