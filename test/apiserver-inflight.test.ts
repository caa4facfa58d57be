/**
 * kube's max-in-flight limits on a real apiserver (HTTPS, in-process) with limits of 1: a read-only
 * request held inside the server (its value's decrypt waits on a gate) and a mutating one held by a
 * body that has not finished arriving fill the seats; one more of each kind gets 429 with
 * `Retry-After: 1` and kube's plain-text answer, while watches, /healthz, /livez,
 * /readyz and system:masters go through; the seats come back when the held requests finish.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer } from "../src/apiserver/index.js";
import type { Transformer } from "../src/envelope/transformer.js";
import { versioned } from "./support/versioned-transformer.js";
import { call } from "./support/api-call.js";

const USER_TOKEN = "user-token-0123456789";
const ADMIN_TOKEN = "admin-token-0123456789";
const SECRETS = "/api/v1/namespaces/default/secrets";

test(
  "in-flight limits: 429 + Retry-After past them; watches, health and system:masters not counted",
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-inflight-"));
    const store = new MemoryStore();
    let gate: { key: string; entered: () => void; release: Promise<void> } | undefined;
    const transformer: Transformer = {
      async transformFromStorage(data, ctx) {
        const g = gate;
        if (g !== undefined && Buffer.from(ctx.aad).toString() === g.key) {
          g.entered();
          await g.release;
        }
        return versioned.transformFromStorage(data, ctx);
      },
      transformToStorage: (p, ctx) => versioned.transformToStorage(p, ctx),
    };
    const server = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      transformerFor: () => transformer,
      tokens: [
        { token: USER_TOKEN, name: "alice", uid: "u1", groups: ["devs"] },
        { token: ADMIN_TOKEN, name: "admin", uid: "u0", groups: ["system:masters"] },
      ],
      maxRequestsInflight: 1,
      maxMutatingRequestsInflight: 1,
      // The gate acts on the first decode of the held Secret: the cache must not make it.
      watchCache: false,
    });
    try {
      const user = { token: USER_TOKEN };
      const secret = (name: string): string =>
        JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name }, data: { a: "YQ==" } });
      // Written straight to the store, so that no read has decoded it yet.
      await store.create(
        "/registry/secrets/default/held",
        Buffer.from(
          `v1:${JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "held", namespace: "default", uid: "x" } })}`,
        ),
      );
      let release!: () => void;
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      gate = { key: "/registry/secrets/default/held", entered, release: new Promise((r) => (release = r)) };
      const heldGet = call(server, "GET", `${SECRETS}/held`, user);
      await inside;

      const refused = await call(server, "GET", SECRETS, user);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers["retry-after"], "1");
      // kube's tooManyRequests is Go's http.Error, not a Status: plain text, nosniff.
      assert.equal(refused.headers["content-type"], "text/plain; charset=utf-8");
      assert.equal(refused.headers["x-content-type-options"], "nosniff");
      assert.equal(refused.body.toString(), "Too many requests, please try again later.\n");
      for (const path of ["/healthz", "/livez", "/readyz"])
        assert.equal((await call(server, "GET", path, user)).status, 200, path);
      assert.equal(
        (await call(server, "GET", "/api/v1/namespaces", { token: ADMIN_TOKEN })).status,
        200,
        "system:masters",
      );
      // A watch is long-running: not counted, and it does not take the seat either.
      const watchStatus = await new Promise<number>((resolve, reject) => {
        const req = request(
          new URL("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1", server.url),
          { ca: server.caCertPem, headers: { Authorization: `Bearer ${USER_TOKEN}` } },
          (res) => {
            resolve(res.statusCode ?? 0);
            req.destroy();
          },
        );
        req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
        req.end();
      });
      assert.equal(watchStatus, 200);
      // Mutating requests have their own seats: a create goes through while the read is held.
      assert.equal(
        (
          await call(server, "POST", SECRETS, {
            ...user,
            body: secret("m1"),
            contentType: "application/json",
          })
        ).status,
        201,
      );

      // Hold the mutating seat with a body that has not finished arriving.
      const body = Buffer.from(secret("m2"));
      const slow = request(new URL(SECRETS, server.url), {
        method: "POST",
        ca: server.caCertPem,
        headers: {
          Authorization: `Bearer ${USER_TOKEN}`,
          "Content-Type": "application/json",
          "Content-Length": String(body.length),
        },
      });
      const slowStatus = new Promise<number>((resolve, reject) => {
        slow.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        slow.on("error", reject);
      });
      slow.write(body.subarray(0, 5));
      let refusedWrite;
      for (let i = 0; i < 200; i++) {
        refusedWrite = await call(server, "POST", SECRETS, {
          ...user,
          body: secret("m3"),
          contentType: "application/json",
        });
        if (refusedWrite.status === 429) break;
        assert.equal(refusedWrite.status, i === 0 ? 201 : 409, "before the slow request holds the seat");
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(refusedWrite?.status, 429);
      assert.equal(refusedWrite?.headers["retry-after"], "1");

      // Both held requests finish; their seats come back.
      release();
      assert.equal((await heldGet).status, 200);
      slow.end(body.subarray(5));
      assert.equal(await slowStatus, 201);
      assert.equal((await call(server, "GET", SECRETS, user)).status, 200);
      assert.equal(
        (
          await call(server, "POST", SECRETS, {
            ...user,
            body: secret("m4"),
            contentType: "application/json",
          })
        ).status,
        201,
      );
    } finally {
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("in-flight limits: a bad value is refused with the flag named", async () => {
  const store = new MemoryStore();
  const dir = mkdtempSync(join(tmpdir(), "atrest-inflight-"));
  try {
    await assert.rejects(
      startApiServer({ store, dataDir: dir, securePort: 0, maxRequestsInflight: -1 }),
      /maxRequestsInflight must be a whole number ≥ 0, got -1/,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
