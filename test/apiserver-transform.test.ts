/**
 * The apiserver over a value transformer: stale values are rewritten by any update (the re-encryption
 * path `kubectl get -o json | kubectl replace -f -`), values that fail to transform are 500s that leak
 * nothing, and client certificates authenticate (CN = user).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateTlsMaterial } from "../src/common/tls.js";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { Kubectl } from "./support/kubectl.js";
import { versioned } from "./support/versioned-transformer.js";

function get(
  server: ApiServer,
  path: string,
  options: { token?: string; cert?: string; key?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> =
      options.token !== undefined ? { Authorization: `Bearer ${options.token}` } : {};
    request(
      new URL(path, server.url),
      {
        headers,
        ca: server.caCertPem,
        ...(options.cert !== undefined ? { cert: options.cert, key: options.key } : {}),
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    )
      .on("error", reject)
      .end();
  });
}

describe("apiserver over a transformer", { timeout: 120_000 }, () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  let kubeconfig: string;
  let client: { certPem: string; keyPem: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-transform-"));
    store = new MemoryStore();
    const alice = await generateTlsMaterial({ commonName: "alice", hosts: ["localhost"] });
    client = { certPem: alice.certPem, keyPem: alice.keyPem };
    writeFileSync(join(dir, "client-ca.crt"), alice.caCertPem);
    writeFileSync(join(dir, "tokens.csv"), 'admintoken,admin,1,"system:masters"\n', { mode: 0o600 });
    const line = (spec: Record<string, unknown>): string =>
      JSON.stringify({ apiVersion: "abac.authorization.kubernetes.io/v1beta1", kind: "Policy", spec });
    writeFileSync(
      join(dir, "policy.jsonl"),
      [
        line({ group: "system:masters", namespace: "*", resource: "*", apiGroup: "*", nonResourcePath: "*" }),
        line({ user: "alice", namespace: "*", resource: "secrets", apiGroup: "*", readonly: true }),
      ].join("\n"),
    );
    kubeconfig = join(dir, "kubeconfig");
    server = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      transformerFor: () => versioned,
      tokenAuthFile: join(dir, "tokens.csv"),
      clientCaFile: join(dir, "client-ca.crt"),
      authorizationMode: "ABAC",
      authorizationPolicyFile: join(dir, "policy.jsonl"),
      kubeconfigOut: kubeconfig,
    });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("writes go through the transformer with the storage key; kubectl get | replace rewrites stale values", async () => {
    const kc = new Kubectl(kubeconfig, { cacheDir: mkdtempSync(join(dir, "cache-")) });
    await kc.ok(["create", "secret", "generic", "fresh", "--from-literal=a=b"]);
    const fresh = await store.get("/registry/secrets/default/fresh");
    assert.equal(fresh?.value.subarray(0, 3).toString(), "v1:");
    const old = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "old",
        namespace: "default",
        uid: "u-old",
        creationTimestamp: "2025-01-01T00:00:00Z",
      },
      data: { a: "Yg==" },
      type: "Opaque",
    };
    await store.create(
      "/registry/secrets/default/old",
      Buffer.concat([Buffer.from("v0:"), Buffer.from(JSON.stringify(old))]),
    );
    const freshRevision = fresh?.modRevision;
    const all = await kc.ok(["get", "secrets", "-A", "-o", "json"]);
    await kc.ok(["replace", "-f", "-"], { input: all });
    const after = await store.get("/registry/secrets/default/old");
    assert.equal(
      after?.value.subarray(0, 3).toString(),
      "v1:",
      "the stale value was rewritten with the current provider",
    );
    assert.equal(
      (await store.get("/registry/secrets/default/fresh"))?.modRevision,
      freshRevision,
      "an unchanged current value is not rewritten",
    );
    const served = JSON.parse(await kc.ok(["get", "secret", "old", "-o", "json"])) as typeof old;
    assert.equal(served.metadata.uid, "u-old");
    assert.deepEqual(served.data, old.data);
  });

  test("a value that does not transform is a 500 Status naming the key, never its bytes", async () => {
    await store.create("/registry/secrets/default/broken", Buffer.from("garbage-with-password=hunter2"));
    const r = await get(server, "/api/v1/namespaces/default/secrets/broken", { token: "admintoken" });
    assert.equal(r.status, 500);
    const status = JSON.parse(r.body) as { reason: string; message: string };
    assert.equal(status.reason, "InternalError");
    assert.match(status.message, /unable to transform key "\/registry\/secrets\/default\/broken"/);
    assert.doesNotMatch(r.body, /hunter2/);
  });

  test("a client certificate authenticates as its CN; ABAC limits it", async () => {
    const ok = await get(server, "/api/v1/namespaces/default/secrets/fresh", {
      cert: client.certPem,
      key: client.keyPem,
    });
    assert.equal(ok.status, 200);
    const denied = await get(server, "/api/v1/namespaces", { cert: client.certPem, key: client.keyPem });
    assert.equal(denied.status, 403);
    assert.match(denied.body, /User \\"alice\\" cannot list resource \\"namespaces\\"/);
    assert.equal(
      (await get(server, "/api/v1/namespaces/default/secrets/fresh")).status,
      401,
      "no certificate, no token",
    );
  });
});
