import assert from "node:assert/strict";
import { test } from "node:test";
import { systemClock } from "../../../common/clock.js";
import { AtrestError } from "../../../common/errors.js";
import { systemRandom } from "../../../common/random.js";
import type { Transformer } from "../../../envelope/transformer.js";
import { metaOf, type KubeObject } from "../../../kube-object/types.js";
import { MemoryStore } from "../../../storage/memory-store.js";
import type { Store, Watch, WatchHandlers } from "../../../storage/store.js";
import { TransformingStore } from "../../../storage/transforming-store.js";
import { resourceByName, type ResourceInfo } from "../../resources.js";
import { statusFromError } from "../../status.js";
import { Registry } from "../registry.js";
import type { WatchEventType, WatchSink } from "../types.js";
import { versioned } from "../../../../test/support/versioned-transformer.js";

/**
 * The watch cache behind the registry, over a real (memory) store and the transforming store, with a
 * transformer that counts its decodes: watches from the current state or a resourceVersion, 410 below
 * the window, one decode per change whatever the number of watchers, no missed or repeated event for a
 * watch started during writes, and a resync after the store's watch broke.
 */

function info(resource: string): ResourceInfo {
  const found = resourceByName(resource);
  assert.ok(found);
  return found;
}
const SECRETS = info("secrets");
const NAMESPACES = info("namespaces");
const W = { dryRun: false };

/** A store whose watches can be broken from the test (as a compaction or a lost connection would). */
class BreakableStore {
  readonly handlers = new Set<WatchHandlers>();
  constructor(readonly inner: MemoryStore) {}
  breakWatches(err: Error): void {
    for (const h of [...this.handlers]) h.onError(err);
    this.handlers.clear();
  }
  asStore(): Store {
    const inner = this.inner;
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        if (prop !== "watch") {
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        }
        return async (prefix: string, from: number, handlers: WatchHandlers): Promise<Watch> => {
          let live = true;
          const wrapped: WatchHandlers = {
            onEvent: (e) => {
              if (live) handlers.onEvent(e);
            },
            onError: (e) => {
              if (!live) return;
              live = false;
              handlers.onError(e);
            },
          };
          this.handlers.add(wrapped);
          const w = await inner.watch(prefix, from, wrapped);
          return {
            cancel: async () => {
              live = false;
              this.handlers.delete(wrapped);
              await w.cancel();
            },
          };
        };
      },
    });
  }
}

async function setup(capacity?: number) {
  const counts = { decodes: 0 };
  const transformer: Transformer = {
    transformFromStorage: (data, ctx) => {
      counts.decodes++;
      return versioned.transformFromStorage(data, ctx);
    },
    transformToStorage: (plaintext, ctx) => versioned.transformToStorage(plaintext, ctx),
  };
  const breakable = new BreakableStore(new MemoryStore());
  // No decrypted-object cache: every decode reaches the transformer, so the count is the truth.
  const store = new TransformingStore(breakable.asStore(), () => transformer);
  const registry = new Registry(store, "/registry", systemClock, systemRandom, {
    ...(capacity !== undefined ? { watchCacheCapacity: capacity } : {}),
  });
  for (const name of ["default", "team"])
    await registry.create(NAMESPACES, undefined, { metadata: { name } }, W);
  await registry.startWatchCache();
  const cache = registry.watchCaches?.forPrefix("/registry/secrets/");
  assert.ok(cache?.isReady, "the secrets cache is serving");
  return { registry, store, breakable, counts, cache };
}

interface Seen {
  type: WatchEventType;
  name: string;
  rv: string;
  data?: unknown;
}

function collector(): { sink: WatchSink; events: Seen[]; errors: AtrestError[] } {
  const events: Seen[] = [];
  const errors: AtrestError[] = [];
  return {
    events,
    errors,
    sink: {
      event: (type, obj) =>
        events.push({
          type,
          name: metaOf(obj).name ?? "",
          rv: metaOf(obj).resourceVersion ?? "",
          data: (obj as { data?: unknown }).data,
        }),
      error: (err) => errors.push(err),
    },
  };
}

const secret = (name: string, v: string, labels?: Record<string, string>): KubeObject => ({
  metadata: { name, ...(labels !== undefined ? { labels } : {}) },
  data: { v: Buffer.from(v).toString("base64") },
});

/** Bounded polling: resolves when `cond` holds, fails after 5 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
    if (i > 50) await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test("a watch without a resourceVersion gets the cached state, then the changes, in order", async () => {
  const { registry, counts } = await setup();
  try {
    await registry.create(SECRETS, "default", secret("a", "1"), W);
    await registry.create(SECRETS, "team", secret("b", "1"), W);
    const c = collector();
    const all = collector();
    await until(() => registry.watchCaches?.forPrefix("/registry/secrets/")?.objectCount === 2, "2 cached");
    const decodesBefore = counts.decodes;
    const h = await registry.watch(SECRETS, "default", {}, c.sink);
    const h2 = await registry.watch(SECRETS, undefined, {}, all.sink);
    assert.equal(counts.decodes, decodesBefore, "starting watches decodes nothing");
    assert.deepEqual(
      c.events.map((e) => [e.type, e.name]),
      [["ADDED", "a"]],
    );
    assert.deepEqual(all.events.map((e) => e.name).sort(), ["a", "b"]);
    await registry.patch(SECRETS, "default", "a", W, (cur) => ({ ...cur, data: { v: "Mg==" } }));
    await registry.delete(SECRETS, "default", "a", W);
    await until(() => c.events.length === 3, "3 events");
    assert.deepEqual(
      c.events.map((e) => [e.type, e.name]),
      [
        ["ADDED", "a"],
        ["MODIFIED", "a"],
        ["DELETED", "a"],
      ],
    );
    assert.ok(Number(c.events[2]!.rv) > Number(c.events[1]!.rv), "DELETED carries the delete's revision");
    await h.cancel();
    await h2.cancel();
  } finally {
    await registry.close();
  }
});

test("many watchers: one decode per change, and a selector is judged on cached objects", async () => {
  const { registry, counts } = await setup();
  try {
    const watchers = Array.from({ length: 50 }, () => collector());
    const selected = collector();
    const handles = await Promise.all(
      watchers.map((c) =>
        registry.watch(SECRETS, "default", { fieldSelector: "metadata.name=nothing" }, c.sink),
      ),
    );
    handles.push(await registry.watch(SECRETS, "default", { labelSelector: "app=x" }, selected.sink));
    const before = counts.decodes;
    // A create in the label selection, an update that leaves it, one that comes back.
    await registry.create(SECRETS, "default", secret("s", "1", { app: "x" }), W);
    await registry.patch(SECRETS, "default", "s", W, (cur) => ({
      ...cur,
      metadata: { ...metaOf(cur), labels: { app: "y" } },
    }));
    await registry.patch(SECRETS, "default", "s", W, (cur) => ({
      ...cur,
      metadata: { ...metaOf(cur), labels: { app: "x" } },
    }));
    await until(() => selected.events.length === 3, "3 selected events");
    assert.deepEqual(
      selected.events.map((e) => e.type),
      ["ADDED", "DELETED", "ADDED"],
    );
    // Each change: the cache's one decode (the writes themselves read through the store once each).
    const writesReads = 2; // the two patches read the current value
    assert.equal(counts.decodes - before, 3 + writesReads, "one decode per change for 51 watchers");
    for (const c of watchers) assert.equal(c.events.length, 0);
    for (const h of handles) await h.cancel();
    assert.equal(registry.watchCaches?.forPrefix("/registry/secrets/")?.watcherCount, 0);
  } finally {
    await registry.close();
  }
});

test("a watch resumes from a resourceVersion inside the window; below it, 410 Expired", async () => {
  const { registry, cache } = await setup(4);
  try {
    const first = await registry.create(SECRETS, "default", secret("r0", "0"), W);
    const rv0 = Number(metaOf(first).resourceVersion);
    for (let i = 1; i <= 3; i++) await registry.create(SECRETS, "default", secret(`r${i}`, "x"), W);
    await until(() => cache.currentRevision >= rv0 + 3, "cache at the last write");
    const c = collector();
    const h = await registry.watch(SECRETS, "default", { resourceVersion: String(rv0) }, c.sink);
    assert.deepEqual(
      c.events.map((e) => e.name),
      ["r1", "r2", "r3"],
    );
    await h.cancel();
    // Two more changes push r0's and r1's out of a 4-change window.
    for (let i = 4; i <= 5; i++) await registry.create(SECRETS, "default", secret(`r${i}`, "x"), W);
    await until(() => cache.currentRevision >= rv0 + 5, "cache at the last write");
    await assert.rejects(
      registry.watch(SECRETS, "default", { resourceVersion: String(rv0) }, collector().sink),
      (err: unknown) => {
        const s = statusFromError(err);
        assert.equal(s.code, 410);
        assert.equal(s.reason, "Expired");
        assert.match(s.message ?? "", /^too old resource version: \d+ \(\d+\)$/);
        return true;
      },
    );
    // A bad resourceVersion is a 400, nothing registered.
    await assert.rejects(
      registry.watch(SECRETS, "default", { resourceVersion: "x1" }, collector().sink),
      (e) => {
        assert.equal(statusFromError(e).code, 400);
        return true;
      },
    );
    assert.equal(cache.watcherCount, 0);
  } finally {
    await registry.close();
  }
});

test("a watch started from a list during writes misses nothing and repeats nothing", async () => {
  const { registry, store } = await setup();
  try {
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) {
        const name = `w${n % 7}`;
        try {
          if (n % 3 === 0) await registry.create(SECRETS, "default", secret(name, String(n)), W);
          else if (n % 3 === 1)
            await registry.patch(SECRETS, "default", name, W, (cur) => ({
              ...cur,
              data: { v: Buffer.from(String(n)).toString("base64") },
            }));
          else await registry.delete(SECRETS, "default", name, W);
        } catch {
          // already there / not there: the mix goes on
        }
        n++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    await until(() => n > 30, "some writes");
    // State at a revision, read from the store (not the cache), then a watch from that revision.
    const listed = await store.list("/registry/secrets/default/");
    const state = new Map<string, string>();
    for (const v of listed.items)
      state.set(
        v.key.split("/").pop()!,
        JSON.stringify((JSON.parse(v.data.toString()) as { data: unknown }).data),
      );
    const c = collector();
    const h = await registry.watch(SECRETS, "default", { resourceVersion: String(listed.revision) }, c.sink);
    await until(() => n > 120, "more writes");
    stop = true;
    await writer;
    const final = await store.list("/registry/secrets/default/");
    await until(
      () => c.events.length > 0 && Number(c.events[c.events.length - 1]!.rv) >= lastRv(final),
      "all events",
    );
    let prevRv = listed.revision;
    for (const e of c.events) {
      assert.ok(Number(e.rv) > prevRv, `event revisions increase (${e.rv} after ${prevRv})`);
      prevRv = Number(e.rv);
      if (e.type === "DELETED") {
        assert.ok(state.has(e.name), `DELETED ${e.name} was there`);
        state.delete(e.name);
      } else {
        assert.equal(state.has(e.name), e.type === "MODIFIED", `${e.type} ${e.name}`);
        state.set(e.name, JSON.stringify(e.data));
      }
    }
    const expected = new Map<string, string>();
    for (const v of final.items)
      expected.set(
        v.key.split("/").pop()!,
        JSON.stringify((JSON.parse(v.data.toString()) as { data: unknown }).data),
      );
    assert.deepEqual(new Map([...state].sort()), new Map([...expected].sort()));
    await h.cancel();
  } finally {
    await registry.close();
  }
});

function lastRv(list: { items: readonly { modRevision: number }[]; revision: number }): number {
  return Math.max(0, ...list.items.map((i) => i.modRevision));
}

test("when the store's watch breaks, watchers get 410 and the cache lists and watches again", async () => {
  const { registry, breakable, cache } = await setup();
  try {
    await registry.create(SECRETS, "default", secret("before", "1"), W);
    const c = collector();
    await registry.watch(SECRETS, "default", {}, c.sink);
    await until(() => c.events.length === 1, "initial ADDED");
    breakable.breakWatches(new AtrestError("gone", "required revision has been compacted"));
    await until(() => c.errors.length === 1, "the watcher's error");
    assert.equal(statusFromError(c.errors[0]).code, 410);
    assert.equal(cache.isReady, false);
    // While the cache is down the registry watches the store: still served.
    await registry.create(SECRETS, "default", secret("during", "1"), W);
    await until(() => cache.isReady, "the cache restarted");
    const again = collector();
    await registry.watch(SECRETS, "default", {}, again.sink);
    assert.deepEqual(again.events.map((e) => e.name).sort(), ["before", "during"]);
    await registry.create(SECRETS, "default", secret("after", "1"), W);
    await until(() => again.events.length === 3, "the change after the restart");
    assert.equal(again.events[2]!.name, "after");
  } finally {
    await registry.close();
  }
});

test("lists at resourceVersion 0 and consistent lists come from the cache, with the store's pages", async () => {
  const { registry, counts, cache, breakable } = await setup();
  try {
    for (const n of ["a", "b", "c"]) await registry.create(SECRETS, "default", secret(n, n), W);
    await registry.create(SECRETS, "team", secret("t", "t"), W);
    await until(() => cache.objectCount === 4, "4 cached");
    const before = counts.decodes;
    const any = await registry.list(SECRETS, "default", { resourceVersion: "0" });
    assert.deepEqual(
      any.items.map((o) => metaOf(o).name),
      ["a", "b", "c"],
    );
    // Another collection moves the store's revision; the cache proves it missed nothing.
    await registry.create(info("configmaps"), "default", { metadata: { name: "cm" } }, W);
    const consistent = await registry.list(SECRETS, undefined, { labelSelector: "" });
    assert.equal(consistent.items.length, 4);
    assert.equal(Number(consistent.resourceVersion), await breakable.inner.currentRevision());
    const first = await registry.list(SECRETS, "default", { limit: 2 });
    assert.deepEqual(
      first.items.map((o) => metaOf(o).name),
      ["a", "b"],
    );
    // The one decode: the ConfigMap's change, by its own collection's cache.
    assert.equal(counts.decodes, before + 1, "nothing decoded for cached lists");
    assert.ok(first.continueToken !== undefined);
    // The next page reads the store at the first page's revision (a write since does not show).
    await registry.create(SECRETS, "default", secret("d", "d"), W);
    const second = await registry.list(SECRETS, "default", { limit: 2, continueToken: first.continueToken });
    assert.deepEqual(
      second.items.map((o) => metaOf(o).name),
      ["c"],
    );
    assert.equal(second.resourceVersion, first.resourceVersion);
    // A value that does not decode: the store answers, with its error, as without the cache.
    await breakable.inner.create("/registry/secrets/default/bad", Buffer.from("not a value"));
    await until(() => cache.objectCount === 6, "the bad value reached the cache");
    await assert.rejects(registry.list(SECRETS, "default", { resourceVersion: "0" }), (e) => {
      assert.equal(statusFromError(e).code, 500);
      return true;
    });
    const ok = await registry.list(SECRETS, "team", { resourceVersion: "0" });
    assert.equal(ok.items.length, 1, "other namespaces still come from the cache");
    // Bad input is the same 400 as from the store.
    await assert.rejects(
      registry.list(SECRETS, "default", { resourceVersion: "0", resourceVersionMatch: "Exact" }),
      (e) => {
        assert.equal(statusFromError(e).code, 422);
        return true;
      },
    );
  } finally {
    await registry.close();
  }
});

test("with --watch-cache=false, watches and lists read the store", async () => {
  const store = new TransformingStore(new MemoryStore(), () => versioned);
  const registry = new Registry(store, "/registry", systemClock, systemRandom, { watchCache: false });
  try {
    await registry.create(NAMESPACES, undefined, { metadata: { name: "default" } }, W);
    await registry.startWatchCache();
    assert.equal(registry.watchCaches, undefined);
    await registry.create(SECRETS, "default", secret("a", "1"), W);
    const c = collector();
    const h = await registry.watch(SECRETS, "default", {}, c.sink);
    assert.deepEqual(
      c.events.map((e) => e.name),
      ["a"],
    );
    await h.cancel();
    assert.equal((await registry.list(SECRETS, "default", { resourceVersion: "0" })).items.length, 1);
  } finally {
    await registry.close();
  }
});
