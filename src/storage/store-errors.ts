import { AtrestError } from "../common/errors.js";

/** The errors every Store raises the same way, so callers map them to HTTP in one table. */

/** History before the compact revision is gone (Kubernetes answers 410 Gone / "Expired"). */
export function compactedError(requested: number, compactRevision: number, cause?: unknown): AtrestError {
  return new AtrestError(
    "gone",
    `revision ${requested} has been compacted (compact revision ${compactRevision}); list again for a newer revision`,
    { details: { revision: requested, compactRevision }, ...(cause === undefined ? {} : { cause }) },
  );
}

export function notFoundError(key: string): AtrestError {
  return new AtrestError("not-found", `key "${key}" not found`, { details: { key } });
}

export function alreadyExistsError(key: string): AtrestError {
  return new AtrestError("already-exists", `key "${key}" already exists`, { details: { key } });
}

export function conflictError(key: string, modRevision: number, expectedModRevision: number): AtrestError {
  return new AtrestError(
    "conflict",
    `key "${key}" was modified (revision ${modRevision}, expected ${expectedModRevision})`,
    {
      details: { key, modRevision, expectedModRevision },
    },
  );
}

export function futureRevisionError(what: string, revision: number, currentRevision: number): AtrestError {
  return new AtrestError(
    "invalid-argument",
    `${what} revision ${revision} is in the future (current ${currentRevision})`,
    {
      details: { revision, currentRevision },
    },
  );
}

export function closedError(): AtrestError {
  return new AtrestError("failed-precondition", "the store is closed");
}

export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0)
    throw new AtrestError("invalid-argument", "a storage key must be a non-empty string");
}

export function checkRevision(revision: number, name: string): void {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new AtrestError("invalid-argument", `${name} must be a non-negative integer`, {
      details: { [name]: revision },
    });
  }
}

export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw new AtrestError("invalid-argument", "list limit must be a non-negative integer");
}

/**
 * Runs a synchronous store operation as a Promise: a throw becomes a rejection, as if the method were
 * async (the in-process stores do their work synchronously).
 */
export function settle<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Hands one event to a watch's handler. A handler that throws ends that watch (its onError gets the
 * error) instead of the exception escaping into a timer or a gRPC callback and stopping the process.
 * Returns false when the watch must end.
 */
export function deliverWatchEvent<E>(
  handlers: { onEvent(event: E): void; onError(err: Error): void },
  event: E,
): boolean {
  try {
    handlers.onEvent(event);
    return true;
  } catch (err) {
    try {
      handlers.onError(
        new AtrestError("internal", "a watch event handler failed; the watch is closed", { cause: err }),
      );
    } catch {
      // Nothing left to tell.
    }
    return false;
  }
}
