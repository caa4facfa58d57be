import type { AtrestError } from "../common/errors.js";

/** The CLI's one mapping from error codes to exit statuses. */
export function exitCodeFor(err: AtrestError): number {
  switch (err.code) {
    case "invalid-argument":
      return 2;
    case "unavailable":
    case "deadline-exceeded":
      return 3;
    case "data-corrupt":
      return 4;
    default:
      return 1;
  }
}
