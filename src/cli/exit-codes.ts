import type { AtrestError } from "../common/errors.js";

/**
 * The CLI's one mapping from error codes to exit statuses: one status per class of failure, so scripts
 * can tell "fix your input" from "try again later" from "the key is unusable" from "someone else is
 * running an operation". (`atrest scan` adds its findings, 10–13; `atrest encryption status` adds
 * 14/15 for a cluster that is Updating / Failed.)
 */
export const EXIT = Object.freeze({
  ok: 0,
  other: 1,
  invalidArgument: 2,
  unavailable: 3,
  dataCorrupt: 4,
  notFound: 5,
  failedPrecondition: 6,
  conflict: 7,
  denied: 8,
  resourceExhausted: 9,
  clusterUpdating: 14,
  clusterFailed: 15,
});

export function exitCodeFor(err: AtrestError): number {
  switch (err.code) {
    case "invalid-argument":
      return EXIT.invalidArgument;
    case "unavailable":
    case "deadline-exceeded":
      return EXIT.unavailable;
    case "data-corrupt":
      return EXIT.dataCorrupt;
    case "not-found":
      return EXIT.notFound;
    case "failed-precondition":
      return EXIT.failedPrecondition;
    case "conflict":
    case "already-exists":
      return EXIT.conflict;
    case "unauthenticated":
    case "permission-denied":
      return EXIT.denied;
    case "resource-exhausted":
      return EXIT.resourceExhausted;
    default:
      return EXIT.other;
  }
}
