import type { AtrestError } from "../common/errors.js";

/**
 * The CLI's one mapping from error codes to exit statuses. Distinct statuses let scripts (and the
 * runbook) tell a bad command line from a damaged file, a wrong passphrase or a data dir in use.
 * Commands that report findings (scan, verify-backup) use 10 and above for those.
 */
export function exitCodeFor(err: AtrestError): number {
  switch (err.code) {
    case "invalid-argument":
      return 2;
    case "unavailable":
    case "deadline-exceeded":
      return 3;
    case "data-corrupt":
      return 4;
    case "unauthenticated":
    case "permission-denied":
      return 5;
    case "failed-precondition":
      return 6;
    case "already-exists":
      return 7;
    case "not-found":
      return 8;
    default:
      return 1;
  }
}
