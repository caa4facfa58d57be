import assert from "node:assert/strict";
import { test } from "node:test";
import { EventWindow, type CacheEvent } from "./event-window.js";

const put = (revision: number, bytes: number): CacheEvent => ({
  type: "put",
  key: `/registry/secrets/default/s${revision}`,
  revision,
  created: true,
  bytes,
});

test("the window keeps the last changes by count and by bytes; older resumes are refused", () => {
  const w = new EventWindow(3, 10, 100);
  assert.deepEqual(w.since(10), []);
  assert.equal(w.since(9), undefined, "before the list revision: gone");
  for (const rv of [11, 12, 13]) w.push(put(rv, 10));
  assert.deepEqual(
    w.since(11)?.map((e) => e.revision),
    [12, 13],
  );
  w.push(put(14, 10)); // over the count: 11 leaves
  assert.equal(w.oldestResumable, 11);
  assert.equal(w.since(10), undefined);
  assert.deepEqual(
    w.since(11)?.map((e) => e.revision),
    [12, 13, 14],
  );
  w.push(put(15, 90)); // over the bytes: 12 and 13 leave (10 + 90 fits in 100)
  assert.equal(w.size, 2);
  assert.equal(w.oldestResumable, 13);
  assert.deepEqual(
    w.since(13)?.map((e) => e.revision),
    [14, 15],
  );
  w.push(put(16, 500)); // one change bigger than the budget is still kept, alone
  assert.equal(w.size, 1);
  assert.equal(w.oldestResumable, 15);
  assert.deepEqual(
    w.since(15)?.map((e) => e.revision),
    [16],
  );
  assert.throws(() => new EventWindow(0, 1), RangeError);
});
