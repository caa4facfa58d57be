import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../common/clock.js";
import { AtrestError, isAtrestError } from "../../common/errors.js";
import { systemRandom } from "../../common/random.js";
import type { Transformer } from "../../envelope/transformer.js";
import { MemoryStore } from "../../storage/memory-store.js";
import { TransformingStore } from "../../storage/transforming-store.js";
import { encodeProtobufObject, hasProtobufMagic } from "../../kube-object/protobuf-codec.js";
import { resourceByName, type ResourceInfo } from "../resources.js";
import { statusFromError } from "../status.js";
import { metaOf, type KubeObject } from "../../kube-object/types.js";
import { Registry } from "./registry.js";
import { versioned } from "../../../test/support/versioned-transformer.js";

/**
 * The registry over the transforming store over a real (memory) store: the write paths that now run
 * inside the store's guaranteed update and conditional delete. "v1:" values are current, "v0:" ones
 * readable but stale; the `failing` knob makes reads fail as a KMS outage would.
 */

function info(resource: string): ResourceInfo {
  const found = resourceByName(resource);
  assert.ok(found);
  return found;
}
const SECRETS = info("secrets");
const CONFIGMAPS = info("configmaps");
const NAMESPACES = info("namespaces");
const W = { dryRun: false };

async function setup() {
  const knobs = { failing: undefined as AtrestError | undefined };
  const transformer: Transformer = {
    transformFromStorage: (data, ctx) =>
      knobs.failing !== undefined ? Promise.reject(knobs.failing) : versioned.transformFromStorage(data, ctx),
    transformToStorage: (plaintext, ctx) => versioned.transformToStorage(plaintext, ctx),
  };
  const raw = new MemoryStore();
  const store = new TransformingStore(raw, () => transformer, { decodedCacheBytes: 1 << 20 });
  const registry = new Registry(store, "/registry", new ManualClock(), systemRandom);
  for (const name of ["default", "team"])
    await registry.create(NAMESPACES, undefined, { metadata: { name } }, W);
  return { registry, raw, store, knobs };
}

function status(err: unknown): { code: number; reason: string | undefined; message: string | undefined } {
  const s = statusFromError(err);
  return { code: s.code, reason: s.reason, message: s.message };
}

const cm = (name: string, data: Record<string, string>): KubeObject => ({ metadata: { name }, data });

test("PUT with an old resourceVersion is 409; a patch that loses a race runs again on the new object", async () => {
  const { registry, raw } = await setup();
  const key = "/registry/configmaps/default/c";
  const created = await registry.create(CONFIGMAPS, "default", cm("c", { a: "1" }), W);
  const rv = metaOf(created).resourceVersion;
  await registry.update(
    CONFIGMAPS,
    "default",
    "c",
    { ...cm("c", { a: "2" }), metadata: { name: "c", resourceVersion: rv } },
    W,
  );
  await assert.rejects(
    registry.update(
      CONFIGMAPS,
      "default",
      "c",
      { ...cm("c", { a: "3" }), metadata: { name: "c", resourceVersion: rv } },
      W,
    ),
    (e) => {
      assert.deepEqual(status(e), {
        code: 409,
        reason: "Conflict",
        message:
          'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again',
      });
      return true;
    },
  );
  let attempts = 0;
  const patched = await registry.patch(CONFIGMAPS, "default", "c", W, (current) => {
    attempts++;
    if (attempts === 1) {
      // Another writer wins between this read and its write (the memory store applies it at once).
      const other = { ...current, data: { a: "2", other: "x" } };
      const rvNow = Number(metaOf(current).resourceVersion);
      void raw.update(key, Buffer.concat([Buffer.from("v1:"), Buffer.from(JSON.stringify(other))]), rvNow);
    }
    return { ...current, data: { ...(current.data as object), mine: "y" } };
  });
  assert.equal(attempts, 2, "run again on the object the other writer left");
  assert.deepEqual(patched.data, { a: "2", other: "x", mine: "y" });
  assert.deepEqual((await registry.get(CONFIGMAPS, "default", "c")).data, patched.data);
});

test("dryRun update and patch return the result and write nothing", async () => {
  const { registry, raw } = await setup();
  await registry.create(CONFIGMAPS, "default", cm("d", { a: "1" }), W);
  const before = await raw.currentRevision();
  const dry = { dryRun: true };
  const updated = await registry.update(CONFIGMAPS, "default", "d", cm("d", { a: "2" }), dry);
  assert.deepEqual(updated.data, { a: "2" });
  const patched = await registry.patch(CONFIGMAPS, "default", "d", dry, (c) => ({ ...c, data: { b: "3" } }));
  assert.deepEqual(patched.data, { b: "3" });
  assert.equal(await raw.currentRevision(), before, "nothing written");
  assert.deepEqual((await registry.get(CONFIGMAPS, "default", "d")).data, { a: "1" });
});

test("an unchanged update rewrites a stale value as it was read (kube's protobuf stays protobuf), a current one not at all", async () => {
  const { registry, raw } = await setup();
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "old", namespace: "default", uid: "u-old", creationTimestamp: "2025-01-01T00:00:00Z" },
    data: { k: Buffer.from("v").toString("base64") },
    type: "Opaque",
  };
  const key = "/registry/secrets/default/old";
  const written = await raw.create(key, Buffer.concat([Buffer.from("v0:"), encodeProtobufObject(secret)]));
  const current = await registry.get(SECRETS, "default", "old");
  const replaced = await registry.update(SECRETS, "default", "old", current, W);
  const after = await raw.get(key);
  assert.ok(after && after.modRevision > written.modRevision, "the stale value was written back");
  assert.equal(after.value.subarray(0, 3).toString(), "v1:");
  assert.ok(hasProtobufMagic(after.value.subarray(3)), "the bytes as read, re-encrypted");
  assert.equal(metaOf(replaced).resourceVersion, String(after.modRevision));
  assert.equal(metaOf(replaced).uid, "u-old");
  const again = await registry.update(SECRETS, "default", "old", replaced, W);
  assert.equal((await raw.get(key))?.modRevision, after.modRevision, "current and unchanged: no write");
  assert.equal(metaOf(again).resourceVersion, String(after.modRevision));
});

test("delete preconditions are 409 with kube's messages; a dry run keeps the object", async () => {
  const { registry, raw } = await setup();
  const created = await registry.create(SECRETS, "default", { metadata: { name: "s" }, data: {} }, W);
  const uid = metaOf(created).uid ?? "";
  await assert.rejects(
    registry.delete(SECRETS, "default", "s", { dryRun: false, preconditions: { uid: "other" } }),
    (e) => {
      assert.equal(status(e).code, 409);
      assert.equal(
        status(e).message,
        `Operation cannot be fulfilled on secrets "s": Precondition failed: UID in precondition: other, UID in object meta: ${uid}`,
      );
      return true;
    },
  );
  await assert.rejects(
    registry.delete(SECRETS, "default", "s", { dryRun: false, preconditions: { resourceVersion: "1" } }),
    (e) => status(e).code === 409 && /ResourceVersion in precondition: 1,/.test(status(e).message ?? ""),
  );
  const dry = await registry.delete(SECRETS, "default", "s", { dryRun: true, preconditions: { uid } });
  assert.equal(metaOf(dry).name, "s");
  assert.ok(await raw.get("/registry/secrets/default/s"), "a dry run deletes nothing");
  await registry.delete(SECRETS, "default", "s", { dryRun: false, preconditions: { uid } });
  assert.equal(await raw.get("/registry/secrets/default/s"), undefined);
  await assert.rejects(registry.get(SECRETS, "default", "s"), (e) => status(e).code === 404);
});

test("deleting a namespace deletes everything in it, readable or not, and nothing elsewhere", async () => {
  const { registry, raw } = await setup();
  await registry.create(SECRETS, "team", { metadata: { name: "a" } }, W);
  await registry.create(CONFIGMAPS, "team", cm("b", {}), W);
  await raw.create("/registry/secrets/team/unreadable", Buffer.from("garbage"));
  await registry.create(SECRETS, "default", { metadata: { name: "stays" } }, W);
  await registry.delete(NAMESPACES, undefined, "team", W);
  assert.deepEqual(
    (await raw.list("/registry/")).items.map((kv) => kv.key).filter((k) => k.includes("team")),
    [],
  );
  assert.ok(await raw.get("/registry/secrets/default/stays"));
  await assert.rejects(
    registry.create(SECRETS, "team", { metadata: { name: "late" } }, W),
    (e) => status(e).code === 404 && status(e).message === 'namespaces "team" not found',
  );
});

test("a value that does not read: 500 naming the key, 503 when the KMS is unreachable; nothing is changed", async () => {
  const { registry, raw, store, knobs } = await setup();
  await raw.create("/registry/secrets/default/bad", Buffer.from("garbage-with-password=hunter2"));
  for (const call of [
    () => registry.get(SECRETS, "default", "bad"),
    () => registry.list(SECRETS, "default", {}),
    () => registry.update(SECRETS, "default", "bad", { metadata: { name: "bad" } }, W),
    () => registry.delete(SECRETS, "default", "bad", W),
  ]) {
    await assert.rejects(call(), (e) => {
      const s = status(e);
      assert.equal(s.code, 500);
      assert.match(s.message ?? "", /unable to transform key "\/registry\/secrets\/default\/bad"/);
      assert.doesNotMatch(s.message ?? "", /hunter2/);
      return true;
    });
  }
  assert.ok(await raw.get("/registry/secrets/default/bad"), "still there");
  await registry.create(SECRETS, "default", { metadata: { name: "good" } }, W);
  store.invalidate(); // the cache would answer without the transformer
  knobs.failing = new AtrestError("unavailable", "the KMS plugin is unreachable");
  await assert.rejects(registry.get(SECRETS, "default", "good"), (e) => {
    assert.ok(isAtrestError(e, "unavailable"));
    assert.equal(status(e).code, 503);
    return true;
  });
});
