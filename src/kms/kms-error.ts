import { AtrestError, type ErrorCode } from "../common/errors.js";
import { SIGNED_API_ERROR_CODES } from "../iam/iam-error.js";

/**
 * The Alibaba Cloud KMS error codes atrest kms answers with, their HTTP status and our ErrorCode.
 * This is the one table that maps KMS failures to the wire (STYLE.md habit 5). Codes are spelled as
 * the real service spells them (OpenAPI 2016-01-20 common and per-action error codes).
 */
export const KMS_ERROR_CODES = {
  ...SIGNED_API_ERROR_CODES,
  "InvalidParameter.EncryptionContext": { status: 400, code: "invalid-argument" },
  InvalidCiphertext: { status: 400, code: "invalid-argument" },
  /** A method the API does not take (Alibaba's gateway code and message). */
  UnsupportedHTTPMethod: { status: 405, code: "invalid-argument" },
  /** A request body over the limit (no public gateway code for it: OSS's name for the same refusal). */
  EntityTooLarge: { status: 413, code: "invalid-argument" },
  "Forbidden.RAM": { status: 403, code: "permission-denied" },
  "Forbidden.KeyNotFound": { status: 404, code: "not-found" },
  "Forbidden.KeyVersionNotFound": { status: 404, code: "not-found" },
  "Forbidden.AliasNotFound": { status: 404, code: "not-found" },
  "Forbidden.ResourceNotFound": { status: 404, code: "not-found" },
  "Forbidden.ResourceProtected": { status: 403, code: "failed-precondition" },
  "Rejected.Disabled": { status: 409, code: "failed-precondition" },
  "Rejected.PendingDeletion": { status: 409, code: "failed-precondition" },
  "Rejected.NotPendingDeletion": { status: 409, code: "failed-precondition" },
  "Rejected.ResourceExist": { status: 409, code: "already-exists" },
  "Rejected.ResourceInUse": { status: 409, code: "failed-precondition" },
  /** atrest: the key is needed by a cluster (an atrest:cluster:<name> tag); Force=true overrides. */
  "Rejected.KeyInUse": { status: 409, code: "failed-precondition" },
  "Rejected.UnsupportedOperation": { status: 409, code: "failed-precondition" },
  InternalFailure: { status: 500, code: "internal" },
  ServiceUnavailableTemporary: { status: 503, code: "unavailable" },
} as const satisfies Record<string, { status: number; code: ErrorCode }>;

export type KmsErrorCode = keyof typeof KMS_ERROR_CODES;

/** Creates the one error type with the Alibaba code in `details.kmsCode`. Messages never hold secrets. */
export function kmsError(
  kmsCode: KmsErrorCode,
  message: string,
  options: { cause?: unknown; details?: Record<string, unknown> } = {},
): AtrestError {
  return new AtrestError(KMS_ERROR_CODES[kmsCode].code, message, {
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    details: { ...(options.details ?? {}), kmsCode },
  });
}

const FALLBACK_BY_CODE: Record<ErrorCode, KmsErrorCode> = {
  "invalid-argument": "InvalidParameter",
  "not-found": "Forbidden.ResourceNotFound",
  "already-exists": "Rejected.ResourceExist",
  conflict: "ServiceUnavailableTemporary",
  "failed-precondition": "Rejected.UnsupportedOperation",
  unauthenticated: "SignatureDoesNotMatch",
  "permission-denied": "Forbidden.RAM",
  "resource-exhausted": "Rejected.Throttling",
  unavailable: "ServiceUnavailableTemporary",
  "deadline-exceeded": "ServiceUnavailableTemporary",
  "data-corrupt": "InvalidCiphertext",
  gone: "Forbidden.ResourceNotFound",
  unimplemented: "InvalidAction.NotFound",
  internal: "InternalFailure",
};

/**
 * Identity errors (src/iam's codes, `details.acsCode`) the KMS answers with a code of its own: the
 * extension actions on principals and policies keep the codes they had before identity moved out.
 */
const FROM_IDENTITY: Readonly<Record<string, KmsErrorCode>> = {
  "DeleteConflict.Policy.Attachment": "Rejected.ResourceInUse",
  "DeleteConflict.User.AccessKey": "Rejected.ResourceInUse",
  "DeleteConflict.Role.Policy": "Rejected.ResourceInUse",
  "Unsupported.SystemPolicy": "Rejected.UnsupportedOperation",
  "LimitExceeded.User.AccessKey": "Rejected.UnsupportedOperation",
  "InvalidParameter.PolicyDocument": "InvalidParameter",
  "InvalidParameter.Password": "InvalidParameter",
};

/** The wire form of any error: Alibaba code + HTTP status. Non-AtrestErrors are internal failures. */
export function toKmsWireError(err: unknown): { status: number; code: KmsErrorCode; message: string } {
  if (err instanceof AtrestError) {
    const acs = err.details.acsCode;
    const explicit =
      err.details.kmsCode ??
      (typeof acs === "string" ? (acs in KMS_ERROR_CODES ? acs : FROM_IDENTITY[acs]) : undefined);
    const code: KmsErrorCode =
      typeof explicit === "string" && explicit in KMS_ERROR_CODES
        ? (explicit as KmsErrorCode)
        : FALLBACK_BY_CODE[err.code];
    const message =
      code === "InternalFailure"
        ? "The request processing has failed due to some unknown error."
        : err.message;
    return { status: KMS_ERROR_CODES[code].status, code, message };
  }
  return {
    status: 500,
    code: "InternalFailure",
    message: "The request processing has failed due to some unknown error.",
  };
}

export function kmsCodeOf(err: unknown): KmsErrorCode {
  return toKmsWireError(err).code;
}
