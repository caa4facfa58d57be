/**
 * Lists at a revision of the past, on each store (memory, SQLite, a real etcd), compacted by the compactor
 * kube-apiserver runs: a paginated list whose continue token is from before a compaction (410, reason
 * Expired, and a fresh token in metadata.continue that resumes at the latest revision), and a list at
 * `resourceVersion=N&resourceVersionMatch=Exact` (the data as it was at N; 410 once compacted; 504 for a
 * revision not reached yet), with kube-apiserver's answers to the parameters' invalid combinations.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { ManualClock } from "../src/common/clock.js";
import { startCompactor } from "../src/storage/compactor.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { MemoryStore } from "../src/storage/memory-store.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import type { Store } from "../src/storage/store.js";
import { startEtcd } from "./support/etcd.js";

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

function call(server: ApiServer, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${server.adminToken ?? ""}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const req = request(new URL(path, server.url), { method, headers, ca: server.caCertPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
          });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

interface ConfigMapList {
  items: Array<{ metadata: { name: string } }>;
  metadata: { continue?: string; resourceVersion: string };
}

const INCONSISTENT_CONTINUE =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

function compactionSuite(
  name: string,
  open: (dir: string) => Promise<{ store: Store; close(): Promise<void> }>,
): void {
  describe(`a continue token from before a compaction, on ${name}`, { timeout: 60_000 }, () => {
    let dir: string;
    let handle: { store: Store; close(): Promise<void> };
    let server: ApiServer;
    const CM = "/api/v1/namespaces/paging/configmaps";

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-compaction-"));
      handle = await open(dir);
      server = await startApiServer({ store: handle.store, dataDir: dir, securePort: 0 });
    });
    after(async () => {
      await server?.close();
      await handle?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test("is 410 Expired with kube's message and a new token that continues at the latest revision", async () => {
      assert.equal(
        (await call(server, "POST", "/api/v1/namespaces", { metadata: { name: "paging" } })).status,
        201,
      );
      for (const n of ["c0", "c1", "c2", "c3", "c4"])
        assert.equal((await call(server, "POST", CM, { metadata: { name: n } })).status, 201);
      const first = (await call(server, "GET", `${CM}?limit=2`)).body as unknown as ConfigMapList;
      assert.deepEqual(
        first.items.map((i) => i.metadata.name),
        ["c0", "c1"],
      );
      const token = first.metadata.continue;
      assert.ok(token !== undefined);

      // The next page is still served at the first page's revision: c5 (written after it) is not in it.
      assert.equal((await call(server, "POST", CM, { metadata: { name: "c5" } })).status, 201);
      const second = (await call(server, "GET", `${CM}?limit=10&continue=${encodeURIComponent(token)}`))
        .body as unknown as ConfigMapList;
      assert.deepEqual(
        second.items.map((i) => i.metadata.name),
        ["c2", "c3", "c4"],
      );
      assert.equal(second.metadata.resourceVersion, first.metadata.resourceVersion);

      // kube-apiserver's compactor: each tick compacts at the revision the previous tick saw.
      const compacted: number[] = [];
      const errors: unknown[] = [];
      const ticking = startCompactor(handle.store, {
        intervalMs: 0,
        onCompacted: (r) => compacted.push(r),
        onError: (e) => errors.push(e),
      });
      await ticking.tick();
      await ticking.tick();
      ticking.stop();
      assert.deepEqual(errors, []);
      assert.equal(compacted.length, 1);
      assert.ok((compacted[0] ?? 0) > Number(first.metadata.resourceVersion));

      const expired = await call(server, "GET", `${CM}?limit=2&continue=${encodeURIComponent(token)}`);
      assert.equal(expired.status, 410, JSON.stringify(expired.body));
      assert.equal(expired.body.kind, "Status");
      assert.equal(expired.body.status, "Failure");
      assert.equal(expired.body.reason, "Expired");
      assert.equal(expired.body.code, 410);
      assert.equal(expired.body.message, INCONSISTENT_CONTINUE);
      const fresh = (expired.body.metadata as { continue?: string } | undefined)?.continue;
      assert.ok(fresh !== undefined, "the Status carries a token to continue with");
      assert.deepEqual(JSON.parse(Buffer.from(fresh, "base64url").toString()), {
        v: "meta.k8s.io/v1",
        rv: -1,
        start: "c1\u0000",
      });

      // Following it continues after c1 at the latest revision, so c5 is there now.
      const rest = (await call(server, "GET", `${CM}?limit=10&continue=${encodeURIComponent(fresh)}`))
        .body as unknown as ConfigMapList;
      assert.deepEqual(
        rest.items.map((i) => i.metadata.name),
        ["c2", "c3", "c4", "c5"],
      );
      assert.ok(Number(rest.metadata.resourceVersion) >= (compacted[0] ?? 0));
      assert.equal(rest.metadata.continue, undefined);

      // A token with resourceVersion 0 is not one kube hands out: 400.
      const zero = Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: 0, start: "c1\u0000" })).toString(
        "base64url",
      );
      const bad = await call(server, "GET", `${CM}?limit=2&continue=${zero}`);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.reason, "BadRequest");
    });

    test("resourceVersionMatch=Exact lists the data as it was; NotOlderThan the latest; bad combinations are refused", async () => {
      const NS = "/api/v1/namespaces/history/configmaps";
      const names = (r: Reply) => (r.body as unknown as ConfigMapList).items.map((i) => i.metadata.name);
      assert.equal(
        (await call(server, "POST", "/api/v1/namespaces", { metadata: { name: "history" } })).status,
        201,
      );
      const a = await call(server, "POST", NS, { metadata: { name: "a" }, data: { v: "1" } });
      const rvA = String((a.body.metadata as { resourceVersion: string }).resourceVersion);
      const updated = await call(server, "PUT", `${NS}/a`, {
        metadata: { name: "a", resourceVersion: rvA },
        data: { v: "2" },
      });
      assert.equal(updated.status, 200);
      assert.equal((await call(server, "POST", NS, { metadata: { name: "b" } })).status, 201);

      const exact = await call(server, "GET", `${NS}?resourceVersion=${rvA}&resourceVersionMatch=Exact`);
      assert.equal(exact.status, 200, JSON.stringify(exact.body));
      assert.deepEqual(names(exact), ["a"]);
      const atA = exact.body as unknown as {
        items: Array<{ data: { v: string } }>;
        metadata: { resourceVersion: string };
      };
      assert.equal(atA.items[0]?.data.v, "1", "the object as it was at that revision");
      assert.equal(atA.metadata.resourceVersion, rvA);
      // Without a match, a resourceVersion with a limit is exact too (the legacy paginated form).
      const legacy = await call(server, "GET", `${NS}?resourceVersion=${rvA}&limit=10`);
      assert.deepEqual(names(legacy), ["a"]);
      // NotOlderThan (and a bare resourceVersion) is served at the latest revision.
      for (const q of [
        `resourceVersion=${rvA}&resourceVersionMatch=NotOlderThan`,
        `resourceVersion=${rvA}`,
      ]) {
        const latest = await call(server, "GET", `${NS}?${q}`);
        assert.deepEqual(names(latest), ["a", "b"], q);
      }

      const listed = (await call(server, "GET", NS)).body as unknown as ConfigMapList;
      const current = Number(listed.metadata.resourceVersion);
      for (const match of ["Exact", "NotOlderThan"]) {
        const future = await call(
          server,
          "GET",
          `${NS}?resourceVersion=${current + 1000}&resourceVersionMatch=${match}`,
        );
        assert.equal(future.status, 504, JSON.stringify(future.body));
        assert.equal(future.body.reason, "Timeout");
        assert.match(
          String(future.body.message),
          new RegExp(`^Too large resource version: ${current + 1000}, current: \\d+$`),
        );
        assert.deepEqual((future.body.details as { causes: unknown[] }).causes, [
          { reason: "ResourceVersionTooLarge", message: "Too large resource version" },
        ]);
      }

      const refused: Array<[string, number, string, string]> = [
        [
          "resourceVersionMatch=Exact",
          422,
          "Invalid",
          'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
        ],
        [
          "resourceVersion=0&resourceVersionMatch=Exact",
          422,
          "Invalid",
          'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ],
        [
          `resourceVersion=${rvA}&resourceVersionMatch=Newest`,
          422,
          "Invalid",
          'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""',
        ],
        [
          `resourceVersion=${rvA}&resourceVersionMatch=Exact&continue=x`,
          422,
          "Invalid",
          'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided',
        ],
        [
          `resourceVersion=${rvA}&continue=x`,
          400,
          "BadRequest",
          "specifying resource version is not allowed when using continue",
        ],
        [
          "resourceVersion=abc&resourceVersionMatch=Exact",
          400,
          "BadRequest",
          'invalid resource version: "abc"',
        ],
      ];
      for (const [q, code, reason, message] of refused) {
        const r = await call(server, "GET", `${NS}?${q}`);
        assert.equal(r.status, code, `${q}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.reason, reason, q);
        assert.equal(r.body.message, message, q);
        if (code === 422)
          assert.deepEqual(
            [
              (r.body.details as { group: string; kind: string }).group,
              (r.body.details as { kind: string }).kind,
            ],
            ["meta.k8s.io", "ListOptions"],
          );
      }

      // Once compacted past it, that revision is gone: 410 Expired, as for an old continue token.
      const ticking = startCompactor(handle.store, { intervalMs: 0 });
      await ticking.tick();
      await call(server, "POST", NS, { metadata: { name: "c" } });
      await ticking.tick();
      ticking.stop();
      const gone = await call(server, "GET", `${NS}?resourceVersion=${rvA}&resourceVersionMatch=Exact`);
      assert.equal(gone.status, 410, JSON.stringify(gone.body));
      assert.equal(gone.body.reason, "Expired");
      assert.equal(gone.body.message, "The resourceVersion for the provided list is too old.");
    });
  });
}

compactionSuite("memory", () => {
  const store = new MemoryStore();
  return Promise.resolve({ store, close: () => store.close() });
});

compactionSuite("SQLite", (dir) => {
  const store = new SqliteStore({ path: join(dir, "state.db") });
  return Promise.resolve({ store, close: () => store.close() });
});

compactionSuite("etcd", async () => {
  const etcd = await startEtcd();
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  return {
    store,
    close: async () => {
      await store.close();
      await etcd.stop();
    },
  };
});

describe("the apiserver's own compactor (--etcd-compaction-interval)", { timeout: 60_000 }, () => {
  async function compactedBelow(store: Store, revision: number): Promise<boolean> {
    return store.list("/registry/", { revision, limit: 1 }).then(
      () => false,
      (err: unknown) => (err as { code?: string }).code === "gone",
    );
  }

  for (const intervalMs of [60_000, 0]) {
    test(`interval ${intervalMs} ms: ${intervalMs > 0 ? "compacts at the revision seen one interval earlier" : "never compacts"}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-compactor-"));
      const store = new MemoryStore();
      const clock = new ManualClock(Date.now());
      const server = await startApiServer({
        store,
        dataDir: dir,
        securePort: 0,
        clock,
        compactionIntervalMs: intervalMs,
      });
      try {
        const early = await store.currentRevision();
        clock.advance(60_000); // first tick: remembers the current revision
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(
          (await call(server, "POST", "/api/v1/namespaces/default/configmaps", { metadata: { name: "a" } }))
            .status,
          201,
        );
        clock.advance(60_000); // second tick: compacts at what the first one saw
        const deadline = Date.now() + (intervalMs > 0 ? 5_000 : 500);
        let compacted = false;
        while (Date.now() < deadline && !(compacted = await compactedBelow(store, early - 1)))
          await new Promise((r) => setTimeout(r, 50));
        assert.equal(compacted, intervalMs > 0);
        // The newest object is always there.
        assert.equal((await call(server, "GET", "/api/v1/namespaces/default/configmaps/a")).status, 200);
      } finally {
        await server.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
