/**
 * StorageVersionMigration over HTTPS against an in-process apiserver whose values carry a version tag
 * ("v0:" stale, "v1:" current — test/support/versioned-transformer.ts) over a memory store: the
 * objects (both served versions, kube's validation and Failed messages), the migrator's status
 * (resourceVersion, conditions, atrest's progress), the rewrite of exactly the stale values, objects
 * changed or deleted while it runs, retriable errors retried and an unreadable value failing it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtrestError } from "../src/common/errors.js";
import type { Transformer } from "../src/envelope/transformer.js";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { call } from "./support/api-call.js";
import { eventually } from "./support/encryption-system.js";
import { versioned } from "./support/versioned-transformer.js";

type Obj = Record<string, unknown>;
const SVMS = "/apis/storagemigration.k8s.io/v1alpha1/storageversionmigrations";
const SVMS_BETA = "/apis/storagemigration.k8s.io/v1beta1/storageversionmigrations";
const json = "application/json";

/** kube's documented manifest (kubernetes.io/docs/tasks/manage-kubernetes-objects/storage-version-migration). */
const manifest = (name: string, resource: Obj): string =>
  JSON.stringify({
    kind: "StorageVersionMigration",
    apiVersion: "storagemigration.k8s.io/v1alpha1",
    metadata: { name },
    spec: { resource },
  });

interface Gate {
  key: string;
  opened: Promise<void>;
  open: () => void;
  reached: Promise<void>;
}

describe("StorageVersionMigration", { timeout: 120_000 }, () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  /** Knobs of the transformer: a key whose first read waits for the test; keys failing for a while. */
  let gate: Gate | undefined;
  const failing = new Map<string, number>();

  const transformer: Transformer = {
    async transformFromStorage(data, ctx) {
      const key = Buffer.from(ctx.aad).toString("utf8");
      const g = gate;
      if (g !== undefined && key === g.key) {
        gate = undefined;
        g.open();
        await g.opened;
      }
      const left = failing.get(key) ?? 0;
      if (left > 0) {
        failing.set(key, left - 1);
        throw new AtrestError("unavailable", "the KMS plugin is not reachable (test)");
      }
      return versioned.transformFromStorage(data, ctx);
    },
    transformToStorage: (p, ctx) => versioned.transformToStorage(p, ctx),
  };

  /** Puts an object straight into the store with the stale ("v0:") tag, as an older key wrote it. */
  const putStale = async (resource: string, name: string, body: Obj): Promise<void> => {
    const obj = {
      ...body,
      metadata: { name, namespace: "default", uid: `uid-${name}`, creationTimestamp: "2026-01-01T00:00:00Z" },
    };
    await store.create(
      `/registry/${resource}/default/${name}`,
      Buffer.concat([Buffer.from("v0:"), Buffer.from(JSON.stringify(obj))]),
    );
  };
  const tagOf = async (key: string): Promise<string> => {
    const kv = await store.get(key);
    return kv === undefined ? "gone" : kv.value.subarray(0, 3).toString();
  };
  const getSvm = async (name: string, base = SVMS): Promise<Obj> =>
    (await call(server, "GET", `${base}/${name}`)).json();
  const conditions = (svm: Obj): Obj[] => (((svm.status ?? {}) as Obj).conditions ?? []) as Obj[];
  const condition = (svm: Obj, type: string): Obj | undefined => conditions(svm).find((c) => c.type === type);
  const progress = (svm: Obj): Obj => (((svm.status ?? {}) as Obj).progress ?? {}) as Obj;
  const finished = (name: string): Promise<Obj> =>
    eventually(
      `migration ${name} to finish`,
      async () => {
        const svm = await getSvm(name);
        return condition(svm, "Succeeded")?.status === "True" || condition(svm, "Failed")?.status === "True"
          ? svm
          : undefined;
      },
      60_000,
      50,
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-svm-"));
    store = new MemoryStore();
    server = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      transformerFor: () => transformer,
      // The knobs above act on the first read of a key: the watch cache would make it (it decodes
      // every value as it is written), not the migrator whose reads these tests drive.
      watchCache: false,
      storageVersionMigrator: { pageSize: 50, concurrency: 1, retryInitialMs: 10, retryMaxMs: 50 },
    });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a migration of secrets rewrites exactly the stale ones, Running → Succeeded, with its progress", async () => {
    for (let i = 0; i < 120; i++)
      await putStale("secrets", `s-${String(i).padStart(4, "0")}`, {
        apiVersion: "v1",
        kind: "Secret",
        data: { k: "dg==" },
        type: "Opaque",
      });
    for (let i = 0; i < 5; i++) {
      const r = await call(server, "POST", "/api/v1/namespaces/default/secrets", {
        body: JSON.stringify({ metadata: { name: `current-${i}` }, stringData: { k: "v" } }),
        contentType: json,
      });
      assert.equal(r.status, 201);
    }
    const before = await store.get("/registry/secrets/default/current-0");
    const created = await call(server, "POST", SVMS, {
      body: manifest("secrets-migration", { group: "", version: "v1", resource: "secrets" }),
      contentType: json,
    });
    assert.equal(created.status, 201, created.body.toString());
    assert.equal(
      ((created.json().status ?? {}) as Obj).conditions,
      undefined,
      "a new migration has no status",
    );
    const svm = await finished("secrets-migration");
    assert.equal(condition(svm, "Succeeded")?.reason, "StorageVersionMigrationSucceeded");
    assert.equal(condition(svm, "Running")?.status, "False");
    assert.equal(condition(svm, "Running")?.reason, "StorageVersionMigrationInProgress");
    assert.match(String(condition(svm, "Succeeded")?.lastUpdateTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(String((svm.status as Obj).resourceVersion), /^\d+$/);
    const p = progress(svm);
    assert.deepEqual(
      {
        total: p.total,
        rewritten: p.rewritten,
        unchanged: p.unchanged,
        skipped: p.skipped,
        remaining: p.remaining,
      },
      { total: 125, rewritten: 120, unchanged: 5, skipped: 0, remaining: 0 },
    );
    assert.equal(p.checkpoint, "default/s-0119", "the last key done");
    for (let i = 0; i < 120; i++)
      assert.equal(await tagOf(`/registry/secrets/default/s-${String(i).padStart(4, "0")}`), "v1:");
    assert.equal(
      (await store.get("/registry/secrets/default/current-0"))?.modRevision,
      before?.modRevision,
      "a current value is not written",
    );
    // The rewrite was kube's empty apply: the objects gained no managed fields of the migrator.
    const s0 = (await call(server, "GET", "/api/v1/namespaces/default/secrets/s-0000")).json();
    assert.equal(JSON.stringify(s0).includes("storage-version-migrator-controller"), false);
    // The migrator's status write is recorded as kube records one (an Update of the status subresource).
    const entries = ((svm.metadata as Obj).managedFields ?? []) as Obj[];
    assert.ok(
      entries.some((e) => e.manager === "storage-version-migrator-controller" && e.subresource === "status"),
    );
    // v1beta1 serves the same object: a GroupResource, metav1.Conditions.
    const beta = await getSvm("secrets-migration", SVMS_BETA);
    assert.equal(beta.apiVersion, "storagemigration.k8s.io/v1beta1");
    assert.deepEqual((beta.spec as Obj).resource, { group: "", resource: "secrets" });
    assert.match(String(condition(beta, "Succeeded")?.lastTransitionTime), /Z$/);
    assert.equal(condition(beta, "Succeeded")?.lastUpdateTime, undefined);
    const list = (await call(server, "GET", SVMS_BETA)).json();
    assert.equal(list.kind, "StorageVersionMigrationList");
    assert.ok((list.items as Obj[]).some((i) => (i.metadata as Obj).name === "secrets-migration"));
  });

  test("objects changed or deleted while it runs are skipped; retriable errors are retried", async () => {
    for (let i = 0; i < 100; i++)
      await putStale("configmaps", `c-${String(i).padStart(4, "0")}`, {
        apiVersion: "v1",
        kind: "ConfigMap",
        data: { k: "v" },
      });
    failing.set("/registry/configmaps/default/c-0010", 3);
    let open!: () => void;
    let reachedResolve!: () => void;
    const reached = new Promise<void>((r) => (reachedResolve = r));
    const opened = new Promise<void>((r) => (open = r));
    gate = { key: "/registry/configmaps/default/c-0060", opened, open: reachedResolve, reached };
    const created = await call(server, "POST", SVMS_BETA, {
      body: JSON.stringify({
        apiVersion: "storagemigration.k8s.io/v1beta1",
        kind: "StorageVersionMigration",
        metadata: { name: "cm" },
        spec: { resource: { group: "", resource: "configmaps" } },
      }),
      contentType: json,
    });
    assert.equal(created.status, 201, created.body.toString());
    await reached; // the migration is reading the second page, c-0050…
    const running = await getSvm("cm");
    assert.equal(condition(running, "Running")?.status, "True");
    assert.equal(progress(running).checkpoint, "default/c-0049", "the first page is checkpointed");
    assert.equal(progress(running).rewritten, 50);
    // Meanwhile: one object is changed (stored anew), one deleted.
    const changed = await call(server, "PATCH", "/api/v1/namespaces/default/configmaps/c-0080", {
      body: '{"data":{"k":"w"}}',
      contentType: "application/merge-patch+json",
    });
    assert.equal(changed.status, 200);
    assert.equal((await call(server, "DELETE", "/api/v1/namespaces/default/configmaps/c-0090")).status, 200);
    open();
    const svm = await finished("cm");
    assert.equal(condition(svm, "Succeeded")?.status, "True", JSON.stringify(svm.status));
    const p = progress(svm);
    assert.deepEqual(
      { total: p.total, rewritten: p.rewritten, skipped: p.skipped, remaining: p.remaining },
      { total: 100, rewritten: 98, skipped: 2, remaining: 0 },
    );
    assert.equal(p.lastError, undefined, "a finished migration keeps no retried error");
    assert.equal(failing.get("/registry/configmaps/default/c-0010"), 0, "the failing read was retried");
    assert.equal(await tagOf("/registry/configmaps/default/c-0010"), "v1:");
  });

  test("a resource that is not served fails with kube's message; so does a value that cannot be read", async () => {
    for (const [name, resource] of [
      ["nothing", { group: "example.com", version: "v1", resource: "widgets" }],
      ["wrong-version", { group: "", version: "v2", resource: "secrets" }],
    ] as const) {
      assert.equal(
        (await call(server, "POST", SVMS, { body: manifest(name, resource), contentType: json })).status,
        201,
      );
      const svm = await finished(name);
      assert.deepEqual(
        {
          type: condition(svm, "Failed")?.type,
          status: condition(svm, "Failed")?.status,
          reason: condition(svm, "Failed")?.reason,
          message: condition(svm, "Failed")?.message,
        },
        {
          type: "Failed",
          status: "True",
          reason: "StorageVersionMigrationFailed",
          message: "resource does not exist in discovery",
        },
      );
      assert.equal(condition(svm, "Running"), undefined, "it never ran");
    }
    await store.create("/registry/serviceaccounts/default/broken", Buffer.from("zz:not a value"));
    assert.equal(
      (
        await call(server, "POST", SVMS, {
          body: manifest("sa", { group: "", version: "v1", resource: "serviceaccounts" }),
          contentType: json,
        })
      ).status,
      201,
    );
    const svm = await finished("sa");
    assert.equal(condition(svm, "Failed")?.reason, "StorageVersionMigrationFailed");
    assert.match(String(condition(svm, "Failed")?.message), /^migration encountered unhandled error: /);
    assert.equal(condition(svm, "Running")?.status, "False");
  });

  test("bad input: kube's validation messages, an immutable resource, a status that is the migrator's", async () => {
    const missing = await call(server, "POST", SVMS, {
      body: manifest("bad", { group: "" }),
      contentType: json,
    });
    assert.equal(missing.status, 422);
    assert.equal(
      missing.json().message,
      'StorageVersionMigration.storagemigration.k8s.io "bad" is invalid: [spec.resource.resource: Required value: resource is required, spec.resource.version: Required value: version is required]',
    );
    const unknown = await call(server, "POST", `${SVMS}?fieldValidation=Strict`, {
      body: JSON.stringify({
        apiVersion: "storagemigration.k8s.io/v1beta1",
        kind: "StorageVersionMigration",
        metadata: { name: "x" },
        spec: { resource: { resource: "secrets", version: "v1" } },
      }),
      contentType: json,
    });
    assert.equal(unknown.status, 400, "a v1beta1 object sent to v1alpha1 is refused");
    const strictBeta = await call(server, "POST", `${SVMS_BETA}?fieldValidation=Strict`, {
      body: JSON.stringify({
        apiVersion: "storagemigration.k8s.io/v1beta1",
        kind: "StorageVersionMigration",
        metadata: { name: "x" },
        spec: { resource: { resource: "secrets", version: "v1" } },
      }),
      contentType: json,
    });
    assert.equal(strictBeta.status, 400);
    assert.match(
      String(strictBeta.json().message),
      /^StorageVersionMigration in version "v1beta1" cannot be handled as a StorageVersionMigration: strict decoding error: unknown field "spec.resource.version"$/,
    );
    const svm = await finished("secrets-migration");
    const changed = { ...svm, spec: { resource: { group: "", version: "v1", resource: "configmaps" } } };
    const put = await call(server, "PUT", `${SVMS}/secrets-migration`, {
      body: JSON.stringify(changed),
      contentType: json,
    });
    assert.equal(put.status, 422);
    assert.match(String(put.json().message), /resource: Invalid value: "configmaps": field is immutable/);
    const statusEdit = {
      ...svm,
      metadata: { ...(svm.metadata as Obj), labels: { a: "b" } },
      status: { resourceVersion: "1" },
    };
    const edited = await call(server, "PUT", `${SVMS}/secrets-migration`, {
      body: JSON.stringify(statusEdit),
      contentType: json,
    });
    assert.equal(edited.status, 200, edited.body.toString());
    assert.deepEqual(
      (edited.json().status as Obj).resourceVersion,
      (svm.status as Obj).resourceVersion,
      "the status stays the migrator's",
    );
    assert.deepEqual((edited.json().metadata as Obj).labels, { a: "b" });
    const name = (
      await call(server, "POST", SVMS, {
        body: manifest("Bad_Name", { group: "", version: "v1", resource: "secrets" }),
        contentType: json,
      })
    ).json();
    assert.match(
      String(name.message),
      /metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
  });
});
