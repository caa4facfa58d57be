import { test } from "node:test";
import assert from "node:assert/strict";
import { systemRandom } from "./random.js";

test("systemRandom.bytes: the requested length, never the same bytes twice, across pool refills", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const b = systemRandom.bytes(12);
    assert.equal(b.length, 12);
    const hex = b.toString("hex");
    assert.equal(seen.has(hex), false);
    seen.add(hex);
  }
  // Buffers handed out are independent: changing one leaves the next untouched.
  const a = systemRandom.bytes(16);
  const copy = Buffer.from(a);
  systemRandom.bytes(16).fill(0);
  assert.deepEqual(a, copy);
  assert.equal(systemRandom.bytes(0).length, 0);
  const large = systemRandom.bytes(4096);
  assert.equal(large.length, 4096);
  assert.notDeepEqual(large.subarray(0, 64), Buffer.alloc(64));
});
