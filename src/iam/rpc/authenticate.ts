import { createHash } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import type { CallerIdentity } from "../caller.js";
import { iamError } from "../iam-error.js";
import type { IdentityStore } from "../identity-store.js";
import { constantTimeEqual } from "../signature/constant-time.js";
import { HTTP_DATE, SIGNATURE_SCHEME_ROA } from "../signature/roa.js";
import { computeSignatureV1 } from "../signature/v1.js";
import {
  computeSignatureV3,
  parseAuthorizationV3,
  REQUIRED_SIGNED_HEADERS_V3,
  SIGNATURE_ALGORITHM_V3,
} from "../signature/v3.js";
import { readRoaRequest } from "./roa-request.js";
import { header, type RpcHttpRequest } from "./rpc-request.js";

/** Accepted clock skew of a request's timestamp, as Alibaba Cloud (±15 minutes). */
export const TIMESTAMP_WINDOW_MS = 15 * 60_000;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export interface AuthenticatedRpc {
  readonly caller: CallerIdentity;
  readonly action: string;
  readonly version: string;
}

export interface RpcAuthenticationDeps {
  readonly identity: IdentityStore;
  readonly clock: Clock;
  /**
   * The action of the ROA operation being served (its method and path name it): when given, the
   * older SDKs' `acs <AccessKeyId>:<signature>` (pop-core's ROAClient) is accepted too. RPC
   * endpoints leave it out: Alibaba's RPC APIs take no ROA signature.
   */
  readonly roaAction?: string;
  /** True when the nonce was not used before by this access key (it is now recorded until `expiresAt`). */
  reserveNonce(accessKeyId: string, nonce: string, expiresAt: number): Promise<boolean>;
  /** Progress, for the caller's audit record and failure budget; `knownKey` may throw to refuse. */
  readonly observe?: {
    accessKeyId?(accessKeyId: string): void;
    knownKey?(caller: CallerIdentity): void;
    verified?(caller: CallerIdentity): void;
  };
}

const missing = (name: string) =>
  iamError(
    "MissingParameter",
    `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
  );

/**
 * The authentication every signed API shares (KMS, STS, RAM, ActionTrail, and the cs API's ROA
 * operations): signature V1 (the SecurityToken parameter for STS credentials), V3
 * (`x-acs-security-token`, signed) or, on ROA operations, the ROA `acs AK:sig` (`x-acs-security-token`,
 * signed as every x-acs-* header; its time is the Date header) → credential
 * (permanent, or an STS session whose token opens) → constant-time signature check → session expiry
 * → timestamp window → nonce. Errors are Alibaba's codes (iam-error.ts); nothing secret in them.
 */
export async function authenticateRpc(
  req: RpcHttpRequest,
  params: Readonly<Record<string, string>>,
  deps: RpcAuthenticationDeps,
): Promise<AuthenticatedRpc> {
  const authorization = header(req.headers, "authorization");
  let accessKeyId: string;
  let action: string;
  let version: string;
  let timestamp: string;
  /** The time field's name and format (ISO 8601 UTC, or the HTTP Date header's IMF-fixdate). */
  let timeField = { name: "Timestamp", format: ISO_UTC, example: "2026-01-01T00:00:00Z" };
  let nonce: string;
  let nonceName = "SignatureNonce";
  let securityToken: string | undefined;
  let verify: (secret: string) => boolean;

  if (authorization !== undefined && authorization.startsWith(SIGNATURE_ALGORITHM_V3)) {
    let parsed: ReturnType<typeof parseAuthorizationV3>;
    try {
      parsed = parseAuthorizationV3(authorization);
    } catch {
      throw iamError(
        "IncompleteSignature",
        "The Authorization header is not a valid ACS3-HMAC-SHA256 authorization.",
      );
    }
    accessKeyId = parsed.accessKeyId;
    action = header(req.headers, "x-acs-action") ?? params["Action"] ?? "";
    version = header(req.headers, "x-acs-version") ?? params["Version"] ?? "";
    timestamp = header(req.headers, "x-acs-date") ?? "";
    nonce = header(req.headers, "x-acs-signature-nonce") ?? "";
    securityToken = header(req.headers, "x-acs-security-token");
    const signed = new Set(parsed.signedHeaders);
    const required =
      securityToken === undefined
        ? REQUIRED_SIGNED_HEADERS_V3
        : [...REQUIRED_SIGNED_HEADERS_V3, "x-acs-security-token"];
    for (const h of required)
      if (!signed.has(h)) throw iamError("IncompleteSignature", `SignedHeaders: must include ${h}`);
    const bodySha256Hex = createHash("sha256").update(req.rawBody).digest("hex");
    const claimed = header(req.headers, "x-acs-content-sha256") ?? "";
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
    verify = (secret) => {
      if (!constantTimeEqual(claimed, bodySha256Hex)) return false;
      const expected = computeSignatureV3({
        method: req.method,
        pathname: req.pathname,
        query: req.query,
        headers,
        signedHeaders: parsed.signedHeaders,
        bodySha256Hex,
        accessKeySecret: secret,
      });
      return constantTimeEqual(expected, parsed.signature);
    };
  } else if (
    deps.roaAction !== undefined &&
    authorization !== undefined &&
    authorization.startsWith(`${SIGNATURE_SCHEME_ROA} `)
  ) {
    const roa = readRoaRequest(req, authorization, deps.roaAction);
    ({ accessKeyId, action, version, timestamp, nonce, securityToken, verify } = roa);
    timeField = { name: "Date", format: HTTP_DATE, example: "Wed, 02 Dec 2026 14:00:00 GMT" };
    nonceName = "x-acs-signature-nonce";
  } else {
    if (params["Signature"] === undefined) throw missing("Signature");
    accessKeyId = params["AccessKeyId"] ?? "";
    if (accessKeyId === "") throw missing("AccessKeyId");
    if ((params["SignatureMethod"] ?? "") !== "HMAC-SHA1")
      throw iamError("UnsupportedSignatureMethod", "SignatureMethod: must be HMAC-SHA1");
    if ((params["SignatureVersion"] ?? "1.0") !== "1.0")
      throw iamError("InvalidParameter", "SignatureVersion: must be 1.0");
    action = params["Action"] ?? "";
    version = params["Version"] ?? "";
    timestamp = params["Timestamp"] ?? "";
    nonce = params["SignatureNonce"] ?? "";
    securityToken = params["SecurityToken"];
    const provided = params["Signature"];
    verify = (secret) => constantTimeEqual(computeSignatureV1(req.method, params, secret), provided);
  }
  deps.observe?.accessKeyId?.(accessKeyId);
  const credential = await deps.identity.resolveAccessKey(accessKeyId, securityToken);
  if (credential === undefined)
    throw iamError(
      "InvalidAccessKeyId.NotFound",
      "The Access Key ID provided does not exist in our records.",
    );
  deps.observe?.knownKey?.(credential.caller);
  if (!verify(credential.secret))
    throw iamError(
      "SignatureDoesNotMatch",
      "The request signature does not conform to Aliyun standards: the signature does not match.",
    );
  deps.observe?.verified?.(credential.caller);
  deps.identity.assertSessionLive(credential.caller);
  if (timestamp === "") throw missing(timeField.name);
  if (!timeField.format.test(timestamp))
    throw iamError(
      "InvalidTimeStamp.Format",
      `${timeField.name}: must be ${timeField.name === "Date" ? "an HTTP date" : "UTC ISO 8601"} like ${timeField.example}`,
    );
  const at = Date.parse(timestamp);
  const now = deps.clock.now();
  if (!Number.isFinite(at) || Math.abs(now - at) > TIMESTAMP_WINDOW_MS)
    throw iamError(
      "InvalidTimeStamp.Expired",
      "Specified time stamp or date value is expired (accepted: ±15 minutes of the server time).",
    );
  if (nonce === "" || nonce.length > 128)
    throw iamError(
      "MissingParameter",
      `The input parameter "${nonceName}" (1-128 characters) is not supplied.`,
    );
  // The nonce is remembered past the far edge of the window, so a replay is refused for as long as
  // its timestamp could be accepted.
  const fresh = await deps.reserveNonce(accessKeyId, nonce, Math.max(at, now) + TIMESTAMP_WINDOW_MS + 60_000);
  if (!fresh) throw iamError("SignatureNonceUsed", "Specified signature nonce was used already.");
  if (action === "") throw missing("Action");
  return { caller: credential.caller, action, version };
}
