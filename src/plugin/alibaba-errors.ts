/**
 * Classifies what the Alibaba Cloud KMS API (or the network in front of it) returned into AtrestError
 * codes — whose fault and whether a retry can help. The gRPC mapping is in grpc-status.ts. Messages
 * carry the KMS error Code, HTTP status and RequestId; never the request URL (it holds the signature and
 * any STS token) nor a raw transport message.
 */
import { AtrestError, type ErrorCode } from "../common/errors.js";
import { KmsHttpError } from "./alibaba-sdk-client.js";

interface Rule {
  readonly test: (code: string) => boolean;
  readonly errorCode: ErrorCode;
  readonly hint: string;
}

const exact =
  (...codes: string[]) =>
  (code: string) =>
    codes.includes(code);
const prefix =
  (...prefixes: string[]) =>
  (code: string) =>
    prefixes.some((p) => code.startsWith(p));

/** First match wins. Codes as Alibaba Cloud KMS spells them (DESIGN.md §7). */
const RULES: readonly Rule[] = [
  {
    test: exact("Rejected.Disabled"),
    errorCode: "failed-precondition",
    hint: "the KMS key is disabled; enable it (EnableKey) or point --key-id at an enabled key",
  },
  {
    test: exact("Rejected.PendingDeletion"),
    errorCode: "failed-precondition",
    hint: "the KMS key is scheduled for deletion; cancel it (CancelKeyDeletion) or use another key",
  },
  {
    test: prefix(
      "Forbidden.KeyNotFound",
      "Forbidden.KeyVersionNotFound",
      "Forbidden.AliasNotFound",
      "Forbidden.ResourceNotFound",
      "EntityNotExist",
    ),
    errorCode: "failed-precondition",
    hint: "the KMS key or alias does not exist; check --key-id and --region",
  },
  {
    test: prefix("Rejected.Throttling", "Throttling", "Throttling.User", "ServiceUnavailable.Throttling"),
    errorCode: "resource-exhausted",
    hint: "the KMS is throttling the plugin; the apiserver will retry",
  },
  {
    test: prefix(
      "InvalidAccessKeyId",
      "SignatureDoesNotMatch",
      "IncompleteSignature",
      "InvalidSecurityToken",
      "MissingSecurityToken",
    ),
    errorCode: "permission-denied",
    hint: "the KMS rejected the plugin's credentials; check --credentials-file or ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET/SECURITY_TOKEN",
  },
  {
    test: prefix("Forbidden"),
    errorCode: "permission-denied",
    hint: "the plugin's principal is not allowed this action on the key; grant kms:Encrypt and kms:Decrypt on it",
  },
  {
    test: prefix(
      "InvalidCiphertext",
      "Invalid.Ciphertext",
      "InvalidParameter.Ciphertext",
      "Rejected.InvalidCiphertext",
    ),
    errorCode: "data-corrupt",
    hint: "the KMS cannot decrypt this ciphertext (corrupt, or from another key/KMS)",
  },
  {
    test: prefix("InvalidTimeStamp", "SignatureNonceUsed"),
    errorCode: "unavailable",
    hint: "the request was refused for its timestamp or nonce; check the node's clock",
  },
  {
    test: prefix("InternalFailure", "ServiceUnavailable", "InternalError"),
    errorCode: "unavailable",
    hint: "the KMS reported an internal failure",
  },
  { test: prefix("Invalid", "Missing"), errorCode: "invalid-argument", hint: "the KMS rejected a parameter" },
];

const TRANSPORT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);
const TLS_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_NOT_YET_VALID",
]);

function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

export function classifyKmsError(err: unknown, action: string): AtrestError {
  if (err instanceof AtrestError) return err;
  if (err instanceof KmsHttpError) {
    const code = str(err.data["Code"]) ?? str(err.data["code"]) ?? `HTTP${err.httpStatus}`;
    const requestId = str(err.data["RequestId"]) ?? str(err.data["requestId"]);
    const kmsMessage = (str(err.data["Message"]) ?? str(err.data["message"]) ?? "").slice(0, 300);
    const rule = RULES.find((r) => r.test(code));
    const errorCode: ErrorCode =
      rule?.errorCode ??
      (err.httpStatus === 429
        ? "resource-exhausted"
        : err.httpStatus >= 500
          ? "unavailable"
          : err.httpStatus === 403
            ? "permission-denied"
            : "failed-precondition");
    const hint = rule?.hint ?? (err.httpStatus >= 500 ? "the KMS failed" : "the KMS refused the request");
    return new AtrestError(
      errorCode,
      `KMS ${action} failed with ${code} (HTTP ${err.httpStatus}${requestId ? `, RequestId ${requestId}` : ""}): ${hint}${kmsMessage ? ` — KMS says: ${kmsMessage}` : ""}`,
      {
        details: { kmsCode: code, httpStatus: err.httpStatus, ...(requestId ? { requestId } : {}), action },
      },
    );
  }
  const node = err as { code?: unknown; name?: unknown };
  const sysCode = typeof node.code === "string" ? node.code : undefined;
  const name = typeof node.name === "string" ? node.name : "";
  if (sysCode !== undefined && TLS_CODES.has(sysCode)) {
    // A configuration problem, not a transient one: retrying cannot help.
    return new AtrestError(
      "failed-precondition",
      `KMS ${action} failed: TLS verification of the KMS endpoint failed (${sysCode}); give the KMS CA with --ca-file`,
      { details: { transport: sysCode, action } },
    );
  }
  if ((sysCode !== undefined && TRANSPORT_CODES.has(sysCode)) || /Timeout/i.test(name)) {
    const what = sysCode ?? name.replace(/Error$/, "");
    return new AtrestError("unavailable", `KMS ${action} failed: the KMS endpoint is unreachable (${what})`, {
      details: { transport: what, action },
    });
  }
  // Anything else from the transport: never echo its message (it may include the signed URL).
  return new AtrestError(
    "unavailable",
    `KMS ${action} failed: transport error${sysCode ? ` (${sysCode})` : name ? ` (${name})` : ""}`,
    { details: { action } },
  );
}
