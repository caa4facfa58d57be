import { AtrestError, type ErrorCode } from "../common/errors.js";

/**
 * The codes every signed Alibaba API answers alike (parameters, access keys, signatures, nonces,
 * timestamps, STS tokens, actions, versions, throttling): part of each service's own table.
 */
export const SIGNED_API_ERROR_CODES = {
  MissingParameter: { status: 400, code: "invalid-argument" },
  InvalidParameter: { status: 400, code: "invalid-argument" },
  "InvalidAccessKeyId.NotFound": { status: 404, code: "unauthenticated" },
  IncompleteSignature: { status: 400, code: "unauthenticated" },
  SignatureDoesNotMatch: { status: 400, code: "unauthenticated" },
  SignatureNonceUsed: { status: 400, code: "unauthenticated" },
  "InvalidTimeStamp.Expired": { status: 400, code: "unauthenticated" },
  "InvalidTimeStamp.Format": { status: 400, code: "invalid-argument" },
  UnsupportedSignatureMethod: { status: 400, code: "invalid-argument" },
  /** An STS access key without its token, or a token that is not one STS issued (forged, damaged). */
  "InvalidSecurityToken.Malformed": { status: 400, code: "unauthenticated" },
  /** A token issued for another STS access key. */
  "InvalidSecurityToken.MismatchWithAccessKey": { status: 400, code: "unauthenticated" },
  "InvalidSecurityToken.Expired": { status: 400, code: "unauthenticated" },
  "InvalidAction.NotFound": { status: 404, code: "unimplemented" },
  InvalidVersion: { status: 400, code: "invalid-argument" },
  "Rejected.Throttling": { status: 429, code: "resource-exhausted" },
} as const satisfies Record<string, { status: number; code: ErrorCode }>;

/**
 * The Alibaba Cloud error codes of the identity services (RAM 2015-05-01, STS 2015-04-01, ActionTrail
 * 2020-07-06) and of credential checks shared by every signed API, with their HTTP status and our
 * ErrorCode: the one table that maps identity failures to the wire. The code travels in
 * `details.acsCode`, so another service's table (the KMS's) can answer with the same code.
 */
export const IAM_ERROR_CODES = {
  ...SIGNED_API_ERROR_CODES,
  "InvalidParameter.RoleArn": { status: 400, code: "invalid-argument" },
  "InvalidParameter.RoleSessionName": { status: 400, code: "invalid-argument" },
  "InvalidParameter.DurationSeconds": { status: 400, code: "invalid-argument" },
  "InvalidParameter.PolicyGrammar": { status: 400, code: "invalid-argument" },
  "InvalidParameter.ExternalId": { status: 400, code: "invalid-argument" },
  "InvalidParameter.PolicyDocument": { status: 400, code: "invalid-argument" },
  "InvalidParameter.Password": { status: 400, code: "invalid-argument" },
  "InvalidParameter.LookupAttribute": { status: 400, code: "invalid-argument" },
  "InvalidParameter.NextToken": { status: 400, code: "invalid-argument" },
  "InvalidParameter.Time": { status: 400, code: "invalid-argument" },
  "InvalidAccessKeyId.Inactive": { status: 400, code: "unauthenticated" },
  /** STS's refusal: no sts:AssumeRole permission, or the role's trust policy does not name the caller. */
  NoPermission: { status: 403, code: "permission-denied" },
  /** RAM's and ActionTrail's refusal of an action a policy does not allow. */
  "NoPermission.Ram": { status: 403, code: "permission-denied" },
  "EntityNotExist.Role": { status: 404, code: "not-found" },
  "EntityNotExist.User": { status: 404, code: "not-found" },
  "EntityNotExist.Policy": { status: 404, code: "not-found" },
  "EntityNotExist.User.AccessKey": { status: 404, code: "not-found" },
  "EntityNotExist.User.LoginProfile": { status: 404, code: "not-found" },
  "EntityNotExist.PolicyAttachment": { status: 404, code: "not-found" },
  "EntityAlreadyExists.User": { status: 409, code: "already-exists" },
  "EntityAlreadyExists.Role": { status: 409, code: "already-exists" },
  "EntityAlreadyExists.Policy": { status: 409, code: "already-exists" },
  "EntityAlreadyExists.User.LoginProfile": { status: 409, code: "already-exists" },
  "EntityAlreadyExists.Principal": { status: 409, code: "already-exists" },
  "DeleteConflict.Policy.Attachment": { status: 409, code: "failed-precondition" },
  "DeleteConflict.User.AccessKey": { status: 409, code: "failed-precondition" },
  "DeleteConflict.Role.Policy": { status: 409, code: "failed-precondition" },
  "Unsupported.SystemPolicy": { status: 409, code: "failed-precondition" },
  "LimitExceeded.User.AccessKey": { status: 409, code: "resource-exhausted" },
  /** Console sign-in: a wrong user name or password (one answer for both). */
  "SignIn.InvalidCredentials": { status: 401, code: "unauthenticated" },
  /** Console sign-in: the user must set a new password before going on (PasswordResetRequired). */
  "SignIn.PasswordResetRequired": { status: 409, code: "failed-precondition" },
  InternalError: { status: 500, code: "internal" },
  ServiceUnavailable: { status: 503, code: "unavailable" },
} as const satisfies Record<string, { status: number; code: ErrorCode }>;

export type IamErrorCode = keyof typeof IAM_ERROR_CODES;

type CodeTable = Record<string, { readonly status: number; readonly code: ErrorCode }>;

const INTERNAL_MESSAGE = "The request processing has failed due to some unknown error.";

/**
 * An Alibaba service's errors from its table: the error maker (the one error type, with the Alibaba
 * code in `details.acsCode`; messages never hold secrets), the code an error carries when it is one of
 * the table's, and the wire form of any error (our ErrorCode's fallback code otherwise; non-AtrestErrors
 * and internal errors say nothing more). The identity APIs and the control plane's cs API share it.
 */
export function acsErrors<T extends CodeTable>(table: T, fallback: Record<ErrorCode, keyof T & string>) {
  type Code = keyof T & string;
  const error = (
    acsCode: Code,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ): AtrestError =>
    new AtrestError(table[acsCode]!.code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { ...(options.details ?? {}), acsCode },
    });
  const codeOf = (err: unknown): Code | undefined => {
    if (!(err instanceof AtrestError)) return undefined;
    const c = err.details["acsCode"];
    return typeof c === "string" && c in table ? c : undefined;
  };
  const toWire = (err: unknown): { status: number; code: string; message: string } => {
    if (!(err instanceof AtrestError))
      return { status: 500, code: "InternalError", message: INTERNAL_MESSAGE };
    const code = codeOf(err) ?? fallback[err.code];
    return {
      status: table[code]!.status,
      code,
      message: code === "InternalError" ? INTERNAL_MESSAGE : err.message,
    };
  };
  return { error, codeOf, toWire };
}

const FALLBACK_BY_CODE: Record<ErrorCode, IamErrorCode> = {
  "invalid-argument": "InvalidParameter",
  "not-found": "EntityNotExist.User",
  "already-exists": "EntityAlreadyExists.User",
  conflict: "ServiceUnavailable",
  "failed-precondition": "InvalidParameter",
  unauthenticated: "SignatureDoesNotMatch",
  "permission-denied": "NoPermission.Ram",
  "resource-exhausted": "Rejected.Throttling",
  unavailable: "ServiceUnavailable",
  "deadline-exceeded": "ServiceUnavailable",
  "data-corrupt": "InternalError",
  gone: "InvalidParameter",
  unimplemented: "InvalidAction.NotFound",
  internal: "InternalError",
};

const IAM_ERRORS = acsErrors(IAM_ERROR_CODES, FALLBACK_BY_CODE);

/** An identity API error (code in `details.acsCode`). */
export const iamError = IAM_ERRORS.error;
/** The Alibaba code an error carries (`details.acsCode`), if it is one of this table's. */
export const acsCodeOf = IAM_ERRORS.codeOf;
/** The wire form of any error on the identity APIs. Non-AtrestErrors are internal errors. */
export const toIamWireError = IAM_ERRORS.toWire;
