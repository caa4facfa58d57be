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

it("a hot key keeps its (empty) bucket while 100,000+ other keys churn; the table stays bounded", () => {
  const clock = new ManualClock();
  const rl = new RateLimiter(2, clock);
  assert.equal(rl.take("hot"), true);
  assert.equal(rl.take("hot"), true);
  assert.equal(rl.take("hot"), false, "the hot key has used its burst");
  for (let i = 0; i < 250_000; i++) {
    assert.equal(rl.take(`cold-${i}`), true);
    // The hot caller keeps calling (and keeps being refused) while the others come and go.
    if (i % 1000 === 0) assert.equal(rl.take("hot"), false, `hot key refused after ${i} other keys`);
  }
  assert.equal(rl.take("hot"), false, "no reset handed the hot key a fresh burst");
  assert.ok(rl.size <= 100_000, `bounded: ${rl.size} buckets`);
  clock.advance(500);
  assert.equal(rl.take("hot"), true, "it refills with time as before");
});

it("the least recently seen key is the one evicted", () => {
  const clock = new ManualClock();
  const rl = new RateLimiter(1, clock, { maxKeys: 2 });
  assert.equal(rl.take("a"), true);
  assert.equal(rl.take("b"), true);
  assert.equal(rl.take("a"), false); // a is now the most recent
  assert.equal(rl.take("c"), true); // evicts b
  assert.equal(rl.take("a"), false, "a kept its bucket");
  assert.equal(rl.take("b"), true, "b's bucket was evicted (it starts afresh)");
});
