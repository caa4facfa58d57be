import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { AtrestError } from "../../common/errors.js";
import { signRequestV3 } from "../../iam/signature/index.js";
import { CS_API_VERSION } from "../service/audit.js";

export interface CsClientOptions {
  /** http(s)://host:port of the control plane. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly securityToken?: string;
  /** PEM of the CA that signed the server's certificate. */
  readonly caPem?: string;
}

/**
 * A small signed ROA client of the control plane (V3, ACS3-HMAC-SHA256, as the official SDK signs)
 * for the CLI's atrest extensions (register, roles). The cs operations themselves are for the official
 * `@alicloud/cs20151215` client; this one signs the same way. Errors are AtrestErrors carrying ACK's
 * code (`details.acsCode`) and the requestId.
 */
export class CsClient {
  constructor(private readonly o: CsClientOptions) {}

  async call(
    action: string,
    method: "GET" | "PUT" | "POST",
    pathname: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(pathname, this.o.endpoint);
    const payload = body === undefined ? "" : JSON.stringify(body);
    const headers = signRequestV3({
      method,
      host: url.host,
      pathname: url.pathname,
      action,
      version: CS_API_VERSION,
      body: payload,
      ...(body === undefined ? {} : { contentType: "application/json; charset=utf-8" }),
      accessKeyId: this.o.accessKeyId,
      accessKeySecret: this.o.accessKeySecret,
      ...(this.o.securityToken === undefined ? {} : { securityToken: this.o.securityToken }),
    });
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(
        url,
        { method, headers, ...(this.o.caPem === undefined ? {} : { ca: this.o.caPem }) },
        (r: IncomingMessage) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () =>
            resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          r.on("error", reject);
        },
      );
      req.on("error", (err) =>
        reject(
          new AtrestError("unavailable", `control plane ${this.o.endpoint}: ${err.message}`, { cause: err }),
        ),
      );
      req.end(payload);
    });
    const parsed: unknown = res.text === "" ? undefined : JSON.parse(res.text);
    if (res.status >= 400) {
      const e = (parsed ?? {}) as { code?: string; message?: string; requestId?: string };
      throw new AtrestError(
        res.status === 403
          ? "permission-denied"
          : res.status === 404
            ? "not-found"
            : res.status === 409
              ? "conflict"
              : res.status >= 500
                ? "unavailable"
                : "invalid-argument",
        `${action}: ${e.code ?? res.status}: ${e.message ?? ""} (requestId ${e.requestId ?? "?"})`,
        { details: { acsCode: e.code ?? "", requestId: e.requestId ?? "" } },
      );
    }
    return { status: res.status, body: parsed };
  }
}
