import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../common/clock.js";
import { CoalescingWriter, PROGRESS_PERSIST_MS } from "./progress-writer.js";

/** Lets the writer's promise callbacks run (the fake write resolves at once). */
const settle = () => new Promise<void>((r) => setImmediate(r));

test("touches are coalesced: the first written at once, then at most one write per interval", async () => {
  const clock = new ManualClock();
  const writes: Array<{ at: number; value: number }> = [];
  let value = 0;
  const w = new CoalescingWriter({
    clock,
    write: () => (writes.push({ at: clock.now(), value }), Promise.resolve()),
    onError: () => assert.fail("no write fails here"),
  });
  const start = clock.now();
  // 5,000 progress events over 3.5 s (one per Secret), as a rewrite sends them.
  for (let i = 1; i <= 5_000; i++) {
    value = i;
    w.touch();
    clock.advance(0.7);
    await settle();
  }
  clock.advance(PROGRESS_PERSIST_MS);
  await settle();
  assert.ok(writes.length >= 3 && writes.length <= 5, `${writes.length} writes`);
  for (let i = 1; i < writes.length; i++)
    assert.ok(writes[i]!.at - writes[i - 1]!.at >= PROGRESS_PERSIST_MS, "at most one write per interval");
  assert.equal(writes[0]!.at, start, "the first change is written at once");
  assert.equal(writes.at(-1)!.value, 5_000, "the last change is written");
  assert.equal(clock.pendingTimers(), 0, "nothing left to write");
  w.close();
});

test("flush writes what is pending now; a failed write is tried again; close stops writing", async () => {
  const clock = new ManualClock();
  let fail = true;
  const writes: number[] = [];
  const errors: string[] = [];
  const w = new CoalescingWriter({
    clock,
    write: () => {
      if (fail) return Promise.reject(new Error("database locked"));
      writes.push(clock.now());
      return Promise.resolve();
    },
    onError: (err) => errors.push((err as Error).message),
  });
  w.touch();
  clock.advance(0);
  await settle();
  assert.deepEqual(errors, ["database locked"]);
  fail = false;
  clock.advance(PROGRESS_PERSIST_MS);
  await settle();
  assert.equal(writes.length, 1, "tried again an interval later");
  w.touch(); // within the interval: waits for it to end …
  await settle();
  assert.equal(writes.length, 1);
  await w.flush(); // … unless flushed
  assert.equal(writes.length, 2);
  assert.equal(clock.pendingTimers(), 0, "the flush took the pending write");
  w.close();
  w.touch();
  clock.advance(10 * PROGRESS_PERSIST_MS);
  await settle();
  assert.equal(writes.length, 2, "closed: nothing more is written");
});
