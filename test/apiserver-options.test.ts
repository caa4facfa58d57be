/** startApiServer options: given TLS files, a custom --etcd-prefix, dry runs, a restart that keeps state. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateTlsMaterial } from "../src/common/tls.js";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";

function call(
  server: ApiServer,
  ca: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server.url),
      {
        method,
        ca,
        headers: { Authorization: `Bearer ${server.adminToken ?? ""}`, "Content-Type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test(
  "serving certificate from --tls-cert-file/--tls-private-key-file, keys under a custom prefix, dryRun stores nothing",
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-options-"));
    const store = new MemoryStore();
    const material = await generateTlsMaterial({
      commonName: "my-apiserver",
      hosts: ["127.0.0.1", "localhost"],
    });
    writeFileSync(join(dir, "serving.crt"), material.certPem);
    writeFileSync(join(dir, "serving.key"), material.keyPem);
    const server = await startApiServer({
      store,
      securePort: 0,
      tlsCertFile: join(dir, "serving.crt"),
      tlsPrivateKeyFile: join(dir, "serving.key"),
      etcdPrefix: "/custom/",
      dataDir: dir,
    });
    try {
      const S = "/api/v1/namespaces/default/configmaps";
      const created = await call(
        server,
        material.caCertPem,
        "POST",
        S,
        JSON.stringify({ metadata: { name: "c" }, data: { a: "1" } }),
      );
      assert.equal(created.status, 201);
      assert.ok(
        await store.get("/custom/configmaps/default/c"),
        "the key uses the configured prefix (trailing slash dropped)",
      );
      assert.ok(await store.get("/custom/namespaces/default"));
      const before = await store.currentRevision();
      const dry = await call(
        server,
        material.caCertPem,
        "POST",
        `${S}?dryRun=All`,
        JSON.stringify({ metadata: { name: "d" } }),
      );
      assert.equal(dry.status, 201);
      assert.equal(await store.currentRevision(), before, "a dry run writes nothing");
      assert.equal((await call(server, material.caCertPem, "DELETE", `${S}/c?dryRun=All`)).status, 200);
      assert.equal(
        (await call(server, material.caCertPem, "GET", `${S}/c`)).status,
        200,
        "still there after a dry-run delete",
      );
      // kube's ValidateCreateOptions: 422 Invalid.
      const maybe = await call(server, material.caCertPem, "POST", `${S}?dryRun=Maybe`, "{}");
      assert.equal(maybe.status, 422);
      assert.equal(
        maybe.json.message,
        'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Maybe"}: supported values: "All"',
      );
    } finally {
      await server.close();
    }
    // A restart on the same store and data dir: the same admin token and CA, the objects are still there.
    const first = readFileSync(join(dir, "tokens.csv"), "utf8");
    const again = await startApiServer({
      store,
      securePort: 0,
      dataDir: join(dir, "second"),
      etcdPrefix: "/custom",
    });
    const third = await startApiServer({
      store,
      securePort: 0,
      dataDir: join(dir, "second"),
      etcdPrefix: "/custom",
    });
    try {
      assert.equal(again.adminToken, third.adminToken, "the generated token is kept in the data dir");
      assert.equal(again.caCertPem, third.caCertPem, "the generated CA is kept in the data dir");
      assert.equal(
        (await call(third, third.caCertPem, "GET", "/api/v1/namespaces/default/configmaps/c")).status,
        200,
      );
      assert.equal(readFileSync(join(dir, "tokens.csv"), "utf8"), first);
    } finally {
      await again.close();
      await third.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
