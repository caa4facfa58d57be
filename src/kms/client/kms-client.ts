import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { AtrestError, type ErrorCode } from "../../common/errors.js";
import { computeSignatureV1 } from "../../iam/signature/v1.js";
import { acsTimestamp } from "../../iam/signature/v3.js";

/** The API version atrest kms (and Alibaba Cloud KMS) speaks. */
export const KMS_API_VERSION = "2016-01-20";

export interface KmsClientOptions {
  /** `https://host:port` (plain `http://` only for a server started with --insecure-http). */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly regionId?: string;
  /** PEM file of the CA that signed the server's certificate (e.g. DATA_DIR/tls/ca.crt). */
  readonly caFile?: string;
  /** Or the PEM itself. */
  readonly caPem?: string;
  /** STS token, sent as SecurityToken. */
  readonly securityToken?: string;
  /** Per-request timeout; default 30 s. */
  readonly timeoutMs?: number;
  /** "POST" (default: parameters in a form body) or "GET" (in the query string). */
  readonly method?: "GET" | "POST";
  /** Injected for tests. */
  readonly now?: () => Date;
  readonly nonce?: () => string;
}

/** Parameters every signed request carries; an action's own parameters cannot use these names. */
const COMMON_PARAMETERS = new Set([
  "Action",
  "Version",
  "Format",
  "AccessKeyId",
  "SignatureMethod",
  "SignatureVersion",
  "SignatureNonce",
  "Timestamp",
  "Signature",
  "SecurityToken",
]);

/** Parameter values; numbers and booleans are sent as their string form, undefined ones are left out. */
export type KmsParams = Readonly<Record<string, string | number | boolean | undefined>>;

/** Maps the HTTP status of a KMS error answer to our ErrorCode (KMS's own code goes in details). */
function errorCodeFor(status: number, kmsCode: string): ErrorCode {
  if (
    kmsCode.startsWith("Signature") ||
    kmsCode.startsWith("InvalidTimeStamp.Expired") ||
    kmsCode.startsWith("InvalidAccessKeyId") ||
    kmsCode === "IncompleteSignature"
  ) {
    return "unauthenticated";
  }
  if (kmsCode === "Forbidden.RAM") return "permission-denied";
  // KMS's and RAM's spellings of "already there" (RAM answers 409 for both kinds of conflict).
  if (kmsCode === "Rejected.ResourceExist" || kmsCode.startsWith("EntityAlreadyExists"))
    return "already-exists";
  if (kmsCode === "InvalidAction.NotFound") return "unimplemented";
  if (status === 404) return "not-found";
  if (status === 403) return "permission-denied";
  if (status === 409) return "failed-precondition";
  if (status === 429) return "resource-exhausted";
  if (status === 503 || status === 502 || status === 504) return "unavailable";
  if (status >= 500) return "internal";
  return "invalid-argument";
}

/**
 * A signed RPC client for atrest kms and Alibaba Cloud KMS: signature V1 (HMAC-SHA1), JSON responses,
 * HTTPS with an optional private CA. Errors become AtrestError with `details.kmsCode`,
 * `details.httpStatus` and `details.requestId`.
 */
export class KmsClient {
  readonly #url: URL;
  readonly #options: KmsClientOptions;
  readonly #agent: http.Agent;

  constructor(options: KmsClientOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch (err) {
      throw new AtrestError("invalid-argument", `endpoint: not a URL: ${options.endpoint}`, { cause: err });
    }
    if (url.protocol !== "https:" && url.protocol !== "http:")
      throw new AtrestError("invalid-argument", "endpoint: must start with https:// (or http://)");
    if (options.accessKeyId === "" || options.accessKeySecret === "")
      throw new AtrestError("invalid-argument", "accessKeyId and accessKeySecret are required");
    this.#url = url;
    this.#options = options;
    if (url.protocol === "https:") {
      let ca: string | undefined = options.caPem;
      if (ca === undefined && options.caFile !== undefined) {
        try {
          ca = readFileSync(options.caFile, "utf8");
        } catch (err) {
          throw new AtrestError("invalid-argument", `caFile: cannot read ${options.caFile}`, { cause: err });
        }
      }
      this.#agent = new https.Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) });
    } else {
      this.#agent = new http.Agent({ keepAlive: true });
    }
  }

  get endpoint(): string {
    return this.#url.origin;
  }

  /**
   * Calls one action; resolves with the response JSON (which includes RequestId). `version` selects
   * another RPC API on the endpoint (the identity endpoint's STS 2015-04-01, RAM 2015-05-01,
   * ActionTrail 2020-07-06); the signing is the same.
   */
  async call(
    action: string,
    params: KmsParams = {},
    options: { version?: string } = {},
  ): Promise<Record<string, unknown>> {
    const o = this.#options;
    const signed: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined) continue;
      // An action parameter spelled like a common one would be overwritten by it (and, for
      // AccessKeyId, silently name the caller's own key): refuse instead.
      if (COMMON_PARAMETERS.has(k))
        throw new AtrestError(
          "invalid-argument",
          `${action}: parameter ${k} collides with the common request parameter of that name`,
        );
      signed[k] = String(v);
    }
    Object.assign(signed, {
      Action: action,
      Version: options.version ?? KMS_API_VERSION,
      Format: "JSON",
      AccessKeyId: o.accessKeyId,
      SignatureMethod: "HMAC-SHA1",
      SignatureVersion: "1.0",
      SignatureNonce: (o.nonce ?? randomUUID)(),
      Timestamp: acsTimestamp((o.now ?? (() => new Date()))()),
    });
    if (o.regionId !== undefined && signed["RegionId"] === undefined) signed["RegionId"] = o.regionId;
    if (o.securityToken !== undefined) signed["SecurityToken"] = o.securityToken;
    const method = o.method ?? "POST";
    signed["Signature"] = computeSignatureV1(method, signed, o.accessKeySecret);
    const encoded = new URLSearchParams(signed).toString();
    const url = new URL("/", this.#url);
    let body: Buffer | undefined;
    if (method === "GET") url.search = encoded;
    else body = Buffer.from(encoded, "utf8");
    const { status, text } = await this.#send(url, method, body, action);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new AtrestError(
        status >= 500 ? "unavailable" : "internal",
        `${action}: the KMS answered HTTP ${status} with a body that is not JSON`,
        {
          cause: err,
          details: { httpStatus: status, action },
        },
      );
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) {
      throw new AtrestError("internal", `${action}: the KMS answered with JSON that is not an object`, {
        details: { httpStatus: status, action },
      });
    }
    const obj = json as Record<string, unknown>;
    if (status >= 200 && status < 300 && obj["Code"] === undefined) return obj;
    const kmsCode = typeof obj["Code"] === "string" ? obj["Code"] : `HTTP${status}`;
    const message = typeof obj["Message"] === "string" ? obj["Message"] : "";
    throw new AtrestError(
      errorCodeFor(status, kmsCode),
      `${action} failed: ${kmsCode}${message === "" ? "" : `: ${message}`}`,
      {
        details: { kmsCode, httpStatus: status, requestId: obj["RequestId"], action },
      },
    );
  }

  #send(
    url: URL,
    method: "GET" | "POST",
    body: Buffer | undefined,
    action: string,
  ): Promise<{ status: number; text: string }> {
    const mod = url.protocol === "https:" ? https : http;
    const headers: Record<string, string | number> = { accept: "application/json" };
    if (body !== undefined) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers["content-length"] = body.length;
    }
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        { method, headers, agent: this.#agent, timeout: this.#options.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", (err) =>
            reject(
              new AtrestError("unavailable", `${action}: reading the KMS response failed: ${err.message}`, {
                cause: err,
              }),
            ),
          );
        },
      );
      req.on("timeout", () =>
        req.destroy(new AtrestError("deadline-exceeded", `${action}: the KMS did not answer in time`)),
      );
      req.on("error", (err) => {
        if (err instanceof AtrestError) reject(err);
        else
          reject(
            new AtrestError(
              "unavailable",
              `${action}: cannot reach the KMS at ${this.#url.origin}: ${err.message}`,
              { cause: err, details: { endpoint: this.#url.origin } },
            ),
          );
      });
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
