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
  InternalError: { status: 500, code: "internal" },
  ServiceUnavailable: { status: 503, code: "unavailable" },
} as const satisfies Record<string, { status: number; code: ErrorCode }>;

export type IamErrorCode = keyof typeof IAM_ERROR_CODES;

/** The one error type, with the Alibaba code in `details.acsCode`. Messages never hold secrets. */
export function iamError(
  acsCode: IamErrorCode,
  message: string,
  options: { cause?: unknown; details?: Record<string, unknown> } = {},
): AtrestError {
  return new AtrestError(IAM_ERROR_CODES[acsCode].code, message, {
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    details: { ...(options.details ?? {}), acsCode },
  });
}

/** The Alibaba code an error carries (`details.acsCode`), if it is one of this table's. */
export function acsCodeOf(err: unknown): IamErrorCode | undefined {
  if (!(err instanceof AtrestError)) return undefined;
  const c = err.details["acsCode"];
  return typeof c === "string" && c in IAM_ERROR_CODES ? (c as IamErrorCode) : undefined;
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

/** The wire form of any error on the identity APIs. Non-AtrestErrors are internal errors. */
export function toIamWireError(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof AtrestError) {
    const code = acsCodeOf(err) ?? FALLBACK_BY_CODE[err.code];
    const message =
      code === "InternalError" ? "The request processing has failed due to some unknown error." : err.message;
    return { status: IAM_ERROR_CODES[code].status, code, message };
  }
  return {
    status: 500,
    code: "InternalError",
    message: "The request processing has failed due to some unknown error.",
  };
}
