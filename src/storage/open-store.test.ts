import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isAtrestError } from "../common/errors.js";
import { EtcdStore } from "./etcd-store.js";
import { MemoryStore } from "./memory-store.js";
import { openStore, storeEndpointFromFlags } from "./open-store.js";
import { SqliteStore } from "./sqlite-store.js";

test("flags name the store: etcd wins, then sqlite:/// or memory://", () => {
  assert.deepEqual(storeEndpointFromFlags({ etcdServers: "http://127.0.0.1:2379, http://127.0.0.1:22379", datastoreEndpoint: "memory://" }), {
    etcdServers: ["http://127.0.0.1:2379", "http://127.0.0.1:22379"],
  });
  assert.deepEqual(storeEndpointFromFlags({ datastoreEndpoint: "sqlite:///var/lib/atrest/state.db" }), { sqlitePath: "/var/lib/atrest/state.db" });
  assert.equal(storeEndpointFromFlags({ etcdServers: "", datastoreEndpoint: "memory://" }), "memory");
  for (const bad of [{}, { datastoreEndpoint: "mysql://x" }, { datastoreEndpoint: "sqlite://rel.db" }]) {
    assert.throws(() => storeEndpointFromFlags(bad), (e) => isAtrestError(e, "invalid-argument"));
  }
});

test("openStore builds the named implementation", async () => {
  const memory = openStore("memory");
  assert.ok(memory instanceof MemoryStore);
  await memory.close();
  const dir = mkdtempSync(join(tmpdir(), "atrest-open-"));
  try {
    const sqlite = openStore({ sqlitePath: join(dir, "s.db") });
    assert.ok(sqlite instanceof SqliteStore);
    await sqlite.create("/registry/namespaces/a", Buffer.from("{}"));
    await sqlite.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Creating the etcd client does not dial; closing it right away is fine.
  const etcd = openStore({ etcdServers: ["http://127.0.0.1:1"] });
  assert.ok(etcd instanceof EtcdStore);
  await etcd.close();
  assert.throws(() => openStore({ etcdServers: ["127.0.0.1:2379"] }), (e) => isAtrestError(e, "invalid-argument"));
});
