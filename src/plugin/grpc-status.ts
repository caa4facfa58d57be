/** The one table from AtrestError codes to gRPC status codes (STYLE habit 5). */
import { status as GrpcStatus, type ServiceError, Metadata } from "@grpc/grpc-js";
import { AtrestError, type ErrorCode } from "../common/errors.js";

const TABLE: Record<ErrorCode, GrpcStatus> = {
  "invalid-argument": GrpcStatus.INVALID_ARGUMENT,
  "data-corrupt": GrpcStatus.INVALID_ARGUMENT,
  "not-found": GrpcStatus.NOT_FOUND,
  "already-exists": GrpcStatus.ALREADY_EXISTS,
  conflict: GrpcStatus.ABORTED,
  "failed-precondition": GrpcStatus.FAILED_PRECONDITION,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  "permission-denied": GrpcStatus.PERMISSION_DENIED,
  "resource-exhausted": GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
  "deadline-exceeded": GrpcStatus.DEADLINE_EXCEEDED,
  gone: GrpcStatus.FAILED_PRECONDITION,
  unimplemented: GrpcStatus.UNIMPLEMENTED,
  internal: GrpcStatus.INTERNAL,
};

export function grpcCodeFor(err: unknown): GrpcStatus {
  return err instanceof AtrestError ? TABLE[err.code] : GrpcStatus.INTERNAL;
}

/** The gRPC error sent to the caller: the AtrestError's message (never secret), or a generic one. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = grpcCodeFor(err);
  const details = err instanceof AtrestError ? err.message : "internal error in the KMS plugin";
  const metadata = new Metadata();
  if (err instanceof AtrestError) metadata.set("atrest-error-code", err.code);
  return { code, details, metadata };
}

export function grpcCodeName(code: GrpcStatus): string {
  return GrpcStatus[code] ?? String(code);
}
