/** A three-member etcd cluster on loopback: the apiserver keeps serving when one member stops. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { startApiServer } from "../src/apiserver/index.js";
import { startEtcd } from "./support/etcd.js";
import { Kubectl } from "./support/kubectl.js";

test(
  "kubectl keeps working through the apiserver when one of three etcd members stops",
  { timeout: 180_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-etcd3-"));
    const etcd = await startEtcd({ members: 3 });
    const store = new EtcdStore({ endpoints: etcd.endpoints, callTimeoutMs: 5_000 });
    const kubeconfig = join(dir, "kubeconfig");
    const server = await startApiServer({
      store,
      storeCheckName: "etcd",
      dataDir: dir,
      securePort: 0,
      kubeconfigOut: kubeconfig,
    });
    try {
      const kc = new Kubectl(kubeconfig, { cacheDir: join(dir, "cache") });
      await kc.ok(["create", "secret", "generic", "before", "--from-literal=a=b"]);
      await etcd.stopMember(0);
      // The client may first try the stopped member; kubectl retries are not relied on: allow a few attempts.
      let created = false;
      for (let i = 0; i < 5 && !created; i++) {
        created =
          (await kc.run(["create", "secret", "generic", "after", "--from-literal=c=d"])).status === 0 ||
          (await kc.run(["get", "secret", "after"])).status === 0;
      }
      assert.ok(created, "a write succeeds with two of three members");
      const list = JSON.parse(await kc.ok(["get", "secrets", "-o", "json"])) as {
        items: Array<{ metadata: { name: string } }>;
      };
      assert.deepEqual(list.items.map((i) => i.metadata.name).sort(), ["after", "before"]);
      const health = await new Promise<string>((resolve, reject) => {
        request(new URL("/readyz?verbose", server.url), { ca: server.caCertPem }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve(body));
        })
          .on("error", reject)
          .end();
      });
      assert.match(health, /\[\+\]etcd ok/);
    } finally {
      await server.close();
      await store.close();
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
