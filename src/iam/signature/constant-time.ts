import { timingSafeEqual } from "node:crypto";

/**
 * Compares two signatures without leaking, through timing, how many leading characters match.
 * Different lengths are unequal (the length of a signature is public: it is fixed by the scheme).
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = typeof a === "string" ? Buffer.from(a, "utf8") : a;
  const y = typeof b === "string" ? Buffer.from(b, "utf8") : b;
  if (x.length !== y.length) return false;
  return timingSafeEqual(x, y);
}
