import { test } from "node:test";
import assert from "node:assert/strict";
import { DecodedCache } from "./decoded-cache.js";

const entry = (modRevision: number, text: string, stale = false) => ({
  modRevision,
  data: Buffer.from(text),
  stale,
});

test("a hit needs the same key and modRevision", () => {
  const c = new DecodedCache(1024);
  c.set("/k", entry(5, "five"), c.generation);
  assert.equal(c.get("/k", 5)?.data.toString(), "five");
  assert.equal(c.get("/k", 6), undefined, "another revision of the key is another value");
  assert.equal(c.get("/other", 5), undefined);
  c.set("/k", entry(6, "six"), c.generation);
  assert.equal(c.get("/k", 5), undefined, "one entry per key: the newer replaces it");
  assert.equal(c.get("/k", 6)?.data.toString(), "six");
});

test("clear() forgets everything, and a set with a generation taken before it is dropped", () => {
  const c = new DecodedCache(1024);
  const before = c.generation;
  c.set("/a", entry(1, "a"), before);
  c.clear();
  assert.equal(c.get("/a", 1), undefined);
  c.set("/b", entry(2, "b"), before); // a decode that started before the clear
  assert.equal(c.get("/b", 2), undefined, "its stale verdict may be old: not kept");
  c.set("/b", entry(2, "b"), c.generation);
  assert.equal(c.get("/b", 2)?.data.toString(), "b");
});

test("the byte budget evicts the oldest entries; an entry over the budget is not kept", () => {
  const c = new DecodedCache(30); // each entry costs len(data) + len(key) = 10
  for (let i = 0; i < 5; i++) c.set(`/k${i}`, entry(i + 1, "1234567"), c.generation);
  assert.equal(c.size, 3);
  assert.equal(c.get("/k0", 1), undefined);
  assert.equal(c.get("/k1", 2), undefined);
  assert.ok(c.get("/k4", 5));
  c.set("/big", entry(9, "x".repeat(40)), c.generation);
  assert.equal(c.get("/big", 9), undefined);
  assert.equal(c.size, 3);
  assert.equal(new DecodedCache(0).size, 0);
  const off = new DecodedCache(0);
  off.set("/k", entry(1, "a"), off.generation);
  assert.equal(off.get("/k", 1), undefined, "a zero budget turns the cache off");
});
