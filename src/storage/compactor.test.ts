import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../common/clock.js";
import { isAtrestError } from "../common/errors.js";
import { startCompactor } from "./compactor.js";
import { MemoryStore } from "./memory-store.js";

test("the compactor compacts at the revision seen one interval earlier", async () => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const compacted: number[] = [];
  const compactor = startCompactor(store, { intervalMs: 1000, clock, onCompacted: (r) => compacted.push(r) });
  try {
    const a = await store.create("/registry/secrets/ns/a", Buffer.from("1"));
    await compactor.tick(); // sees a's revision, compacts nothing yet
    assert.deepEqual(compacted, []);
    const b = await store.update(a.key, Buffer.from("2"), a.modRevision);
    clock.advance(1000);
    await compactor.tick();
    assert.deepEqual(compacted, [a.modRevision]);
    // History from the previous interval is still there; older history is gone.
    assert.equal(
      (await store.list("/registry/", { revision: a.modRevision })).items[0]?.value.toString(),
      "1",
    );
    await assert.rejects(store.list("/registry/", { revision: a.modRevision - 1 }), (e) =>
      isAtrestError(e, "gone"),
    );
    // Nothing new written: the next tick compacts at b and then has nothing to do.
    await compactor.tick();
    assert.deepEqual(compacted, [a.modRevision, b.modRevision]);
    await compactor.tick();
    assert.deepEqual(compacted, [a.modRevision, b.modRevision]);
  } finally {
    compactor.stop();
    await store.close();
  }
  assert.equal(clock.pendingTimers(), 0, "stop clears the timer");
});

test("a failing compaction is reported and retried at the next tick", async () => {
  const store = new MemoryStore();
  let fail = true;
  const real = store.compact.bind(store);
  const flaky = Object.assign(Object.create(store) as MemoryStore, {
    compact: (rev: number) => (fail ? Promise.reject(new Error("down")) : real(rev)),
    currentRevision: () => store.currentRevision(),
  });
  const errors: unknown[] = [];
  const compacted: number[] = [];
  const compactor = startCompactor(flaky, {
    intervalMs: 0,
    onError: (e) => errors.push(e),
    onCompacted: (r) => compacted.push(r),
  });
  await store.create("/k/a", Buffer.from("x"));
  await compactor.tick();
  await store.create("/k/b", Buffer.from("y"));
  await compactor.tick();
  assert.equal(errors.length, 1);
  fail = false;
  await compactor.tick();
  assert.equal(compacted.length, 1);
  compactor.stop();
});
