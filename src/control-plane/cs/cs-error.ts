import { AtrestError, type ErrorCode } from "../../common/errors.js";
import { SIGNED_API_ERROR_CODES } from "../../iam/index.js";

/**
 * The Container Service (cs, 2015-12-15) error codes the control plane answers with, their HTTP status
 * and our ErrorCode: the one table mapping control-plane failures to the wire. ROA errors are JSON
 * `{"requestId","code","message"}` (lower-case keys, as ACK answers; the SDK reads either case).
 */
export const CS_ERROR_CODES = {
  ...SIGNED_API_ERROR_CODES,
  /** A RAM policy does not allow the action (or explicitly denies it). */
  StatusForbidden: { status: 403, code: "permission-denied" },
  /** UpdateKMSEncryption by a principal without the administrator or O&M engineer role (ACK's code). */
  ForbiddenUpdateKMSState: { status: 403, code: "permission-denied" },
  /** Any other action the caller's cluster role does not allow. */
  ForbiddenCheckRole: { status: 403, code: "permission-denied" },
  ErrorClusterNotFound: { status: 404, code: "not-found" },
  ErrorTaskNotFound: { status: 404, code: "not-found" },
  /** A second change while one runs, or within the cool-down after one (ACK: HTTP 409). */
  ErrorClusterStateConflict: { status: 409, code: "conflict" },
  ErrorClusterAlreadyExists: { status: 409, code: "already-exists" },
  /** The KMS key is unusable: unknown, disabled, pending deletion, wrong usage or spec, other region. */
  ErrorKMSKeyInvalid: { status: 400, code: "failed-precondition" },
  /** The service role AliyunCSManagedSecurityRole is missing (quick authorization not done). */
  ErrorRamRoleNotAuthorized: { status: 400, code: "failed-precondition" },
  ErrorRegionMismatch: { status: 400, code: "invalid-argument" },
  /** The path names no cs operation (or not with this method). */
  "InvalidAction.NotFound": { status: 404, code: "unimplemented" },
  ErrorCheckAcl: { status: 400, code: "failed-precondition" },
  InternalError: { status: 500, code: "internal" },
  ServiceUnavailable: { status: 503, code: "unavailable" },
} as const satisfies Record<string, { status: number; code: ErrorCode }>;

export type CsErrorCode = keyof typeof CS_ERROR_CODES;

export function csError(
  acsCode: CsErrorCode,
  message: string,
  options: { cause?: unknown; details?: Record<string, unknown> } = {},
): AtrestError {
  return new AtrestError(CS_ERROR_CODES[acsCode].code, message, {
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    details: { ...(options.details ?? {}), acsCode },
  });
}

const FALLBACK_BY_CODE: Record<ErrorCode, CsErrorCode> = {
  "invalid-argument": "InvalidParameter",
  "not-found": "ErrorClusterNotFound",
  "already-exists": "ErrorClusterAlreadyExists",
  conflict: "ErrorClusterStateConflict",
  "failed-precondition": "ErrorCheckAcl",
  unauthenticated: "SignatureDoesNotMatch",
  "permission-denied": "StatusForbidden",
  "resource-exhausted": "Rejected.Throttling",
  unavailable: "ServiceUnavailable",
  "deadline-exceeded": "ServiceUnavailable",
  "data-corrupt": "InternalError",
  gone: "InvalidParameter",
  unimplemented: "InvalidAction.NotFound",
  internal: "InternalError",
};

const INTERNAL_MESSAGE = "The request processing has failed due to some unknown error.";

/** The wire form of any error on the cs API. Non-AtrestErrors are internal errors (no detail leaks). */
export function toCsWireError(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof AtrestError) {
    const carried = err.details["acsCode"];
    const own =
      typeof carried === "string" && carried in CS_ERROR_CODES ? (carried as CsErrorCode) : undefined;
    // Identity codes (signatures, STS tokens) are in this table too: they keep their code.
    const code: CsErrorCode = own ?? FALLBACK_BY_CODE[err.code];
    return {
      status: CS_ERROR_CODES[code].status,
      code,
      message: code === "InternalError" ? INTERNAL_MESSAGE : err.message,
    };
  }
  return { status: 500, code: "InternalError", message: INTERNAL_MESSAGE };
}
