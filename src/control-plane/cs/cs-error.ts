import type { ErrorCode } from "../../common/errors.js";
import { SIGNED_API_ERROR_CODES, acsErrors } from "../../iam/index.js";

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

// Identity codes (signatures, STS tokens) are in this table too: they keep their code on the wire.
const CS_ERRORS = acsErrors(CS_ERROR_CODES, FALLBACK_BY_CODE);

export const csError = CS_ERRORS.error;
/** The wire form of any error on the cs API. Non-AtrestErrors are internal errors (no detail leaks). */
export const toCsWireError = CS_ERRORS.toWire;
