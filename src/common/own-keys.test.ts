import { test } from "node:test";
import assert from "node:assert/strict";
import { getOwn, setOwn } from "./own-keys.js";

test("setOwn stores __proto__ as a key, getOwn never finds inherited members", () => {
  const o: Record<string, unknown> = {};
  setOwn(o, "__proto__", { polluted: true });
  assert.deepEqual(Object.keys(o), ["__proto__"]);
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  assert.equal((o as { polluted?: unknown }).polluted, undefined);
  assert.deepEqual(getOwn(o, "__proto__"), { polluted: true });
  assert.equal(getOwn({}, "toString"), undefined);
  assert.equal(getOwn({}, "constructor"), undefined);
  assert.equal(JSON.stringify(o), '{"__proto__":{"polluted":true}}');
});
