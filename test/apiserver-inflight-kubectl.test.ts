/**
 * kube's in-flight limit as a client nobody here made sees it: with one read-only seat, held by a GET
 * whose decrypt waits on a gate, the real kubectl (client-go) is answered 429 with `Retry-After: 1`,
 * waits and retries as client-go does for 429, and succeeds once the seat is free again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, writeKubeconfig } from "../src/apiserver/index.js";
import type { Transformer } from "../src/envelope/transformer.js";
import { versioned } from "./support/versioned-transformer.js";
import { call } from "./support/api-call.js";
import { Kubectl, kubectlMinor } from "./support/kubectl.js";

const USER_TOKEN = "user-token-0123456789";
const ADMIN_TOKEN = "admin-token-0123456789";
const HELD = "/registry/secrets/default/held";

test(
  "kubectl retries a 429 from a full server and succeeds once a seat is free",
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-inflight-kubectl-"));
    const store = new MemoryStore();
    let entered!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    let holding = true;
    const transformer: Transformer = {
      async transformFromStorage(data, ctx) {
        if (holding && Buffer.from(ctx.aad).toString() === HELD) {
          holding = false;
          entered();
          await released;
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
      // The gate acts on the first decode of the held Secret: no cache may make it first.
      watchCache: false,
    });
    try {
      await store.create(
        HELD,
        Buffer.from(
          `v1:${JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "held", namespace: "default", uid: "x" } })}`,
        ),
      );
      const heldGet = call(server, "GET", "/api/v1/namespaces/default/secrets/held", { token: USER_TOKEN });
      await inside;

      const kubeconfig = join(dir, "alice.kubeconfig");
      writeKubeconfig(kubeconfig, { server: server.url, caCertPem: server.caCertPem, token: USER_TOKEN });
      // kubectl 1.33 itself: the dispatcher's own /version request would take the first 429.
      const kubectl = new Kubectl(kubeconfig, { binary: kubectlMinor(33) });
      const listing = kubectl.run(["get", "secrets", "-n", "default", "-o", "name", "-v=6"], {
        timeoutMs: 90_000,
      });

      // The server has refused kubectl at least once (read as system:masters, which the limit lets through).
      const refusals = async (): Promise<number> => {
        const metrics = (await call(server, "GET", "/metrics", { token: ADMIN_TOKEN })).body.toString();
        return [...metrics.matchAll(/^apiserver_request_total\{[^}]*code="429"[^}]*\} (\d+)/gm)].reduce(
          (n, m) => n + Number(m[1]),
          0,
        );
      };
      const deadline = Date.now() + 60_000;
      while ((await refusals()) === 0) {
        assert.ok(Date.now() < deadline, "kubectl was never refused");
        await new Promise((r) => setTimeout(r, 50));
      }
      // kube's gauge shows the held seat (the admin's own /metrics is served without one: none is free).
      const metrics = (await call(server, "GET", "/metrics", { token: ADMIN_TOKEN })).body.toString();
      assert.match(metrics, /^apiserver_current_inflight_requests\{request_kind="readOnly"\} 1$/m);
      assert.match(metrics, /^apiserver_current_inflight_requests\{request_kind="mutating"\} 0$/m);
      release();
      assert.equal((await heldGet).status, 200);

      const result = await listing;
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout.trim(), "secret/held");
      // client-go logged the 429 it got before its retry went through.
      assert.match(result.stderr, /429 Too Many Requests/);
    } finally {
      release();
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
