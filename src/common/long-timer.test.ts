import { test } from "node:test";
import assert from "node:assert/strict";
import { setLongTimeout } from "./long-timer.js";

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met");
    await new Promise((r) => setImmediate(r));
  }
};

test("a delay longer than one timer can hold fires once, after all of it, in hops", async () => {
  let fired = 0;
  const started = Date.now();
  setLongTimeout(() => fired++, 60, 7);
  await until(() => fired === 1);
  assert.ok(Date.now() - started >= 55, "not before the whole delay");
  // A cleared timer never fires, also between hops.
  const cleared = setLongTimeout(() => fired++, 40, 5);
  await new Promise((r) => setTimeout(r, 12));
  cleared.clear();
  const marker = setLongTimeout(() => fired++, 60, 5);
  await until(() => fired === 2);
  marker.clear();
  // Infinity and huge delays are honoured (Node's own setTimeout fires those after 1 ms).
  const never = setLongTimeout(() => fired++, Infinity);
  const huge = setLongTimeout(() => fired++, 2 ** 31 * 1000).unref();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fired, 2);
  never.clear();
  huge.clear();
});
