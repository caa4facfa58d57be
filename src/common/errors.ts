/**
 * The one error type of atrest. Every error carries a `code` that says whose fault it is and whether a
 * retry can help; transports (HTTP/Kubernetes Status, gRPC status, KMS error JSON, CLI exit) map codes
 * to the wire in exactly one table each. Messages name the broken rule and never contain a secret.
 */
export type ErrorCode =
  | "invalid-argument" // the caller sent something malformed; retrying the same input cannot help
  | "not-found"
  | "already-exists"
  | "conflict" // compare-and-swap lost, or stale resourceVersion
  | "failed-precondition" // the state forbids it (disabled key, immutable object, not yet healthy)
  | "unauthenticated"
  | "permission-denied"
  | "resource-exhausted" // throttled or over a size limit
  | "unavailable" // transient: a dependency is down or timed out; retrying may help
  | "deadline-exceeded"
  | "data-corrupt" // stored bytes fail authentication or do not parse
  | "gone" // the requested history was compacted (HTTP 410)
  | "unimplemented"
  | "internal";

export class AtrestError extends Error {
  readonly code: ErrorCode;
  /** Structured, non-secret details (paths, limits, ids) for logs and wire mappings. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AtrestError";
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  get retryable(): boolean {
    return (
      this.code === "unavailable" || this.code === "deadline-exceeded" || this.code === "resource-exhausted"
    );
  }
}

export function isAtrestError(err: unknown, code?: ErrorCode): err is AtrestError {
  return err instanceof AtrestError && (code === undefined || err.code === code);
}

/** Wraps an error crossing a layer, keeping its code when it already has one. */
export function wrapError(err: unknown, context: string, fallback: ErrorCode = "internal"): AtrestError {
  if (err instanceof AtrestError) {
    return new AtrestError(err.code, `${context}: ${err.message}`, {
      cause: err,
      details: { ...err.details },
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new AtrestError(fallback, `${context}: ${message}`, { cause: err });
}
