import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { isAtrestError } from "../../src/common/errors.js";
import type { Store, WatchEvent } from "../../src/storage/store.js";

/**
 * One conformance suite for every Store (memory, SQLite, etcd): the semantics the apiserver relies on.
 * Call it from a test file with a factory; the store is opened once per suite and every test works
 * under its own key prefix, so tests do not see each other's keys.
 */
export interface StoreUnderTest {
  readonly store: Store;
  /** Stops whatever the factory started (servers, temp dirs); called after store.close(). */
  cleanup?(): Promise<void>;
}

export function registerStoreConformance(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`Store conformance: ${name}`, () => {
    let sut: StoreUnderTest | undefined;
    const store = (): Store => {
      assert.ok(sut, "store not opened");
      return sut.store;
    };
    before(async () => {
      sut = await open();
    });
    after(async () => {
      if (sut === undefined) return;
      await sut.store.close();
      await sut.cleanup?.();
    });
    const fresh = (): string => `/conformance/${randomUUID()}/`;
    const bytes = (s: string): Buffer => Buffer.from(s, "utf8");

    test("create then get returns the value and its revisions", async () => {
      const p = fresh();
      const before = await store().currentRevision();
      const kv = await store().create(`${p}a`, bytes("one"));
      assert.equal(kv.key, `${p}a`);
      assert.equal(kv.value.toString(), "one");
      assert.ok(kv.modRevision > before, "a write advances the revision");
      assert.equal(kv.createRevision, kv.modRevision);
      assert.equal(await store().currentRevision(), kv.modRevision);
      const got = await store().get(`${p}a`);
      assert.deepEqual(got, kv);
      assert.equal(await store().get(`${p}missing`), undefined);
    });

    test("create of an existing key is already-exists and changes nothing", async () => {
      const p = fresh();
      const kv = await store().create(`${p}a`, bytes("one"));
      await assert.rejects(store().create(`${p}a`, bytes("two")), (e) => isAtrestError(e, "already-exists"));
      assert.deepEqual(await store().get(`${p}a`), kv);
    });

    test("update is compare-and-swap on modRevision", async () => {
      const p = fresh();
      const kv = await store().create(`${p}a`, bytes("one"));
      const updated = await store().update(`${p}a`, bytes("two"), kv.modRevision);
      assert.ok(updated.modRevision > kv.modRevision);
      assert.equal(updated.createRevision, kv.createRevision);
      assert.equal(updated.value.toString(), "two");
      await assert.rejects(store().update(`${p}a`, bytes("three"), kv.modRevision), (e) =>
        isAtrestError(e, "conflict"),
      );
      assert.deepEqual(await store().get(`${p}a`), updated);
      await assert.rejects(store().update(`${p}missing`, bytes("x"), kv.modRevision), (e) =>
        isAtrestError(e, "not-found"),
      );
      assert.equal(await store().get(`${p}missing`), undefined);
    });

    test("an update with the same bytes still writes a new revision", async () => {
      const p = fresh();
      const kv = await store().create(`${p}a`, bytes("same"));
      const again = await store().update(`${p}a`, bytes("same"), kv.modRevision);
      assert.ok(again.modRevision > kv.modRevision);
    });

    test("delete returns the deleted value, honours an expected revision, then not-found", async () => {
      const p = fresh();
      const kv = await store().create(`${p}a`, bytes("one"));
      await assert.rejects(store().delete(`${p}a`, kv.modRevision + 1000), (e) =>
        isAtrestError(e, "conflict"),
      );
      assert.deepEqual(await store().get(`${p}a`), kv);
      const deleted = await store().delete(`${p}a`, kv.modRevision);
      assert.deepEqual(deleted, kv);
      assert.equal(await store().get(`${p}a`), undefined);
      await assert.rejects(store().delete(`${p}a`), (e) => isAtrestError(e, "not-found"));
      const recreated = await store().create(`${p}a`, bytes("again"));
      assert.ok(recreated.createRevision > kv.createRevision, "a re-created key has a new createRevision");
      await store().delete(`${p}a`);
      assert.equal(await store().get(`${p}a`), undefined);
    });

    test("list returns keys under the prefix in key order", async () => {
      const p = fresh();
      for (const k of ["c", "a", "b/x", "b", "d"]) await store().create(`${p}${k}`, bytes(k));
      await store().create(`${p.slice(0, -1)}-sibling`, bytes("outside"));
      const all = await store().list(p);
      assert.deepEqual(
        all.items.map((i) => i.key),
        ["a", "b", "b/x", "c", "d"].map((k) => `${p}${k}`),
      );
      assert.deepEqual(
        all.items.map((i) => i.value.toString()),
        ["a", "b", "b/x", "c", "d"],
      );
      assert.equal(all.more, false);
      assert.equal(all.revision, await store().currentRevision());
      assert.deepEqual(
        (await store().list(`${p}b/`)).items.map((i) => i.key),
        [`${p}b/x`],
      );
      assert.deepEqual((await store().list(`${p}zzz`)).items, []);
      const past = await store().list(p, { startAfter: `${p}zzz`, limit: 1 });
      assert.deepEqual([past.items, past.more], [[], false], "startAfter beyond the prefix's keys");
      const before = await store().list(p, { startAfter: "/", limit: 1 });
      assert.deepEqual(
        before.items.map((i) => i.key),
        [`${p}a`],
        "startAfter before the prefix starts at the prefix",
      );
    });

    test("list pages with limit and startAfter, at one revision", async () => {
      const p = fresh();
      const keys = ["k1", "k2", "k3", "k4", "k5"].map((k) => `${p}${k}`);
      for (const k of keys) await store().create(k, bytes(k));
      const page1 = await store().list(p, { limit: 2 });
      assert.deepEqual(
        page1.items.map((i) => i.key),
        keys.slice(0, 2),
      );
      assert.equal(page1.more, true);
      // A write between pages must not show up in later pages read at the first page's revision.
      await store().update(keys[3]!, bytes("changed"), (await store().get(keys[3]!))!.modRevision);
      await store().delete(keys[4]!);
      const page2 = await store().list(p, {
        limit: 2,
        startAfter: page1.items[1]!.key,
        revision: page1.revision,
      });
      assert.equal(page2.revision, page1.revision);
      assert.deepEqual(
        page2.items.map((i) => i.key),
        keys.slice(2, 4),
      );
      assert.equal(page2.items[1]!.value.toString(), keys[3]);
      assert.equal(page2.more, true);
      const page3 = await store().list(p, {
        limit: 2,
        startAfter: page2.items[1]!.key,
        revision: page1.revision,
      });
      assert.deepEqual(
        page3.items.map((i) => i.key),
        keys.slice(4),
      );
      assert.equal(page3.more, false);
      const exact = await store().list(p, { limit: 4 });
      assert.equal(exact.more, false, "exactly `limit` items left means no more");
      assert.deepEqual(
        exact.items.map((i) => i.key),
        keys.slice(0, 4),
      );
      assert.equal(exact.items[3]!.value.toString(), "changed");
    });

    test("list at a revision shows the state then", async () => {
      const p = fresh();
      const a = await store().create(`${p}a`, bytes("a1"));
      const b = await store().create(`${p}b`, bytes("b1"));
      const then = b.modRevision;
      await store().update(`${p}a`, bytes("a2"), a.modRevision);
      await store().delete(`${p}b`);
      await store().create(`${p}c`, bytes("c1"));
      const old = await store().list(p, { revision: then });
      assert.equal(old.revision, then);
      assert.deepEqual(
        old.items.map((i) => [i.key, i.value.toString(), i.modRevision]),
        [
          [`${p}a`, "a1", a.modRevision],
          [`${p}b`, "b1", b.modRevision],
        ],
      );
      const now = await store().list(p);
      assert.deepEqual(
        now.items.map((i) => [i.key, i.value.toString()]),
        [
          [`${p}a`, "a2"],
          [`${p}c`, "c1"],
        ],
      );
    });

    test("watch from a revision delivers later events in order, with prevKv", async () => {
      const p = fresh();
      await store().create(`${p}before`, bytes("x"));
      const from = await store().currentRevision();
      const a = await store().create(`${p}a`, bytes("a1"));
      const a2 = await store().update(`${p}a`, bytes("a2"), a.modRevision);
      await store().create(`${p.slice(0, -1)}-other`, bytes("not watched"));
      await store().delete(`${p}a`);
      const seen = collect();
      const w = await store().watch(p, from, seen.handlers);
      try {
        const events = await seen.waitFor(3);
        assert.deepEqual(summarize(events), [
          ["put", `${p}a`, "a1", undefined],
          ["put", `${p}a`, "a2", "a1"],
          ["delete", `${p}a`, undefined, "a2"],
        ]);
        const [e1, e2, e3] = events;
        assert.equal(e1?.type === "put" && e1.kv.modRevision, a.modRevision);
        assert.equal(e2?.type === "put" && e2.kv.modRevision, a2.modRevision);
        assert.equal(e2?.type === "put" && e2.prevKv?.modRevision, a.modRevision);
        assert.ok(e3?.type === "delete" && e3.modRevision > a2.modRevision);
        // Live events keep coming on the same watch.
        const b = await store().create(`${p}b`, bytes("b1"));
        const more = await seen.waitFor(4);
        assert.deepEqual(summarize(more.slice(3)), [["put", `${p}b`, "b1", undefined]]);
        assert.equal(more[3]?.type === "put" && more[3].kv.modRevision, b.modRevision);
        assert.equal(seen.errors.length, 0);
      } finally {
        await w.cancel();
      }
    });

    test("watch from 0 sees only new events, and cancel stops delivery", async () => {
      const p = fresh();
      await store().create(`${p}old`, bytes("old"));
      const seen = collect();
      const w = await store().watch(p, 0, seen.handlers);
      let cancelled = false;
      try {
        await store().create(`${p}new`, bytes("new"));
        const events = await seen.waitFor(1);
        assert.deepEqual(summarize(events), [["put", `${p}new`, "new", undefined]]);
        await w.cancel();
        cancelled = true;
        await store().create(`${p}after-cancel`, bytes("x"));
        // A later watch that sees the write proves it happened; the cancelled one got nothing.
        const probe = collect();
        const w2 = await store().watch(
          p,
          events[0]?.type === "put" ? events[0].kv.modRevision : 0,
          probe.handlers,
        );
        await probe.waitFor(1);
        await w2.cancel();
        assert.equal(seen.events.length, 1);
      } finally {
        if (!cancelled) await w.cancel();
      }
    });

    test("a watch from a future revision waits for it", async () => {
      const p = fresh();
      const now = await store().currentRevision();
      const seen = collect();
      const w = await store().watch(p, now + 2, seen.handlers);
      try {
        for (const k of ["1", "2", "3"]) await store().create(`${p}${k}`, bytes(k));
        const events = await seen.waitFor(1);
        assert.deepEqual(summarize(events), [["put", `${p}3`, "3", undefined]]);
        // A later write proves nothing else was on its way.
        await store().create(`${p}4`, bytes("4"));
        assert.deepEqual(summarize((await seen.waitFor(2)).slice(1)), [["put", `${p}4`, "4", undefined]]);
      } finally {
        await w.cancel();
      }
    });

    test("a watch resumes from the revision of the last event it saw", async () => {
      const p = fresh();
      const from = await store().currentRevision();
      const seen = collect();
      const w = await store().watch(p, from, seen.handlers);
      await store().create(`${p}1`, bytes("1"));
      const first = await seen.waitFor(1);
      await w.cancel();
      await store().create(`${p}2`, bytes("2"));
      await store().create(`${p}3`, bytes("3"));
      const resumeAt = first[0]?.type === "put" ? first[0].kv.modRevision : -1;
      const resumed = collect();
      const w2 = await store().watch(p, resumeAt, resumed.handlers);
      try {
        const events = await resumed.waitFor(2);
        assert.deepEqual(summarize(events), [
          ["put", `${p}2`, "2", undefined],
          ["put", `${p}3`, "3", undefined],
        ]);
      } finally {
        await w2.cancel();
      }
    });

    test("compaction makes older lists and watches gone, newer ones still work", async () => {
      const p = fresh();
      const a = await store().create(`${p}a`, bytes("a1"));
      const old = a.modRevision;
      await store().update(`${p}a`, bytes("a2"), a.modRevision);
      await store().create(`${p}b`, bytes("b1"));
      const compactAt = await store().currentRevision();
      await store().compact(compactAt);
      await store().compact(compactAt); // compacting again at the same revision is harmless
      await assert.rejects(store().list(p, { revision: old }), (e) => isAtrestError(e, "gone"));
      const seen = collect();
      let gone = false;
      try {
        const w = await store().watch(p, old, seen.handlers);
        try {
          const err = await seen.waitForError();
          gone = isAtrestError(err, "gone");
        } finally {
          await w.cancel();
        }
      } catch (err) {
        gone = isAtrestError(err, "gone");
      }
      assert.ok(gone, "watch from a compacted revision is gone");
      assert.equal(seen.events.length, 0, "no events from a compacted watch");
      // The state at and after the compact revision survives.
      const atCompact = await store().list(p, { revision: compactAt });
      assert.deepEqual(
        atCompact.items.map((i) => [i.key, i.value.toString()]),
        [
          [`${p}a`, "a2"],
          [`${p}b`, "b1"],
        ],
      );
      assert.equal((await store().get(`${p}a`))?.value.toString(), "a2");
      const live = collect();
      const w = await store().watch(p, compactAt, live.handlers);
      try {
        await store().create(`${p}c`, bytes("c1"));
        assert.deepEqual(summarize(await live.waitFor(1)), [["put", `${p}c`, "c1", undefined]]);
      } finally {
        await w.cancel();
      }
    });

    test("a watch handler that throws ends only its own watch", async () => {
      const p = fresh();
      const from = await store().currentRevision();
      const errors: Error[] = [];
      let calls = 0;
      const bad = await store().watch(p, from, {
        onEvent: () => {
          calls++;
          throw new Error("handler bug");
        },
        onError: (err) => errors.push(err),
      });
      const good = collect();
      const w = await store().watch(p, from, good.handlers);
      try {
        await store().create(`${p}a`, bytes("a"));
        await store().create(`${p}b`, bytes("b"));
        assert.equal((await good.waitFor(2)).length, 2);
        const deadline = Date.now() + 5_000;
        while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.equal(errors.length, 1);
        assert.ok(isAtrestError(errors[0], "internal"));
        assert.equal(calls, 1, "no events after the handler failed");
        assert.equal((await store().get(`${p}b`))?.value.toString(), "b");
      } finally {
        await w.cancel();
        await bad.cancel();
      }
    });

    test("values are bytes, kept exactly", async () => {
      const p = fresh();
      const value = Buffer.from([0, 1, 2, 255, 254, 0x6b, 0x38, 0x73, 0]);
      await store().create(`${p}bin`, value);
      assert.deepEqual((await store().get(`${p}bin`))?.value, value);
      assert.deepEqual((await store().list(p)).items[0]?.value, value);
    });
  });
}

interface Collector {
  readonly events: WatchEvent[];
  readonly errors: Error[];
  readonly handlers: { onEvent(e: WatchEvent): void; onError(err: Error): void };
  waitFor(count: number, timeoutMs?: number): Promise<WatchEvent[]>;
  waitForError(timeoutMs?: number): Promise<Error>;
}

/** Collects watch events; waits are bounded so a missing event fails the test instead of hanging it. */
export function collect(): Collector {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const until = async (done: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what} (have ${events.length} events, ${errors.length} errors)`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  };
  return {
    events,
    errors,
    handlers: {
      onEvent: (e) => {
        events.push(e);
        notify();
      },
      onError: (err) => {
        errors.push(err);
        notify();
      },
    },
    async waitFor(count, timeoutMs = 10_000) {
      await until(() => events.length >= count || errors.length > 0, timeoutMs, `${count} events`);
      if (events.length < count) throw errors[0] ?? new Error("watch failed");
      return [...events];
    },
    async waitForError(timeoutMs = 10_000) {
      await until(() => errors.length > 0, timeoutMs, "a watch error");
      return errors[0]!;
    },
  };
}

function summarize(events: WatchEvent[]): Array<[string, string, string | undefined, string | undefined]> {
  return events.map((e) =>
    e.type === "put"
      ? ["put", e.kv.key, e.kv.value.toString(), e.prevKv?.value.toString()]
      : ["delete", e.key, undefined, e.prevKv?.value.toString()],
  );
}
