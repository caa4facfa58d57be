import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, describe, test } from "node:test";
import { AtrestError, isAtrestError } from "../src/common/errors.js";
import type { ReadResult, Transformer } from "../src/envelope/transformer.js";
import type { DecodedWatchEvent } from "../src/storage/decoded-value.js";
import { isUnreadableValueError, transformerPrefixOf } from "../src/storage/transformation-record.js";
import { TransformingStore } from "../src/storage/transforming-store.js";
import {
  BACKENDS,
  eventSummary,
  TestTransformer,
  waitFor,
  type Backend,
} from "./support/transforming-backends.js";

/**
 * The transforming store as the apiserver runs it: with its decrypted-object cache, on each store that
 * ships. A hit is by (key, modRevision); `invalidate()` and the generation keep stale verdicts honest;
 * guaranteedUpdate, conditional deletes, namespace-sized deletes and watches go through the same cache.
 */

const k1 = { name: "k1", key: randomBytes(32) };
const k2 = { name: "k2", key: randomBytes(32) };
const MiB = 1024 * 1024;

/** Reads through whichever transformer `current` holds now (a reload swaps it). */
function switchable(first: Transformer): { transformerFor: () => Transformer; use(t: Transformer): void } {
  let current = first;
  return {
    transformerFor: () => current,
    use: (t) => (current = t),
  };
}

function cacheSuite(backend: Backend): void {
  describe(`transforming store with its decrypted-object cache on ${backend.name}`, () => {
    backend.hooks();
    afterEach(() => backend.closeAll());

    async function setup(transformer: Transformer, decodedCacheBytes = MiB) {
      const store = await backend.fresh();
      const ts = new TransformingStore(store, () => transformer, { decodedCacheBytes });
      return { ts, store };
    }

    test("a read after a write or a read is served from the cache; a new revision is decoded again", async () => {
      const t = new TestTransformer([k1]);
      const { ts, store } = await setup(t);
      const key = "/registry/secrets/default/s";
      const w = await ts.create(key, Buffer.from("one"));
      const got = await ts.get(key);
      assert.equal(got?.data.toString(), "one");
      assert.equal(got?.stale, false);
      assert.equal(got?.modRevision, w.modRevision);
      assert.equal(got?.createRevision, w.createRevision);
      assert.equal(got?.origin, undefined, "served from the write: not read through the transformer");
      assert.equal(t.calls.fromStorage, 0);
      // Another writer (no shared cache) changes the value: the new revision is decoded, once.
      const other = new TransformingStore(store, () => t);
      await other.update(key, Buffer.from("two"), w.modRevision);
      assert.equal((await ts.get(key))?.data.toString(), "two");
      assert.equal(t.calls.fromStorage, 1);
      const again = await ts.get(key);
      assert.deepEqual(again?.origin, { provider: "aesgcm", keyName: "k1" });
      assert.equal(t.calls.fromStorage, 1, "the second read is a hit");
      const listed = await ts.list("/registry/secrets/default/");
      assert.deepEqual(
        listed.items.map((i) => i.data.toString()),
        ["two"],
      );
      assert.equal(t.calls.fromStorage, 1, "lists hit the same cache");
      assert.equal(ts.decodedCacheSize, 1);
    });

    test("invalidate() drops cached verdicts: after a reload the old value reads stale and is rewritten", async () => {
      const t = switchable(new TestTransformer([k1]));
      const store = await backend.fresh();
      const ts = new TransformingStore(store, t.transformerFor, { decodedCacheBytes: MiB });
      const key = "/registry/secrets/default/rotate";
      await ts.create(key, Buffer.from("v"));
      t.use(new TestTransformer([k2, k1])); // k2 writes now
      assert.equal((await ts.get(key))?.stale, false, "the cache still holds the old verdict");
      ts.invalidate();
      assert.equal(ts.decodedCacheSize, 0);
      const read = await ts.get(key);
      assert.equal(read?.stale, true);
      const rewritten = await ts.guaranteedUpdate(key, (c) => c.data);
      assert.ok(rewritten.modRevision > (read?.modRevision ?? Infinity));
      assert.equal(transformerPrefixOf((await store.get(key))!.value), "k8s:enc:test:v1:k2:");
      const after = await ts.get(key);
      assert.equal(after?.stale, false);
      assert.equal(after?.data.toString(), "v");
      // Unchanged and current now: the next guaranteed update writes nothing.
      const same = await ts.guaranteedUpdate(key, () => undefined);
      assert.equal(same.modRevision, rewritten.modRevision);
    });

    test("a decode that started before invalidate() is returned but not kept", async () => {
      const inner = new TestTransformer([k1]);
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      let waiting = 0;
      const gated: Transformer = {
        transformToStorage: (p, c) => inner.transformToStorage(p, c),
        async transformFromStorage(d, c): Promise<ReadResult> {
          waiting++;
          await gate;
          return inner.transformFromStorage(d, c);
        },
      };
      const store = await backend.fresh();
      const writer = new TransformingStore(store, () => inner);
      await writer.create("/registry/secrets/default/g", Buffer.from("gated"));
      const ts = new TransformingStore(store, () => gated, { decodedCacheBytes: MiB });
      const pending = ts.get("/registry/secrets/default/g");
      await waitFor(() => waiting === 1);
      ts.invalidate(); // the verdict being computed may be old
      release();
      assert.equal((await pending)?.data.toString(), "gated");
      assert.equal(ts.decodedCacheSize, 0, "not kept");
      await ts.get("/registry/secrets/default/g");
      assert.equal(waiting, 2, "decoded again");
      assert.equal(ts.decodedCacheSize, 1);
      await ts.get("/registry/secrets/default/g");
      assert.equal(waiting, 2);
    });

    test("the byte budget bounds the cached plaintext; a zero budget keeps nothing", async () => {
      const t = new TestTransformer([k1]);
      const { ts } = await setup(t, 400); // each entry: 100 bytes + its key (~28)
      for (let i = 0; i < 10; i++) await ts.create(`/registry/secrets/default/s${i}`, Buffer.alloc(100, i));
      assert.ok(ts.decodedCacheSize > 0 && ts.decodedCacheSize <= 3, `${ts.decodedCacheSize} entries`);
      await ts.get("/registry/secrets/default/s9");
      assert.equal(t.calls.fromStorage, 0, "the newest is still there");
      await ts.get("/registry/secrets/default/s0");
      assert.equal(t.calls.fromStorage, 1, "the oldest left first");
      const off = await setup(new TestTransformer([k1]), 0);
      await off.ts.create("/registry/secrets/default/x", Buffer.from("x"));
      await off.ts.get("/registry/secrets/default/x");
      assert.equal(off.ts.decodedCacheSize, 0);
    });

    test("guaranteedUpdate: fn errors pass through unwritten; dryRun computes without writing", async () => {
      const t = new TestTransformer([k1]);
      const { ts, store } = await setup(t);
      const key = "/registry/configmaps/default/cm";
      const w = await ts.create(key, Buffer.from("v1"));
      const refusal = new AtrestError("failed-precondition", "refused by the caller");
      await assert.rejects(
        ts.guaranteedUpdate(key, () => {
          throw refusal;
        }),
        (e) => e === refusal,
      );
      const dry = await ts.guaranteedUpdate(key, () => Buffer.from("v2"), { dryRun: true });
      assert.equal(dry.data.toString(), "v2");
      assert.equal(dry.modRevision, w.modRevision);
      assert.equal((await store.get(key))?.modRevision, w.modRevision, "nothing written");
      assert.equal((await ts.get(key))?.data.toString(), "v1");
      const real = await ts.guaranteedUpdate(key, () => Buffer.from("v2"));
      assert.ok(real.modRevision > w.modRevision);
      assert.equal((await ts.get(key))?.data.toString(), "v2");
      assert.equal(t.calls.fromStorage, 0, "every read was a hit");
    });

    test("delete: beforeDelete refuses or runs first, dryRun deletes nothing, the plaintext leaves the cache", async () => {
      const { ts, store } = await setup(new TestTransformer([k1]));
      const key = "/registry/secrets/default/d";
      const w = await ts.create(key, Buffer.from("D"));
      assert.equal(await ts.has(key), true);
      await assert.rejects(
        ts.delete(key, {
          beforeDelete: () => {
            throw new AtrestError("conflict", "precondition failed");
          },
        }),
        (e) => isAtrestError(e, "conflict") && e.message === "precondition failed",
      );
      const seen: string[] = [];
      const dry = await ts.delete(key, {
        dryRun: true,
        beforeDelete: (c) => void seen.push(c.data.toString()),
      });
      assert.equal(dry.data.toString(), "D");
      assert.deepEqual(seen, ["D"]);
      assert.equal(await ts.has(key), true, "a dry run deletes nothing");
      const deleted = await ts.delete(key, { beforeDelete: (c) => void seen.push(c.data.toString()) });
      assert.equal(deleted.modRevision, w.modRevision);
      assert.deepEqual(seen, ["D", "D"]);
      assert.equal(await ts.has(key), false);
      assert.equal(await store.get(key), undefined);
      assert.equal(ts.decodedCacheSize, 0, "no plaintext of a deleted value stays");
      await assert.rejects(ts.delete(key), (e) => isAtrestError(e, "not-found"));
    });

    test("deletePrefixWithoutDecodingUnsafe deletes everything under a prefix, readable or not", async () => {
      const { ts, store } = await setup(new TestTransformer([k1]));
      for (let i = 0; i < 3; i++) await ts.create(`/registry/secrets/gone/s${i}`, Buffer.from("x"));
      await store.create("/registry/secrets/gone/broken", Buffer.from("k8s:enc:test:v1:k9:not-readable"));
      await ts.create("/registry/secrets/gone-not/s", Buffer.from("stays"));
      assert.equal(await ts.deletePrefixWithoutDecodingUnsafe("/registry/secrets/gone/"), 4);
      assert.equal((await store.list("/registry/secrets/gone/")).items.length, 0);
      assert.equal((await ts.get("/registry/secrets/gone-not/s"))?.data.toString(), "stays");
      assert.equal(ts.decodedCacheSize, 1);
    });

    test("a value that does not read is an error marked as such, naming the key and not the bytes", async () => {
      const { ts, store } = await setup(new TestTransformer([k1]));
      await store.create("/registry/secrets/default/bad", Buffer.from("k8s:enc:test:v1:k1:hunter2-hunter2"));
      await assert.rejects(ts.get("/registry/secrets/default/bad"), (e) => {
        assert.ok(isUnreadableValueError(e));
        assert.equal(e.code, "data-corrupt");
        assert.equal(e.details.key, "/registry/secrets/default/bad");
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      });
      assert.equal(ts.decodedCacheSize, 0);
      // A write that cannot transform is not a read failure.
      const failing: Transformer = {
        transformFromStorage: () => Promise.reject(new Error("unused")),
        transformToStorage: () => Promise.reject(new AtrestError("unavailable", "the KMS is down")),
      };
      const down = new TransformingStore(store, () => failing, { decodedCacheBytes: MiB });
      await assert.rejects(down.create("/registry/secrets/default/new", Buffer.from("x")), (e) => {
        assert.ok(isAtrestError(e, "unavailable"));
        assert.equal(isUnreadableValueError(e), false);
        return true;
      });
      assert.equal(await store.get("/registry/secrets/default/new"), undefined, "nothing stored");
    });

    test("watch: values come from the cache; previous values of puts only when asked; deletes drop the entry", async () => {
      const t = new TestTransformer([k1]);
      const { ts } = await setup(t);
      const from = await ts.currentRevision();
      // Written before the watch starts, which replays them: on etcd a live event can arrive before the
      // write's own answer has filled the cache (a miss that only costs a decode), so a live watch would
      // make the count below depend on timing.
      const a = await ts.create("/registry/secrets/w/a", Buffer.from("a1"));
      await ts.update("/registry/secrets/w/a", Buffer.from("a2"), a.modRevision);
      const events: DecodedWatchEvent[] = [];
      const w = await ts.watch(
        "/registry/secrets/w/",
        from,
        { onEvent: (e) => void events.push(e), onError: (err) => assert.fail(err) },
        { decodePrevOnPut: false },
      );
      try {
        await waitFor(() => events.length === 2);
        // The cache holds a key's newest value: a1 is decoded, a2 (written here) is a hit, and the previous
        // value of a2's put is not decoded, as asked.
        assert.equal(t.calls.fromStorage, 1);
        await ts.delete("/registry/secrets/w/a");
        await waitFor(() => events.length === 3);
        assert.deepEqual(events.map(eventSummary), [
          ["put", "a1", undefined],
          ["put", "a2", undefined],
          ["delete", "/registry/secrets/w/a", "a2"],
        ]);
        assert.equal(ts.decodedCacheSize, 0, "the deleted value's plaintext is not kept");
      } finally {
        await w.cancel();
      }
    });
  });
}

for (const backend of BACKENDS) cacheSuite(backend());
