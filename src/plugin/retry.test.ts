import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import { withRetry } from "./retry.js";

/** A clock whose timers fire at once, moving time forward by their delay plus `lateMs`. */
function steppingClock(lateMs = 0): Clock & { t: number } {
  const clock = {
    t: 0,
    now: () => clock.t,
    setTimeout(fn: () => void, ms: number) {
      clock.t += ms + lateMs;
      queueMicrotask(fn);
      return {};
    },
    clearTimeout() {},
  };
  return clock;
}

describe("withRetry", () => {
  it("retries 'unavailable' until an attempt succeeds", async () => {
    const clock = steppingClock();
    let n = 0;
    const got = await withRetry(
      () => {
        if (++n < 3) return Promise.reject(new AtrestError("unavailable", "the KMS endpoint is unreachable"));
        return Promise.resolve("ok");
      },
      { deadlineMs: 10_000, clock, jitter: () => 1 },
    );
    assert.equal(got, "ok");
    assert.equal(n, 3);
  });

  it("does not retry other errors", async () => {
    let n = 0;
    await assert.rejects(
      withRetry(
        () => {
          n++;
          return Promise.reject(new AtrestError("permission-denied", "denied"));
        },
        { deadlineMs: 10_000, clock: steppingClock() },
      ),
      { code: "permission-denied" },
    );
    assert.equal(n, 1);
  });

  it("when a late timer leaves no time for another attempt, the deadline error says why the last one failed", async () => {
    const clock = steppingClock(500); // timers fire late, as on a loaded machine
    let n = 0;
    await assert.rejects(
      withRetry(
        () => {
          n++;
          clock.t += 10;
          return Promise.reject(
            new AtrestError("unavailable", "the KMS endpoint is unreachable (ECONNREFUSED)"),
          );
        },
        { deadlineMs: 1_000, clock, jitter: () => 0 },
      ),
      {
        code: "deadline-exceeded",
        message:
          "the caller's deadline passed before the KMS answered (last attempt: the KMS endpoint is unreachable (ECONNREFUSED))",
      },
    );
    assert.equal(n, 2);
  });
});
