import type { AtrestError } from "../common/errors.js";

/**
 * The CLI's one mapping from error codes to exit statuses. Distinct statuses let scripts (and the
 * runbook) tell a bad command line from a damaged file, a wrong passphrase, a data dir in use, an
 * unusable key or another operation running. Commands that report findings (scan, verify-backup) use
 * 10–13 for those; `atrest encryption status` uses 14 / 15 for a cluster that is Updating / Failed.
 */
export const EXIT = Object.freeze({
  ok: 0,
  other: 1,
  invalidArgument: 2,
  unavailable: 3,
  dataCorrupt: 4,
  denied: 5,
  failedPrecondition: 6,
  alreadyExists: 7,
  notFound: 8,
  /** Another operation holds the cluster (a lease, or a compare-and-swap lost). */
  conflict: 9,
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
    case "unauthenticated":
    case "permission-denied":
      return EXIT.denied;
    case "failed-precondition":
      return EXIT.failedPrecondition;
    case "already-exists":
      return EXIT.alreadyExists;
    case "not-found":
      return EXIT.notFound;
    case "conflict":
      return EXIT.conflict;
    default:
      return EXIT.other;
  }
}
