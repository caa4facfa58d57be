/**
 * The official Alibaba Cloud KMS SDK (`@alicloud/kms20160120`, Signature V1 over `@alicloud/rpc-client`)
 * with one override. rpc-client 1.3.2's `doRequest` silently drops two RuntimeOptions fields that newer
 * SDK generations honour and that the plugin needs: `ca` (a private CA for atrest kms or a VPC endpoint)
 * and `extendsParameters.headers` (the per-call `x-atrest-uid` that lands in the KMS audit record).
 * The override below is rpc-client's request, built the same way, plus those two fields — and exactly one
 * attempt: the plugin retries itself, only transient errors, inside the caller's deadline.
 * No stock hook can carry them instead: rpc-client builds its runtime options and headers inside
 * `doRequest` itself. alibaba-sdk-client.test.ts proves the override's requests are byte-identical to
 * the stock `doRequest`'s (query, headers, body, signature) but for the added headers — re-check this
 * override whenever the SDK or rpc-client is upgraded.
 */
import { createRequire } from "node:module";
import type * as KmsSdkModule from "@alicloud/kms20160120";
import type * as RpcClientModule from "@alicloud/rpc-client";
import type * as TeaModule from "@alicloud/tea-typescript";

const require = createRequire(import.meta.url);
// Resolved through the SDK's own dependency chain so the transport is the very copy the SDK uses.
const sdkRequire = createRequire(require.resolve("@alicloud/rpc-client"));

/** The SDK's module.exports: the Client class as `default`, the request/response models by name. */
export const kmsSdk = require("@alicloud/kms20160120") as typeof KmsSdkModule.default;
const rpcClient = require("@alicloud/rpc-client") as typeof RpcClientModule.default;
const tea = sdkRequire("@alicloud/tea-typescript") as typeof TeaModule;

interface TeaUtil {
  getNonce(): string;
  toFormString(value: Record<string, unknown>): string;
  anyifyMapValue(value: Record<string, string>): Record<string, unknown>;
  readAsJSON(stream: unknown): Promise<unknown>;
}
interface RpcUtil {
  query(value: Record<string, unknown>): Record<string, string>;
  getTimestamp(): string;
  getSignatureV1(query: Record<string, string>, method: string, secret: string): string;
}
const teaUtil = (sdkRequire("@alicloud/tea-util") as { default: TeaUtil }).default;
const rpcUtil = (sdkRequire("@alicloud/rpc-util") as { default: RpcUtil }).default;

/** The RuntimeOptions fields this client honours (named as in `@alicloud/tea-util`'s RuntimeOptions). */
export interface SdkCallOptions {
  readonly readTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** A failed KMS response, as the SDK reports it: the KMS error JSON in `data`, and the HTTP status. */
export class KmsHttpError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly data: Readonly<Record<string, unknown>>,
  ) {
    super(`KMS HTTP ${httpStatus}`);
    this.name = "KmsHttpError";
  }
}

export type SdkConfig = InstanceType<typeof rpcClient.Config>;
export const SdkConfig = rpcClient.Config;

/** Credentials read per request (STS credentials that are renewed while the client lives). */
export type CredentialsSource = () => {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
};

export class AtrestKmsSdkClient extends kmsSdk.default {
  private readonly caPem: string | undefined;
  private readonly credentialsSource: CredentialsSource | undefined;

  constructor(config: SdkConfig, caPem: string | undefined, credentialsSource?: CredentialsSource) {
    super(config);
    this.caPem = caPem;
    this.credentialsSource = credentialsSource;
  }

  override async doRequest(
    action: string,
    protocol: string,
    method: string,
    version: string,
    authType: string,
    query: Record<string, unknown>,
    body: Record<string, unknown> | null,
    runtime: {
      readTimeout?: number;
      connectTimeout?: number;
      extendsParameters?: { headers?: Record<string, string> };
    },
  ): Promise<Record<string, unknown>> {
    const request = new tea.Request();
    request.protocol = this._protocol || protocol;
    request.method = method;
    request.pathname = "/";
    request.query = rpcUtil.query({
      Action: action,
      Format: "json",
      Timestamp: rpcUtil.getTimestamp(),
      Version: version,
      SignatureNonce: teaUtil.getNonce(),
      ...query,
    });
    request.headers = {
      ...(runtime.extendsParameters?.headers ?? {}),
      "x-acs-version": version,
      "x-acs-action": action,
      host: this._endpoint,
      "user-agent": this.getUserAgent(),
    };
    if (body !== null && body !== undefined) {
      request.body = new tea.BytesReadable(teaUtil.toFormString(teaUtil.anyifyMapValue(rpcUtil.query(body))));
      request.headers["content-type"] = "application/x-www-form-urlencoded";
    }
    if (authType !== "Anonymous") {
      // One snapshot of all three values: a renewal between them would mix two sessions' credentials.
      const source = this.credentialsSource?.();
      const accessKeyId = source?.accessKeyId ?? (await this.getAccessKeyId());
      const accessKeySecret = source?.accessKeySecret ?? (await this.getAccessKeySecret());
      const securityToken = source === undefined ? await this.getSecurityToken() : source.securityToken;
      if (securityToken) request.query["SecurityToken"] = securityToken;
      request.query["SignatureMethod"] = "HMAC-SHA1";
      request.query["SignatureVersion"] = "1.0";
      request.query["AccessKeyId"] = accessKeyId;
      const signed = { ...request.query, ...(body ? rpcUtil.query(body) : {}) };
      request.query["Signature"] = rpcUtil.getSignatureV1(signed, request.method, accessKeySecret);
    }
    const response = await tea.doAction(request, {
      readTimeout: runtime.readTimeout ?? this._readTimeout,
      connectTimeout: runtime.connectTimeout ?? this._connectTimeout,
      ...(this.caPem !== undefined ? { ca: this.caPem } : {}),
    });
    const parsed = await teaUtil.readAsJSON(response.body).catch(() => ({}));
    const data = parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
    if (response.statusCode >= 400) throw new KmsHttpError(response.statusCode, data);
    return data;
  }
}

/** RuntimeOptions for one call; `doRequest` above reads these fields. */
export function sdkRuntime(options: SdkCallOptions): InstanceType<typeof tea.Model> {
  return {
    readTimeout: options.readTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    extendsParameters: { headers: { ...options.headers } },
  } as unknown as InstanceType<typeof tea.Model>;
}
