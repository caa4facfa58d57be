import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GRPCUnavailableError, type Etcd3 } from "etcd3";
import { ConnectionPool } from "etcd3/lib/connection-pool.js";
import { isAtrestError } from "../src/common/errors.js";
import { EtcdStore, type EtcdRetryEvent } from "../src/storage/etcd-store.js";
import { collect, registerStoreConformance } from "./support/store-conformance.js";
import { generateTlsMaterial } from "../src/common/tls.js";
import { startEtcd, type EtcdCluster } from "./support/etcd.js";

registerStoreConformance("etcd (one member)", async () => {
  const etcd = await startEtcd();
  return { store: new EtcdStore({ endpoints: etcd.endpoints }), cleanup: () => etcd.stop() };
});

describe("etcd store on a three-member cluster", () => {
  let etcd: EtcdCluster | undefined;
  let store: EtcdStore | undefined;
  let watcher: EtcdStore | undefined;
  const retries: EtcdRetryEvent[] = [];
  before(async () => {
    // etcd3 tries members in a shuffled order; in this order the LAST endpoint comes first, so the
    // first call after it stops is certainly sent to it.
    ConnectionPool.deterministicOrder = true;
    etcd = await startEtcd({ members: 3 });
    store = new EtcdStore({
      endpoints: etcd.endpoints,
      // When the stopped member was the leader, a write proposed just then waits for etcd's own request
      // timeout (about 5 s plus two election timeouts) before it can be retried in the new term.
      callTimeoutMs: 15_000,
      onRetry: (e) => retries.push(e),
    });
    // The watch is on a client of its own, so that its broken stream cannot open the circuit of the
    // stopped member in `store` before `store`'s first call after the stop gets there.
    watcher = new EtcdStore({ endpoints: etcd.endpoints, callTimeoutMs: 5_000 });
  });
  after(async () => {
    ConnectionPool.deterministicOrder = false;
    await store?.close();
    await watcher?.close();
    await etcd?.stop();
  });

  test("the first call after a member stops fails over to another member; every call succeeds on the first try; the watch misses nothing", async () => {
    assert.ok(store && etcd && watcher);
    const p = "/registry/secrets/ha/";
    const a = await store.create(`${p}a`, Buffer.from("a1"));
    const seen = collect();
    const w = await watcher.watch(p, a.modRevision, seen.handlers);
    try {
      assert.equal(retries.length, 0, "nothing failed while all members ran");
      const stopped = etcd.members.length - 1;
      await etcd.stopMember(stopped);
      assert.equal(etcd.members[stopped]?.running, false);
      // No retry around any call below: each must succeed the first time it is made.
      assert.equal((await store.get(`${p}a`))?.value.toString(), "a1");
      assert.ok(retries.length >= 1, "the first call went to the stopped member");
      assert.equal(retries[0]?.what, `get "${p}a"`);
      assert.equal(retries[0]?.attempt, 1);
      const b = await store.create(`${p}b`, Buffer.from("b1"));
      for (let i = 0; i < 20; i++) {
        const kv = await store.create(`/registry/configmaps/ha/c${i}`, Buffer.from(String(i)));
        assert.equal((await store.get(kv.key))?.value.toString(), String(i));
      }
      const a2 = await store.update(`${p}a`, Buffer.from("a2"), a.modRevision);
      const listed = await store.list(p);
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
      await assert.rejects(store.create(`${p}b`, Buffer.from("b2")), (e) =>
        isAtrestError(e, "already-exists"),
      );
      const c0 = await store.delete("/registry/configmaps/ha/c0");
      assert.equal(c0.value.toString(), "0");
      // The stopped member's circuit is open: it is not tried for every call (a second later one call
      // may probe it again).
      assert.ok(retries.length <= 5, `few calls went to the stopped member: ${JSON.stringify(retries)}`);
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

describe("etcd store: a retried write whose first answer was lost", () => {
  let etcd: EtcdCluster | undefined;
  let store: EtcdStore | undefined;
  const retries: EtcdRetryEvent[] = [];
  before(async () => {
    etcd = await startEtcd();
    store = new EtcdStore({
      endpoints: etcd.endpoints,
      callTimeoutMs: 5_000,
      onRetry: (e) => retries.push(e),
    });
  });
  after(async () => {
    await store?.close();
    await etcd?.stop();
  });

  /**
   * The next transaction reaches etcd (and commits, unless `instead` runs in its place), and then its
   * answer is lost as when a member dies right after committing: a recoverable gRPC error.
   */
  const loseNextAnswer = (s: EtcdStore, instead?: () => Promise<unknown>): void => {
    const kv = (s as unknown as { client: Etcd3 }).client.kv;
    const real = kv.txn.bind(kv);
    kv.txn = async (req, options) => {
      kv.txn = real;
      if (instead === undefined) await real(req, options);
      else await instead();
      throw new GRPCUnavailableError("connection dropped after the request was sent");
    };
  };

  test("create, update and delete report the write the lost attempt committed, not AlreadyExists/Conflict/NotFound", async () => {
    assert.ok(store);
    const k = "/registry/secrets/lost/a";
    retries.length = 0;
    loseNextAnswer(store);
    const created = await store.create(k, Buffer.from("v1"));
    assert.equal(retries.length, 1);
    const read = await store.get(k);
    assert.equal(read?.value.toString(), "v1");
    assert.equal(created.modRevision, read?.modRevision);
    assert.equal(created.createRevision, read?.createRevision);

    loseNextAnswer(store);
    const updated = await store.update(k, Buffer.from("v2"), created.modRevision);
    assert.equal(retries.length, 2);
    assert.equal((await store.get(k))?.modRevision, updated.modRevision);
    assert.ok(updated.modRevision > created.modRevision);

    loseNextAnswer(store);
    const deleted = await store.delete(k, updated.modRevision);
    assert.equal(retries.length, 3);
    assert.equal(deleted.value.toString(), "v2");
    assert.equal(deleted.modRevision, updated.modRevision);
    assert.equal(await store.get(k), undefined);

    // A delete without an expected revision reads the key and deletes at that revision.
    const again = await store.create(k, Buffer.from("v3"));
    loseNextAnswer(store);
    const blind = await store.delete(k);
    assert.equal(blind.modRevision, again.modRevision);
    assert.equal(await store.get(k), undefined);
    assert.equal(retries.length, 4);
  });

  test("a retry that finds someone else's write still reports AlreadyExists and Conflict", async () => {
    assert.ok(store && etcd);
    const other = new EtcdStore({ endpoints: etcd.endpoints });
    try {
      const k = "/registry/secrets/lost/b";
      loseNextAnswer(store, () => other.create(k, Buffer.from("theirs")));
      await assert.rejects(store.create(k, Buffer.from("mine")), (e) => isAtrestError(e, "already-exists"));
      const theirs = await store.get(k);
      assert.equal(theirs?.value.toString(), "theirs");
      assert.ok(theirs);
      loseNextAnswer(store, () => other.update(k, Buffer.from("theirs2"), theirs.modRevision));
      await assert.rejects(store.update(k, Buffer.from("mine2"), theirs.modRevision), (e) =>
        isAtrestError(e, "conflict"),
      );
      assert.equal((await store.get(k))?.value.toString(), "theirs2");
    } finally {
      await other.close();
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
        // The first call after the restart works: call() waits for the member's circuit to half-open.
        const y = await store.create("/registry/namespaces/y", Buffer.from("{}"));
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
