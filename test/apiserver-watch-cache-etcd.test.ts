/**
 * The watch cache over a real etcd: watches from the cache, a restart of etcd under it (the client
 * reconnects and its watch resumes, so the cache and its watchers miss nothing), a compaction below a
 * resourceVersion that the cache still holds in its window (served from the cache), and 410 Expired
 * below the window.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { systemClock } from "../src/common/clock.js";
import { systemRandom } from "../src/common/random.js";
import { metaOf } from "../src/kube-object/types.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { TransformingStore, identityTransformerFor } from "../src/storage/transforming-store.js";
import { Registry } from "../src/apiserver/registry/index.js";
import { resourceByName } from "../src/apiserver/resources.js";
import { statusFromError } from "../src/apiserver/status.js";
import { startEtcd } from "./support/etcd.js";

const SECRETS = resourceByName("secrets")!;
const NAMESPACES = resourceByName("namespaces")!;
const W = { dryRun: false };

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(
  "watch cache on etcd: resumes across an etcd restart; window vs compaction",
  { timeout: 120_000 },
  async () => {
    const etcd = await startEtcd();
    const raw = new EtcdStore({ endpoints: etcd.endpoints });
    const store = new TransformingStore(raw, identityTransformerFor);
    const registry = new Registry(store, "/registry", systemClock, systemRandom, { watchCacheCapacity: 5 });
    try {
      await registry.create(NAMESPACES, undefined, { metadata: { name: "default" } }, W);
      await registry.startWatchCache();
      const cache = registry.watchCaches?.forPrefix("/registry/secrets/");
      assert.ok(cache?.isReady);
      const seen: string[] = [];
      const errors: Error[] = [];
      const h = await registry.watch(
        SECRETS,
        "default",
        {},
        {
          event: (type, obj) => seen.push(`${type} ${metaOf(obj).name ?? ""}`),
          error: (err) => errors.push(err),
        },
      );
      const first = await registry.create(SECRETS, "default", { metadata: { name: "a" }, data: {} }, W);
      await until(() => seen.length === 1, "ADDED a");

      await etcd.stopMember(0);
      await etcd.restartMember(0);
      await registry.create(SECRETS, "default", { metadata: { name: "b" }, data: {} }, W);
      await until(() => seen.length === 2, "ADDED b after the restart");
      assert.deepEqual(seen, ["ADDED a", "ADDED b"]);
      assert.equal(errors.length, 0, "no watch error");
      assert.ok(cache.isReady);

      // Compacted in etcd, still in the cache's window: the cache serves the resume.
      const rvA = Number(metaOf(first).resourceVersion);
      await raw.compact(await raw.currentRevision());
      const resumed: string[] = [];
      const h2 = await registry.watch(
        SECRETS,
        "default",
        { resourceVersion: String(rvA) },
        {
          event: (type, obj) => resumed.push(`${type} ${metaOf(obj).name ?? ""}`),
          error: (err) => errors.push(err),
        },
      );
      assert.deepEqual(resumed, ["ADDED b"]);
      // Beyond the window of 5 changes: 410 Expired, as kube's cacher answers.
      for (let i = 0; i < 5; i++)
        await registry.create(SECRETS, "default", { metadata: { name: `c${i}` }, data: {} }, W);
      await until(() => seen.length === 7, "the five creates");
      await assert.rejects(
        registry.watch(
          SECRETS,
          "default",
          { resourceVersion: String(rvA) },
          { event: () => {}, error: () => {} },
        ),
        (err) => {
          assert.equal(statusFromError(err).code, 410);
          return true;
        },
      );
      await h.cancel();
      await h2.cancel();
    } finally {
      await registry.close();
      await raw.close();
      await etcd.stop();
    }
  },
);
