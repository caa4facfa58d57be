import { AtrestError, type ErrorCode } from "../common/errors.js";

/**
 * What one transformation (a write's `transformToStorage`, a read's `transformFromStorage`) records for
 * metrics, and the one error a failed transformation becomes. Nothing here ever holds plaintext.
 */

export type TransformationType = "to_storage" | "from_storage";

/**
 * Hook for metrics like kube-apiserver's `apiserver_storage_transformation_operations_total
 * {transformation_type, transformer_prefix, status}` and `…_transformation_duration_seconds`.
 */
export interface TransformationObserver {
  observe(op: TransformationRecord): void;
}

export interface TransformationRecord {
  readonly transformationType: TransformationType;
  /** The prefix of the stored bytes, e.g. `k8s:enc:kms:v2:my-kms:`, or "identity" for unprefixed data. */
  readonly transformerPrefix: string;
  /** "OK" or a gRPC-style code name ("Unavailable", "DataLoss", …), as kube-apiserver labels it. */
  readonly status: string;
  readonly durationMs: number;
}

/**
 * kube-apiserver's wording; the cause's message is the transformer's and never holds plaintext. The
 * details name the key and the direction, so a layer above can tell "this value does not read" (kube
 * answers 500, or 503 when the KMS is unreachable) from the store's own errors.
 */
export function transformError(err: unknown, key: string, type: TransformationType): AtrestError {
  const code: ErrorCode = err instanceof AtrestError ? err.code : "internal";
  const message = err instanceof Error ? err.message : String(err);
  return new AtrestError(code, `unable to transform key "${key}": ${message}`, {
    cause: err,
    details: { key, transformation: type },
  });
}

/** The stored value at the error's key did not transform from storage (it does not read). */
export function isUnreadableValueError(err: unknown): err is AtrestError {
  return err instanceof AtrestError && err.details.transformation === "from_storage";
}

const ENC_PREFIX = Buffer.from("k8s:enc:");
const COLON = 0x3a;

/**
 * `k8s:enc:<provider>:<version>:<name>:` from stored bytes (config names only, nothing secret), or
 * "identity" for unprefixed values. Bytes that start like a prefix but do not complete one are "unknown".
 */
export function transformerPrefixOf(stored: Uint8Array): string {
  const buf = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (!buf.subarray(0, ENC_PREFIX.length).equals(ENC_PREFIX)) return "identity";
  let colons = 0;
  // Names are short; a prefix longer than this is not one.
  for (let i = 0; i < Math.min(buf.length, 300); i++) {
    if (buf[i] === COLON && ++colons === 5) return buf.subarray(0, i + 1).toString("latin1");
  }
  return "unknown";
}

/** gRPC code names, which kube-apiserver uses for the `status` label. */
const STATUS_BY_CODE: Readonly<Record<ErrorCode, string>> = {
  "invalid-argument": "InvalidArgument",
  "not-found": "NotFound",
  "already-exists": "AlreadyExists",
  conflict: "Aborted",
  "failed-precondition": "FailedPrecondition",
  unauthenticated: "Unauthenticated",
  "permission-denied": "PermissionDenied",
  "resource-exhausted": "ResourceExhausted",
  unavailable: "Unavailable",
  "deadline-exceeded": "DeadlineExceeded",
  "data-corrupt": "DataLoss",
  gone: "OutOfRange",
  unimplemented: "Unimplemented",
  internal: "Internal",
};

export function transformationStatusOf(code: ErrorCode): string {
  return STATUS_BY_CODE[code];
}
