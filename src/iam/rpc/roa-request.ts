import { iamError } from "../iam-error.js";
import { constantTimeEqual } from "../signature/constant-time.js";
import { computeSignatureRoa, contentMd5, parseAuthorizationRoa } from "../signature/roa.js";
import { header, type RpcHttpRequest } from "./rpc-request.js";

/** What authenticateRpc needs of an ROA-signed (`acs AK:sig`) request. */
export interface RoaSignedRequest {
  readonly accessKeyId: string;
  readonly action: string;
  readonly version: string;
  /** The Date header (an HTTP date), "" when absent. */
  readonly timestamp: string;
  readonly nonce: string;
  readonly securityToken: string | undefined;
  /** True when the signature (and the body, through Content-MD5 when sent) is the secret's. */
  readonly verify: (secret: string) => boolean;
}

/**
 * Reads an ROA request signed as pop-core's ROAClient signs (src/iam/signature/roa.ts): the access key
 * and signature of `Authorization`, the served operation's action (a signed `x-acs-action`, when
 * sent, must be checked against it by the caller), `x-acs-version`, `Date`, `x-acs-signature-nonce`,
 * `x-acs-security-token`. Refuses what no such client sends: another signature method or version,
 * an `x-acs-accesskey-id` naming another key, a query parameter given twice.
 */
export function readRoaRequest(
  req: RpcHttpRequest,
  authorization: string,
  roaAction: string,
): RoaSignedRequest {
  let parsed: ReturnType<typeof parseAuthorizationRoa>;
  try {
    parsed = parseAuthorizationRoa(authorization);
  } catch {
    throw iamError(
      "IncompleteSignature",
      "The Authorization header is not a valid 'acs AccessKeyId:Signature'.",
    );
  }
  const accessKeyId = parsed.accessKeyId;
  if ((header(req.headers, "x-acs-signature-method") ?? "HMAC-SHA1") !== "HMAC-SHA1")
    throw iamError("UnsupportedSignatureMethod", "x-acs-signature-method: must be HMAC-SHA1");
  if ((header(req.headers, "x-acs-signature-version") ?? "1.0") !== "1.0")
    throw iamError("InvalidParameter", "x-acs-signature-version: must be 1.0");
  const namedKey = header(req.headers, "x-acs-accesskey-id");
  if (namedKey !== undefined && namedKey !== accessKeyId)
    throw iamError("IncompleteSignature", "x-acs-accesskey-id: must be the access key of the Authorization");
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (Array.isArray(v))
      throw iamError("InvalidParameter", `query parameter ${k.slice(0, 64)}: given twice`);
    query[k] = v;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
  const md5 = headers["content-md5"];
  // The body is signed through Content-MD5 when the client sends one (pop-core always does; the
  // SDKs' signature v2 does not, and then the body is unsigned, as on Alibaba Cloud).
  const bodyMatches = md5 === undefined || constantTimeEqual(md5, contentMd5(req.rawBody));
  return {
    accessKeyId,
    // The action is the operation's (its method and path); a client naming one must name that one.
    action: header(req.headers, "x-acs-action") ?? roaAction,
    version: header(req.headers, "x-acs-version") ?? "",
    timestamp: header(req.headers, "date") ?? "",
    nonce: header(req.headers, "x-acs-signature-nonce") ?? "",
    securityToken: header(req.headers, "x-acs-security-token"),
    verify: (secret) =>
      bodyMatches &&
      constantTimeEqual(
        computeSignatureRoa({
          method: req.method,
          pathname: req.pathname,
          query,
          headers,
          accessKeySecret: secret,
        }),
        parsed.signature,
      ),
  };
}
