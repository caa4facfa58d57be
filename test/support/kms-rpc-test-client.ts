import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { computeSignatureV1 } from "../../src/kms/signature/v1.js";
import { acsTimestamp, signRequestV3 } from "../../src/kms/signature/v3.js";

/**
 * A minimal signed RPC client for our own tests and benchmark (the product client is src/kms/client/).
 * It exposes the raw status and JSON body, and lets a test override the timestamp, nonce or signature.
 */
export interface RawCallOptions {
  timestamp?: string;
  nonce?: string;
  /** Replaces the computed signature (wrong-signature tests). */
  signature?: string;
  headers?: Record<string, string>;
  method?: "GET" | "POST";
  signatureVersion?: "v1" | "v3";
  /** Sign with this secret instead of the client's. */
  secret?: string;
}

export interface RawResponse {
  status: number;
  body: Record<string, unknown>;
}

/** An action's V1 (HMAC-SHA1) parameters, signed as the SDKs sign them; `options` may fix nonce, timestamp or signature. */
export function signedParamsV1(
  method: string,
  action: string,
  params: Record<string, string>,
  creds: { accessKeyId: string; accessKeySecret: string },
  options: Pick<RawCallOptions, "nonce" | "timestamp" | "signature"> = {},
): Record<string, string> {
  const all: Record<string, string> = {
    Action: action,
    Version: "2016-01-20",
    Format: "JSON",
    AccessKeyId: creds.accessKeyId,
    SignatureMethod: "HMAC-SHA1",
    SignatureVersion: "1.0",
    SignatureNonce: options.nonce ?? randomUUID(),
    Timestamp: options.timestamp ?? acsTimestamp(new Date()),
    ...params,
  };
  all.Signature = options.signature ?? computeSignatureV1(method, all, creds.accessKeySecret);
  return all;
}

export class KmsRpcTestClient {
  readonly #url: URL;
  readonly #ak: string;
  readonly #secret: string;
  readonly #agent: http.Agent;
  readonly #defaults: { method: "GET" | "POST"; signatureVersion: "v1" | "v3" };

  constructor(options: {
    url: string;
    accessKeyId: string;
    accessKeySecret: string;
    caCertPem?: string | undefined;
    method?: "GET" | "POST";
    signatureVersion?: "v1" | "v3";
    maxSockets?: number;
  }) {
    this.#url = new URL(options.url);
    this.#ak = options.accessKeyId;
    this.#secret = options.accessKeySecret;
    this.#defaults = { method: options.method ?? "POST", signatureVersion: options.signatureVersion ?? "v1" };
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    this.#agent =
      this.#url.protocol === "https:"
        ? new https.Agent({
            ...agentOptions,
            ...(options.caCertPem === undefined ? {} : { ca: options.caCertPem }),
          })
        : new http.Agent(agentOptions);
  }

  close(): void {
    this.#agent.destroy();
  }

  /** Calls an action; returns the body on 200 and throws an Error carrying `code`/`status` otherwise. */
  async call(
    action: string,
    params: Record<string, string> = {},
    options: RawCallOptions = {},
  ): Promise<Record<string, unknown>> {
    const res = await this.raw(action, params, options);
    if (res.status !== 200) {
      const err = new Error(`${action}: ${String(res.body.Code)}: ${String(res.body.Message)}`) as Error & {
        code?: unknown;
        status?: number;
        body?: unknown;
      };
      err.code = res.body.Code;
      err.status = res.status;
      err.body = res.body;
      throw err;
    }
    return res.body;
  }

  raw(
    action: string,
    params: Record<string, string> = {},
    options: RawCallOptions = {},
  ): Promise<RawResponse> {
    const method = options.method ?? this.#defaults.method;
    const version = options.signatureVersion ?? this.#defaults.signatureVersion;
    const secret = options.secret ?? this.#secret;
    let path = "/";
    let body = "";
    let headers: Record<string, string> = {};
    if (version === "v1") {
      const all = signedParamsV1(
        method,
        action,
        params,
        { accessKeyId: this.#ak, accessKeySecret: secret },
        options,
      );
      const qs = new URLSearchParams(all).toString();
      if (method === "GET") path = `/?${qs}`;
      else {
        body = qs;
        headers["content-type"] = "application/x-www-form-urlencoded";
      }
    } else {
      if (method === "GET") {
        const qs = new URLSearchParams(params).toString();
        if (qs !== "") path = `/?${qs}`;
      } else body = new URLSearchParams(params).toString();
      headers = signRequestV3({
        method,
        host: this.#url.host,
        action,
        version: "2016-01-20",
        body,
        ...(method === "GET" ? { query: params } : { contentType: "application/x-www-form-urlencoded" }),
        accessKeyId: this.#ak,
        accessKeySecret: secret,
        ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
        ...(options.timestamp === undefined ? {} : { date: new Date(options.timestamp) }),
      });
      if (options.signature !== undefined)
        headers.authorization = headers.authorization!.replace(
          /Signature=[0-9a-f]+$/,
          `Signature=${options.signature}`,
        );
    }
    headers = { ...headers, ...(options.headers ?? {}) };
    const lib = this.#url.protocol === "https:" ? https : http;
    return new Promise<RawResponse>((resolve, reject) => {
      const req = lib.request(
        {
          hostname: this.#url.hostname,
          port: this.#url.port,
          path,
          method,
          headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
          agent: this.#agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: { raw: text } });
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }
}
