import { AtrestError } from "../../common/errors.js";
import { isUnreadableValueError } from "../../storage/transformation-record.js";
import type { ResourceInfo } from "../resources.js";
import { alreadyExists, conflict, notFound } from "../status.js";

/**
 * The transforming store's errors as kube-apiserver answers them. Its errors about a key carry the key in
 * their details; the Status errors the registry raises itself (preconditions, validation) do not, and
 * pass through unchanged.
 */

/** A stored value that does not transform: kube answers 500, or 503 when the KMS is unreachable. */
export function unreadable(err: AtrestError): AtrestError {
  const code = err.code === "unavailable" || err.code === "deadline-exceeded" ? "unavailable" : "internal";
  return new AtrestError(code, err.message, { cause: err });
}

/** An error from a transforming-store call about one object, as the Status kube would answer. */
export function objectError(err: unknown, info: ResourceInfo, name: string): unknown {
  if (isUnreadableValueError(err)) return unreadable(err);
  if (!(err instanceof AtrestError) || err.details.key === undefined) return err;
  // A write that did not transform keeps its code (503 when the KMS is down, …).
  if (err.details.transformation !== undefined) return err;
  if (err.code === "not-found") return notFound(info, name);
  if (err.code === "conflict") return conflict(info, name);
  if (err.code === "already-exists") return alreadyExists(info, name);
  return err;
}
