import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isAtrestError } from "../src/common/errors.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { collect, registerStoreConformance } from "../src/storage/store-conformance.js";
import { generateTlsMaterial } from "../src/common/tls.js";
import { startEtcd, type EtcdCluster } from "./support/etcd.js";

registerStoreConformance("etcd (one member)", async () => {
  const etcd = await startEtcd();
  return { store: new EtcdStore({ endpoints: etcd.endpoints }), cleanup: () => etcd.stop() };
});

describe("etcd store on a three-member cluster", () => {
  let etcd: EtcdCluster | undefined;
  let store: EtcdStore | undefined;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
    store = new EtcdStore({ endpoints: etcd.endpoints, callTimeoutMs: 5_000 });
  });
  after(async () => {
    await store?.close();
    await etcd?.stop();
  });

  test("keeps reading, writing and watching when one member stops", async () => {
    assert.ok(store && etcd);
    const p = "/registry/secrets/ha/";
    const a = await store.create(`${p}a`, Buffer.from("a1"));
    const seen = collect();
    const w = await store.watch(p, a.modRevision, seen.handlers);
    try {
      // Two of three members keep a quorum. The client picks a member per call, so many calls make
      // sure some of them are first sent to the stopped one and fail over.
      await etcd.stopMember(0);
      assert.equal(etcd.members[0]?.running, false);
      const b = await retryUnavailable(() => store!.create(`${p}b`, Buffer.from("b1")));
      for (let i = 0; i < 20; i++) {
        const kv = await retryUnavailable(() =>
          store!.create(`/registry/configmaps/ha/c${i}`, Buffer.from(String(i))),
        );
        assert.equal((await retryUnavailable(() => store!.get(kv.key)))?.value.toString(), String(i));
      }
      assert.equal((await retryUnavailable(() => store!.get(`${p}a`)))?.value.toString(), "a1");
      const a2 = await retryUnavailable(() => store!.update(`${p}a`, Buffer.from("a2"), a.modRevision));
      const listed = await retryUnavailable(() => store!.list(p));
      assert.deepEqual(
        listed.items.map((i) => [i.key, i.value.toString()]),
        [
          [`${p}a`, "a2"],
          [`${p}b`, "b1"],
        ],
      );
      await assert.rejects(store.update(`${p}a`, Buffer.from("a3"), a.modRevision), (e) =>
        isAtrestError(e, "conflict"),
      );
      // The watch moves to a live member and misses nothing.
      const events = await seen.waitFor(2, 20_000);
      assert.deepEqual(
        events.map((e) => (e.type === "put" ? [e.kv.key, e.kv.modRevision] : [e.key, e.modRevision])),
        [
          [`${p}b`, b.modRevision],
          [`${p}a`, a2.modRevision],
        ],
      );
    } finally {
      await w.cancel();
    }
  });
});

describe("etcd store over TLS with client certificates", () => {
  test("works with the CA and a client certificate, and is refused without one", async () => {
    const tls = await generateTlsMaterial({ commonName: "etcd", hosts: ["127.0.0.1", "localhost"] });
    const etcd = await startEtcd({ tls });
    try {
      assert.ok(etcd.endpoints.every((e) => e.startsWith("https://")));
      const store = new EtcdStore({
        endpoints: etcd.endpoints,
        tls: { caCertPem: tls.caCertPem, clientCertPem: tls.certPem, clientKeyPem: tls.keyPem },
      });
      try {
        const kv = await store.create("/registry/secrets/tls/a", Buffer.from("x"));
        assert.equal((await store.get(kv.key))?.value.toString(), "x");
        const seen = collect();
        const w = await store.watch("/registry/secrets/tls/", 0, seen.handlers);
        await store.update(kv.key, Buffer.from("y"), kv.modRevision);
        assert.equal((await seen.waitFor(1))[0]?.type, "put");
        await w.cancel();
      } finally {
        await store.close();
      }
      const noClientCert = new EtcdStore({
        endpoints: etcd.endpoints,
        tls: { caCertPem: tls.caCertPem },
        callTimeoutMs: 2_000,
      });
      try {
        await assert.rejects(noClientCert.get("/registry/secrets/tls/a"), (e) =>
          isAtrestError(e, "unavailable"),
        );
      } finally {
        await noClientCert.close();
      }
      assert.throws(
        () => new EtcdStore({ endpoints: ["http://127.0.0.1:1"], tls: { caCertPem: tls.caCertPem } }),
        (e) => isAtrestError(e, "invalid-argument"),
      );
    } finally {
      await etcd.stop();
    }
  });
});

describe("etcd store when every member is down", () => {
  test("calls fail with a retryable error instead of hanging, and work again after a restart; a watch resumes", async () => {
    const etcd = await startEtcd();
    const store = new EtcdStore({ endpoints: etcd.endpoints, callTimeoutMs: 3_000 });
    const seen = collect();
    try {
      const first = await store.create("/registry/namespaces/x", Buffer.from("{}"));
      const w = await store.watch("/registry/namespaces/", first.modRevision, seen.handlers);
      try {
        await etcd.stopMember(0);
        await assert.rejects(store.get("/registry/namespaces/x"), (e) => isAtrestError(e) && e.retryable);
        await assert.rejects(
          store.create("/registry/namespaces/y", Buffer.from("{}")),
          (e) => isAtrestError(e) && e.retryable,
        );
        await etcd.restartMember(0);
        const y = await retryUnavailable(() => store.create("/registry/namespaces/y", Buffer.from("{}")));
        assert.equal((await store.get("/registry/namespaces/x"))?.modRevision, first.modRevision);
        // The watch reconnected by itself, from the last revision it delivered.
        const events = await seen.waitFor(1, 20_000);
        assert.deepEqual(
          events.map((e) => (e.type === "put" ? [e.kv.key, e.kv.modRevision] : [])),
          [["/registry/namespaces/y", y.modRevision]],
        );
        assert.equal(seen.errors.length, 0);
      } finally {
        await w.cancel();
      }
    } finally {
      await store.close();
      await etcd.stop();
    }
  });
});

/**
 * The first call after a member dies may land on it; the client then moves on to a live one. After
 * every member failed, etcd3's circuit breaker waits 5 s before it tries a member again.
 */
async function retryUnavailable<T>(fn: () => Promise<T>, attempts = 60): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isAtrestError(err) || !err.retryable) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
