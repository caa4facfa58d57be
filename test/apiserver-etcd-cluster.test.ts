/** A three-member etcd cluster on loopback: the apiserver keeps serving when one member stops. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionPool } from "etcd3/lib/connection-pool.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { startApiServer } from "../src/apiserver/index.js";
import { startEtcd } from "./support/etcd.js";
import { Kubectl } from "./support/kubectl.js";

test(
  "kubectl keeps working through the apiserver when one of three etcd members stops",
  { timeout: 180_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-etcd3-"));
    // etcd3 tries members in a shuffled order; in this one the last endpoint comes first, so the
    // requests after it stops are sent to it first (unless a broken watch stream already opened its
    // circuit) and must fail over.
    ConnectionPool.deterministicOrder = true;
    const etcd = await startEtcd({ members: 3 });
    // A proposal in flight when the leader dies waits for etcd's own request timeout (about 5 s plus two
    // election timeouts) before it fails and can be retried on a member of the new term: the call's
    // budget must cover that, as kube-apiserver's does.
    const store = new EtcdStore({ endpoints: etcd.endpoints, callTimeoutMs: 15_000 });
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
      await etcd.stopMember(etcd.members.length - 1);
      // One attempt each: the store fails over within the request, kubectl does not retry.
      assert.match(
        await kc.ok(["create", "secret", "generic", "after", "--from-literal=c=d"]),
        /secret\/after created/,
        "the first write after the stop succeeds with two of three members",
      );
      assert.match(await kc.ok(["annotate", "secret", "before", "k=v"]), /annotated/);
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
      ConnectionPool.deterministicOrder = false;
      await server.close();
      await store.close();
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
