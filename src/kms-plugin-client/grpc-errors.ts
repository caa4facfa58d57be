import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { AtrestError, type ErrorCode } from "../common/errors.js";

/**
 * gRPC status → AtrestError code: the one table for errors coming back from a KMS plugin.
 * UNAVAILABLE and DEADLINE_EXCEEDED are the retryable ones (plugin down, socket missing, too slow).
 */
const CODE_TABLE: Readonly<Partial<Record<GrpcStatus, ErrorCode>>> = {
  [GrpcStatus.UNAVAILABLE]: "unavailable",
  [GrpcStatus.DEADLINE_EXCEEDED]: "deadline-exceeded",
  [GrpcStatus.CANCELLED]: "unavailable",
  [GrpcStatus.RESOURCE_EXHAUSTED]: "resource-exhausted",
  [GrpcStatus.INVALID_ARGUMENT]: "invalid-argument",
  [GrpcStatus.NOT_FOUND]: "not-found",
  [GrpcStatus.ALREADY_EXISTS]: "already-exists",
  [GrpcStatus.ABORTED]: "conflict",
  [GrpcStatus.FAILED_PRECONDITION]: "failed-precondition",
  [GrpcStatus.OUT_OF_RANGE]: "invalid-argument",
  [GrpcStatus.PERMISSION_DENIED]: "permission-denied",
  [GrpcStatus.UNAUTHENTICATED]: "unauthenticated",
  [GrpcStatus.UNIMPLEMENTED]: "unimplemented",
  [GrpcStatus.DATA_LOSS]: "data-corrupt",
};

export function grpcCodeName(code: number): string {
  return (GrpcStatus as unknown as Record<number, string | undefined>)[code] ?? `CODE_${code}`;
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

/**
 * Wraps a failed plugin call. `details` carries `grpcCode` (the status name, e.g. "PERMISSION_DENIED"),
 * `method` (the full gRPC path) and the call's `uid`, for logs and for the caller's own mapping.
 */
export function fromGrpcError(err: unknown, method: string, uid?: string): AtrestError {
  const base = { method, ...(uid === undefined ? {} : { uid }) };
  if (isServiceError(err)) {
    const grpcCode = grpcCodeName(err.code);
    const code = CODE_TABLE[err.code] ?? "internal";
    return new AtrestError(code, `KMS plugin call ${method} failed: ${grpcCode}: ${err.details}`, {
      cause: err,
      details: { ...base, grpcCode },
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new AtrestError("internal", `KMS plugin call ${method} failed: ${message}`, {
    cause: err,
    details: base,
  });
}
