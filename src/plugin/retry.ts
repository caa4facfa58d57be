import { AtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";

export interface RetryPolicy {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Below this much time left, no further attempt is started. */
  readonly minAttemptMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  initialBackoffMs: 50,
  maxBackoffMs: 1_000,
  minAttemptMs: 100,
};

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, or the deadline leaves no room.
 * Only "unavailable" is retried: a disabled key, a denied permission or throttling do not get better
 * by asking again at once (throttling goes back to the caller, which has its own backoff).
 * Backoff doubles from `initialBackoffMs` with full jitter, capped at `maxBackoffMs`.
 */
export async function withRetry<T>(
  attempt: (remainingMs: number) => Promise<T>,
  options: { deadlineMs: number; clock: Clock; policy?: RetryPolicy; jitter?: () => number },
): Promise<T> {
  const policy = options.policy ?? defaultRetryPolicy;
  const jitter = options.jitter ?? Math.random;
  let last: AtrestError | undefined;
  for (let attemptNo = 0; ; attemptNo++) {
    const remainingMs = options.deadlineMs - options.clock.now();
    if (remainingMs < policy.minAttemptMs && last !== undefined) {
      // The last attempt's reason goes with it: "deadline" alone hides that the KMS is down.
      throw new AtrestError(
        "deadline-exceeded",
        `the caller's deadline passed before the KMS answered (last attempt: ${last.message})`,
        { cause: last },
      );
    }
    try {
      return await attempt(Math.max(remainingMs, policy.minAttemptMs));
    } catch (err) {
      if (!(err instanceof AtrestError) || err.code !== "unavailable") throw err;
      last = err;
      const capMs = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** attemptNo);
      const backoffMs = Math.floor(capMs * (0.5 + jitter() / 2));
      if (options.clock.now() + backoffMs + policy.minAttemptMs > options.deadlineMs) throw err;
      await new Promise<void>((resolve) => options.clock.setTimeout(resolve, backoffMs));
    }
  }
}
