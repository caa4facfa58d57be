import { AtrestError, type ErrorCode } from "../common/errors.js";
import type { KubeObject } from "../kube-object/types.js";

/**
 * Kubernetes `Status` objects and the one table that turns an AtrestError into one. Handlers raise
 * AtrestErrors (through the helpers below, which carry kube's exact messages); only `statusFromError`
 * decides the reason and HTTP code.
 */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, unknown>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** kube's StatusReason → HTTP code. */
const REASON_CODES: Readonly<Record<string, number>> = Object.freeze({
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
});

/** The one mapping from AtrestError codes to kube reasons (a detail `reason` may name a more specific one). */
const CODE_REASONS: Readonly<Record<ErrorCode, string>> = Object.freeze({
  "invalid-argument": "BadRequest",
  "not-found": "NotFound",
  "already-exists": "AlreadyExists",
  conflict: "Conflict",
  "failed-precondition": "Invalid",
  unauthenticated: "Unauthorized",
  "permission-denied": "Forbidden",
  "resource-exhausted": "TooManyRequests",
  unavailable: "ServiceUnavailable",
  "deadline-exceeded": "Timeout",
  "data-corrupt": "InternalError",
  gone: "Expired",
  unimplemented: "MethodNotAllowed",
  internal: "InternalError",
});

export function statusFromError(err: unknown): Status {
  if (!(err instanceof AtrestError)) {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Internal error occurred: unexpected server error",
      reason: "InternalError",
      code: 500,
    };
  }
  const detailReason = typeof err.details.reason === "string" ? err.details.reason : undefined;
  const reason =
    detailReason !== undefined && detailReason in REASON_CODES ? detailReason : CODE_REASONS[err.code];
  const code = REASON_CODES[reason] ?? 500;
  const kube = err.details.status as StatusDetails | undefined;
  const listMeta = err.details.listMeta as Record<string, unknown> | undefined;
  const message =
    err.code === "internal" || err.code === "data-corrupt"
      ? `Internal error occurred: ${err.message}`
      : err.message;
  const status: Status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: listMeta ?? {},
    status: "Failure",
    message,
    reason,
    code,
  };
  if (kube !== undefined) status.details = kube;
  return status;
}

export function successStatus(details: StatusDetails): Status {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details, code: 200 };
}

export function isStatus(obj: KubeObject): boolean {
  return obj.kind === "Status";
}

// ---- constructors with kube's exact messages ----

function kubeError(code: ErrorCode, message: string, status?: StatusDetails, reason?: string): AtrestError {
  const details: Record<string, unknown> = {};
  if (status !== undefined) details.status = status;
  if (reason !== undefined) details.reason = reason;
  return new AtrestError(code, message, { details });
}

/** A resource as kube's errors name it: `secrets`, or `roles.rbac.authorization.k8s.io` (GroupResource). */
export type GroupResource = string | { readonly resource: string; readonly group: string };

function groupResourceOf(gr: GroupResource): { resource: string; group: string; qualified: string } {
  if (typeof gr === "string") return { resource: gr, group: "", qualified: gr };
  return { ...gr, qualified: gr.group === "" ? gr.resource : `${gr.resource}.${gr.group}` };
}

function objectDetails(gr: GroupResource, name: string): StatusDetails {
  const { resource, group } = groupResourceOf(gr);
  return group === "" ? { name, kind: resource } : { name, group, kind: resource };
}

export function notFound(resource: GroupResource, name: string): AtrestError {
  return kubeError(
    "not-found",
    `${groupResourceOf(resource).qualified} "${name}" not found`,
    objectDetails(resource, name),
  );
}

export function alreadyExists(resource: GroupResource, name: string): AtrestError {
  return kubeError(
    "already-exists",
    `${groupResourceOf(resource).qualified} "${name}" already exists`,
    objectDetails(resource, name),
  );
}

export function conflict(
  resource: GroupResource,
  name: string,
  why = "the object has been modified; please apply your changes to the latest version and try again",
): AtrestError {
  return kubeError(
    "conflict",
    `Operation cannot be fulfilled on ${groupResourceOf(resource).qualified} "${name}": ${why}`,
    objectDetails(resource, name),
  );
}

export function badRequest(message: string): AtrestError {
  return kubeError("invalid-argument", message);
}

export function unsupportedMediaType(message: string): AtrestError {
  return kubeError("invalid-argument", message, undefined, "UnsupportedMediaType");
}

export function notAcceptable(message: string): AtrestError {
  return kubeError("invalid-argument", message, undefined, "NotAcceptable");
}

export function entityTooLarge(limitBytes: number): AtrestError {
  return kubeError(
    "resource-exhausted",
    `Request entity too large: limit is ${limitBytes}`,
    undefined,
    "RequestEntityTooLarge",
  );
}

export function methodNotAllowed(message: string): AtrestError {
  return kubeError("unimplemented", message);
}

export function unauthorized(): AtrestError {
  return kubeError("unauthenticated", "Unauthorized");
}

export function forbidden(message: string, status?: StatusDetails): AtrestError {
  return kubeError("permission-denied", message, status);
}

/**
 * 410 Expired, as kube's NewResourceExpired (kube no longer answers reason Gone: NewGone is deprecated
 * for it). `continueToken` goes in the Status's metadata.continue, as kube does for a continue token
 * that was compacted away: it resumes the list at the latest revision.
 */
export function expired(message: string, continueToken?: string): AtrestError {
  const err = kubeError("gone", message);
  if (continueToken === undefined) return err;
  return new AtrestError(err.code, err.message, {
    details: { ...err.details, listMeta: { continue: continueToken } },
  });
}

/**
 * 504, as kube's storage TooLargeResourceVersionError: the client asked for a revision the store has not
 * reached yet (clients retry after a second).
 */
export function tooLargeResourceVersion(requested: number, current: number): AtrestError {
  return kubeError("deadline-exceeded", `Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
    retryAfterSeconds: 1,
  });
}

/** One field error as kube's field.Error renders it: `<field>: <Type>: <detail>`. */
export interface FieldError {
  readonly field: string;
  /** FieldValueInvalid, FieldValueRequired, FieldValueForbidden, FieldValueTooLong, FieldValueNotSupported, FieldValueDuplicate */
  readonly type:
    | "FieldValueInvalid"
    | "FieldValueRequired"
    | "FieldValueForbidden"
    | "FieldValueTooLong"
    | "FieldValueNotSupported"
    | "FieldValueDuplicate";
  readonly value?: unknown;
  readonly detail: string;
}

const TYPE_TEXT: Record<FieldError["type"], string> = {
  FieldValueInvalid: "Invalid value",
  FieldValueRequired: "Required value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
  FieldValueNotSupported: "Unsupported value",
  FieldValueDuplicate: "Duplicate value",
};

/** A value field.Error prints with Go's %#v (slices, structs), given already rendered. */
export interface GoSyntaxValue {
  readonly goSyntax: string;
}

function renderValue(value: unknown): string {
  if (typeof value === "object" && value !== null && "goSyntax" in value)
    return String((value as GoSyntaxValue).goSyntax);
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** The part after the field path, e.g. `Invalid value: "Bad": a lowercase RFC 1123 …`. */
export function fieldErrorBody(e: FieldError): string {
  if (e.type === "FieldValueInvalid" && e.value !== undefined)
    return `${TYPE_TEXT[e.type]}: ${renderValue(e.value)}: ${e.detail}`;
  if (e.type === "FieldValueNotSupported" && e.value !== undefined)
    return `${TYPE_TEXT[e.type]}: ${renderValue(e.value)}: ${e.detail}`;
  return e.detail === "" ? TYPE_TEXT[e.type] : `${TYPE_TEXT[e.type]}: ${e.detail}`;
}

/** `<Kind> "<name>" is invalid: <errors>` with field causes (422 Invalid). */
export function invalid(kind: string, name: string, errors: readonly FieldError[], group = ""): AtrestError {
  const rendered = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const joined = rendered.length === 1 ? (rendered[0] ?? "") : `[${rendered.join(", ")}]`;
  const causes = errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }));
  return kubeError(
    "invalid-argument",
    // kube's GroupKind.String(): "Secret" for the core group, "ListOptions.meta.k8s.io" otherwise.
    `${group === "" ? kind : `${kind}.${group}`} "${name}" is invalid: ${joined}`,
    { name, group, kind, causes },
    "Invalid",
  );
}
