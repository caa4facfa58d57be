import assert from "node:assert/strict";
import { it } from "node:test";
import { ManualClock } from "../common/clock.js";
import { RateLimiter } from "./rate-limiter.js";

it("RateLimiter allows a burst of `rate`, then refills over time, per key", () => {
  const clock = new ManualClock();
  const rl = new RateLimiter(3, clock);
  assert.deepEqual([rl.take("a"), rl.take("a"), rl.take("a"), rl.take("a")], [true, true, true, false]);
  assert.equal(rl.take("b"), true);
  clock.advance(334);
  assert.equal(rl.take("a"), true);
  assert.equal(rl.take("a"), false);
});
