import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, describe, test } from "node:test";
import { isAtrestError } from "../src/common/errors.js";
import { newAesGcmTransformer } from "../src/envelope/aesgcm.js";
import type { Transformer } from "../src/envelope/transformer.js";
import type { DecodedWatchEvent } from "../src/storage/decoded-value.js";
import type { Store } from "../src/storage/store.js";
import { transformerPrefixOf, type TransformationRecord } from "../src/storage/transformation-record.js";
import { TransformingStore } from "../src/storage/transforming-store.js";
import { BACKENDS, eventSummary, TestTransformer, type Backend } from "./support/transforming-backends.js";

/**
 * The transforming store without its decrypted-object cache (every read goes through the transformer),
 * on each store that ships: memory, SQLite, etcd. The cache has its own suite
 * (storage-transforming-cache.test.ts).
 */

const k1 = { name: "k1", key: randomBytes(32) };
const k2 = { name: "k2", key: randomBytes(32) };
const SECRET = '{"kind":"Secret","data":{"password":"c3VwZXItc2VjcmV0"}}';

function transformingStoreSuite(backend: Backend): void {
  describe(`transforming store on ${backend.name}`, () => {
    backend.hooks();
    afterEach(() => backend.closeAll());

    async function setup(transformer: Transformer = new TestTransformer([k1]), given?: Store) {
      const store = given ?? (await backend.fresh());
      const records: TransformationRecord[] = [];
      const ts = new TransformingStore(store, () => transformer, {
        observer: { observe: (r) => records.push(r) },
      });
      return { ts, store, records };
    }

    test("writes ciphertext, reads plaintext, with the key's origin", async () => {
      const { ts, store } = await setup();
      const key = "/registry/secrets/default/s1";
      const w = await ts.create(key, Buffer.from(SECRET));
      const raw = await store.get(key);
      assert.ok(raw);
      assert.ok(raw.value.subarray(0, 20).toString().startsWith("k8s:enc:test:v1:k1:"));
      assert.equal(raw.value.includes(Buffer.from("c3VwZXItc2VjcmV0")), false, "no plaintext at rest");
      const got = await ts.get(key);
      assert.ok(got);
      assert.equal(got.data.toString(), SECRET);
      assert.equal(got.stale, false);
      assert.deepEqual(got.origin, { provider: "aesgcm", keyName: "k1" });
      assert.equal(got.modRevision, w.modRevision);
      assert.equal(got.createRevision, w.createRevision);
      assert.equal(await ts.get("/registry/secrets/default/none"), undefined);
    });

    test("the storage key is the AAD: bytes moved to another key do not read", async () => {
      const { ts, store, records } = await setup();
      await ts.create("/registry/secrets/a/s", Buffer.from(SECRET));
      const raw = await store.get("/registry/secrets/a/s");
      assert.ok(raw);
      await store.create("/registry/secrets/b/s", raw.value);
      await assert.rejects(ts.get("/registry/secrets/b/s"), (e) => {
        assert.ok(isAtrestError(e, "data-corrupt"));
        assert.match(e.message, /unable to transform key "\/registry\/secrets\/b\/s"/);
        assert.equal(e.message.includes("c3VwZXItc2VjcmV0"), false);
        return true;
      });
      assert.equal((await ts.get("/registry/secrets/a/s"))?.data.toString(), SECRET);
      assert.deepEqual(
        records.map((r) => [r.transformationType, r.transformerPrefix, r.status]),
        [
          ["to_storage", "k8s:enc:test:v1:k1:", "OK"],
          ["from_storage", "k8s:enc:test:v1:k1:", "DataLoss"],
          ["from_storage", "k8s:enc:test:v1:k1:", "OK"],
        ],
      );
    });

    test("the stale flag surfaces, and an update rewrites a stale value even when nothing changed", async () => {
      const store = await backend.fresh();
      const key = "/registry/secrets/default/rotate";
      const old = await setup(new TestTransformer([k1]), store);
      await old.ts.create(key, Buffer.from(SECRET));
      // The configuration now writes with k2 and still reads k1.
      const transformer = new TestTransformer([k2, k1]);
      const { ts } = await setup(transformer, store);
      const before = await ts.get(key);
      assert.ok(before);
      assert.equal(before.stale, true);
      assert.equal(before.origin?.keyName, "k1");
      const after = await ts.guaranteedUpdate(key, (current) => current.data);
      assert.ok(after.modRevision > before.modRevision, "a stale value is written back");
      const raw = await store.get(key);
      assert.ok(raw?.value.toString("latin1").startsWith("k8s:enc:test:v1:k2:"));
      const fresh = await ts.get(key);
      assert.equal(fresh?.stale, false);
      assert.equal(fresh?.data.toString(), SECRET);
      // A value that is not stale and did not change is not written again.
      const writes = transformer.calls.toStorage;
      const same = await ts.guaranteedUpdate(key, (current) => current.data);
      assert.equal(same.modRevision, fresh?.modRevision);
      assert.equal(transformer.calls.toStorage, writes);
      // update() always writes, whatever the bytes.
      const forced = await ts.update(key, Buffer.from(SECRET), same.modRevision);
      assert.ok(forced.modRevision > same.modRevision);
    });

    test("guaranteedUpdate retries when another writer wins, and reports not-found", async () => {
      const { ts } = await setup();
      const key = "/registry/configmaps/default/cm";
      await ts.create(key, Buffer.from("v0"));
      let calls = 0;
      const result = await ts.guaranteedUpdate(key, async (current) => {
        calls++;
        if (calls === 1) await ts.update(key, Buffer.from("other"), current.modRevision);
        return Buffer.from(`${current.data.toString()}+mine`);
      });
      assert.equal(calls, 2);
      assert.equal(result.data.toString(), "other+mine");
      await assert.rejects(
        ts.guaranteedUpdate("/registry/configmaps/default/none", (c) => c.data),
        (e) => isAtrestError(e, "not-found"),
      );
    });

    test("update keeps compare-and-swap", async () => {
      const { ts } = await setup();
      const w = await ts.create("/registry/secrets/x/y", Buffer.from("1"));
      await ts.update("/registry/secrets/x/y", Buffer.from("2"), w.modRevision);
      await assert.rejects(ts.update("/registry/secrets/x/y", Buffer.from("3"), w.modRevision), (e) =>
        isAtrestError(e, "conflict"),
      );
      assert.equal((await ts.get("/registry/secrets/x/y"))?.data.toString(), "2");
    });

    test("list decodes each item; an undecodable item fails the list naming its key", async () => {
      const { ts, store } = await setup();
      await ts.create("/registry/secrets/ns/a", Buffer.from("A"));
      await ts.create("/registry/secrets/ns/b", Buffer.from("B"));
      const listed = await ts.list("/registry/secrets/ns/", { limit: 1 });
      assert.deepEqual(
        listed.items.map((i) => [i.key, i.data.toString(), i.stale]),
        [["/registry/secrets/ns/a", "A", false]],
      );
      assert.equal(listed.more, true);
      await store.create(
        "/registry/secrets/ns/c",
        Buffer.from("k8s:enc:test:v1:k1:garbage-garbage-garbage-garbage"),
      );
      await assert.rejects(
        ts.list("/registry/secrets/ns/"),
        (e) => isAtrestError(e, "data-corrupt") && e.message.includes('"/registry/secrets/ns/c"'),
      );
    });

    test("delete reads first and returns the decoded value; undecodable values need the unsafe path", async () => {
      const { ts, store } = await setup();
      const w = await ts.create("/registry/secrets/ns/d", Buffer.from("D"));
      await assert.rejects(ts.delete("/registry/secrets/ns/d", w.modRevision + 99), (e) =>
        isAtrestError(e, "conflict"),
      );
      const deleted = await ts.delete("/registry/secrets/ns/d", w.modRevision);
      assert.equal(deleted.data.toString(), "D");
      assert.equal(await store.get("/registry/secrets/ns/d"), undefined);
      await store.create("/registry/secrets/ns/bad", Buffer.from("k8s:enc:test:v1:k9:xx"));
      await assert.rejects(ts.delete("/registry/secrets/ns/bad"), (e) => isAtrestError(e, "data-corrupt"));
      assert.ok(await store.get("/registry/secrets/ns/bad"), "not deleted");
      await ts.deleteWithoutDecodingUnsafe("/registry/secrets/ns/bad");
      assert.equal(await store.get("/registry/secrets/ns/bad"), undefined);
    });

    test("watch events are decoded in order; an undecodable one is reported, not fatal", async () => {
      const { ts, store } = await setup();
      const from = await ts.currentRevision();
      const events: DecodedWatchEvent[] = [];
      let done: () => void = () => {};
      const four = new Promise<void>((r) => (done = r));
      const w = await ts.watch("/registry/secrets/w/", from, {
        onEvent: (e) => {
          events.push(e);
          if (events.length === 4) done();
        },
        onError: (err) => assert.fail(err),
      });
      try {
        const a = await ts.create("/registry/secrets/w/a", Buffer.from("a1"));
        await ts.update("/registry/secrets/w/a", Buffer.from("a2"), a.modRevision);
        await store.create(
          "/registry/secrets/w/bad",
          Buffer.from("k8s:enc:test:v1:k1:nope-nope-nope-nope-nope"),
        );
        await ts.delete("/registry/secrets/w/a");
        await Promise.race([
          four,
          new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), 5_000)),
        ]);
        assert.deepEqual(events.map(eventSummary), [
          ["put", "a1", undefined],
          ["put", "a2", "a1"],
          ["undecodable", "/registry/secrets/w/bad", "data-corrupt"],
          ["delete", "/registry/secrets/w/a", "a2"],
        ]);
      } finally {
        await w.cancel();
      }
    });

    test("with the aesgcm provider: AAD binds bytes to their key, rotation marks stale", async () => {
      const store = await backend.fresh();
      const key1 = { name: "key1", secret: randomBytes(32) };
      const key2 = { name: "key2", secret: randomBytes(32) };
      const { ts } = await setup(newAesGcmTransformer([key1]), store);
      await ts.create("/registry/secrets/ns/one", Buffer.from(SECRET));
      const raw = await store.get("/registry/secrets/ns/one");
      assert.ok(raw);
      assert.equal(transformerPrefixOf(raw.value), "k8s:enc:aesgcm:v1:key1:");
      await store.create("/registry/secrets/ns/two", raw.value);
      await assert.rejects(
        ts.get("/registry/secrets/ns/two"),
        (e) => isAtrestError(e) && e.message.includes('"/registry/secrets/ns/two"'),
      );
      const rotated = (await setup(newAesGcmTransformer([key2, key1]), store)).ts;
      const read = await rotated.get("/registry/secrets/ns/one");
      assert.equal(read?.stale, true);
      assert.equal(read?.data.toString(), SECRET);
      await rotated.guaranteedUpdate("/registry/secrets/ns/one", (c) => c.data);
      assert.equal(
        transformerPrefixOf((await store.get("/registry/secrets/ns/one"))!.value),
        "k8s:enc:aesgcm:v1:key2:",
      );
      assert.equal((await rotated.get("/registry/secrets/ns/one"))?.stale, false);
    });
  });
}

for (const backend of BACKENDS) transformingStoreSuite(backend());

describe("transformer prefixes", () => {
  test("transformer prefixes for metrics name the provider and key, never data", () => {
    assert.equal(transformerPrefixOf(Buffer.from('{"kind":"Secret"}')), "identity");
    assert.equal(
      transformerPrefixOf(Buffer.from("k8s:enc:kms:v2:my-kms:\x0a\x10binary:stuff")),
      "k8s:enc:kms:v2:my-kms:",
    );
    assert.equal(transformerPrefixOf(Buffer.from("k8s:enc:broken")), "unknown");
  });
});
