import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isAtrestError } from "../common/errors.js";
import { EtcdStore } from "./etcd-store.js";
import { MemoryStore } from "./memory-store.js";
import { openStore, storeEndpointFromFlags } from "./open-store.js";
import { SqliteStore } from "./sqlite-store.js";

test("flags name the store: etcd wins, then sqlite:/// or memory://", () => {
  assert.deepEqual(
    storeEndpointFromFlags({
      etcdServers: "http://127.0.0.1:2379, http://127.0.0.1:22379",
      datastoreEndpoint: "memory://",
    }),
    {
      etcdServers: ["http://127.0.0.1:2379", "http://127.0.0.1:22379"],
    },
  );
  assert.deepEqual(storeEndpointFromFlags({ datastoreEndpoint: "sqlite:///var/lib/atrest/state.db" }), {
    sqlitePath: "/var/lib/atrest/state.db",
  });
  assert.equal(storeEndpointFromFlags({ etcdServers: "", datastoreEndpoint: "memory://" }), "memory");
  for (const bad of [{}, { datastoreEndpoint: "mysql://x" }, { datastoreEndpoint: "sqlite://rel.db" }]) {
    assert.throws(
      () => storeEndpointFromFlags(bad),
      (e) => isAtrestError(e, "invalid-argument"),
    );
  }
});

test("etcd TLS flags are read from files; a missing file or a cert without a CA is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-open-"));
  try {
    writeFileSync(join(dir, "ca.crt"), "CA");
    writeFileSync(join(dir, "c.crt"), "CERT");
    writeFileSync(join(dir, "c.key"), "KEY");
    const endpoint = storeEndpointFromFlags({
      etcdServers: "https://127.0.0.1:2379",
      etcdCafile: join(dir, "ca.crt"),
      etcdCertfile: join(dir, "c.crt"),
      etcdKeyfile: join(dir, "c.key"),
    });
    assert.ok(typeof endpoint === "object" && "etcdServers" in endpoint && endpoint.tls !== undefined);
    assert.equal(endpoint.tls.caCertPem.toString(), "CA");
    assert.equal(endpoint.tls.clientCertPem?.toString(), "CERT");
    assert.throws(
      () =>
        storeEndpointFromFlags({
          etcdServers: "https://127.0.0.1:2379",
          etcdCafile: join(dir, "missing.crt"),
        }),
      (e) =>
        isAtrestError(e, "invalid-argument") &&
        e.message.includes("--etcd-cafile") &&
        e.message.includes("ENOENT"),
    );
    assert.throws(
      () =>
        storeEndpointFromFlags({ etcdServers: "https://127.0.0.1:2379", etcdCertfile: join(dir, "c.crt") }),
      (e) => isAtrestError(e, "invalid-argument"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
  assert.throws(
    () => openStore({ etcdServers: ["127.0.0.1:2379"] }),
    (e) => isAtrestError(e, "invalid-argument"),
  );
});
