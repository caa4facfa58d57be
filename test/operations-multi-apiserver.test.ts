/**
 * Three atrest apiservers on a three-member etcd, each loading its own EncryptionConfiguration file that
 * an `atrest encryption agent` keeps equal to the cluster's; one agent is not running, so its
 * apiserver does not load the new configuration. The operation waits, says which apiserver is behind,
 * and never switches the writer before all three can read the target; once that agent runs, it goes
 * on. A user writes, updates and deletes Secrets through two of the apiservers all along: nothing is
 * lost and everything ends under the target. Then `atrest encryption agent` through the CLI.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { systemClock } from "../src/common/clock.js";
import { KmsClient } from "../src/kms/client/index.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { EncryptionConfigAgent } from "../src/operations/agent.js";
import { loadClusterFile, renderClusterFile } from "../src/operations/cluster-file.js";
import { EncryptionOperations } from "../src/operations/engine.js";
import { KubeClient } from "../src/operations/kube-client.js";
import { loadKubeconfig } from "../src/operations/kubeconfig.js";
import type { ProgressEvent } from "../src/operations/progress.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";
import { classifyValue } from "../src/scan/classify.js";
import { storeScanner } from "../src/scan/index.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { eventually, IDENTITY, secretsConfig } from "./support/encryption-system.js";
import { startEtcd, type EtcdCluster } from "./support/etcd.js";

describe("three apiservers on a three-member etcd, delivered by agents", { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-ops-multi-"));
  let etcd: EtcdCluster;
  let kms: KmsServer;
  let plugin: RunningPlugin;
  let keyId: string;
  const stores: EtcdStore[] = [];
  const apiservers: ApiServer[] = [];
  const files: string[] = [];
  const agents: EncryptionConfigAgent[] = [];
  let kube: KubeClient;
  let kmsClient: KmsClient;
  let clusterFile: string;

  before(async () => {
    etcd = await startEtcd({ members: 3 });
    const init = await initKmsDataDir({ dataDir: join(dir, "kms") });
    kms = await startKmsServer({ dataDir: join(dir, "kms"), cacheTtlMs: 0, schedulerIntervalMs: 0 });
    const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const profile = join(dir, "kms-profile.json");
    writeFileSync(
      profile,
      JSON.stringify({ endpoint: kms.url, regionId: "cn-hangzhou", ...creds, caFile: init.caCertFile }),
      { mode: 0o600 },
    );
    kmsClient = new KmsClient({
      endpoint: kms.url,
      regionId: "cn-hangzhou",
      ...creds,
      caFile: init.caCertFile,
    });
    keyId = String(
      (
        (await kmsClient.call("CreateKey", { KeySpec: "Aliyun_AES_256" }))["KeyMetadata"] as Record<
          string,
          unknown
        >
      )["KeyId"],
    );
    const socket = join(dir, "plugin", "kms.sock");
    mkdirSync(join(dir, "plugin"), { recursive: true });
    plugin = await startPlugin({
      listen: `unix://${socket}`,
      backend: {
        kind: "alibaba",
        endpoint: kms.url,
        regionId: "cn-hangzhou",
        keyId,
        credentials: creds,
        caPem: readFileSync(init.caCertFile, "utf8"),
      },
      statusRefreshMs: 500,
    });
    await eventually("the plugin's first healthy check", () => Promise.resolve(plugin.status().healthy));
    const token = "multi-apiserver-admin-token";
    for (let i = 0; i < 3; i++) {
      const file = join(dir, `encryption-config-${i}.yaml`);
      writeFileSync(file, secretsConfig([IDENTITY]));
      files.push(file);
      const store = new EtcdStore({ endpoints: [etcd.endpoints[i]!], callTimeoutMs: 15_000 });
      stores.push(store);
      apiservers.push(
        await startApiServer({
          store,
          storeCheckName: "etcd",
          certDir: join(dir, "pki"),
          tokens: [{ token, name: "admin", uid: "admin-uid", groups: ["system:masters"] }],
          securePort: 0,
          encryptionProviderConfig: file,
          encryptionProviderConfigAutomaticReload: true,
          encryptionReloadIntervalMs: 200,
          // Only one apiserver compacts, as kube's --etcd-compaction-interval=0 on the others.
          compactionIntervalMs: i === 0 ? 300_000 : 0,
          ...(i === 0 ? { kubeconfigOut: join(dir, "kubeconfig") } : {}),
        }),
      );
    }
    clusterFile = join(dir, "cluster.yaml");
    writeFileSync(
      clusterFile,
      renderClusterFile({
        name: "multi",
        region: "cn-hangzhou",
        kubeconfig: join(dir, "kubeconfig"),
        apiservers: apiservers.map((a) => ({ url: a.url })),
        store: { etcd: { endpoints: etcd.endpoints } },
        kmsProfile: profile,
        plugins: [{ name: "atrest", endpoint: `unix://${socket}` }],
      }) + "operation: {convergeTimeout: 60s, retryTimeout: 20s, leaseDuration: 10s, pageSize: 50}\n",
    );
    kube = new KubeClient(loadKubeconfig(join(dir, "kubeconfig")));
    for (const [i, file] of files.entries())
      agents.push(
        new EncryptionConfigAgent({
          kube: kube.forServer(apiservers[i]!.url),
          file,
          intervalMs: 200,
          clock: systemClock,
        }),
      );
  });

  after(async () => {
    for (const a of agents) a.stop();
    for (const a of apiservers) await a.close();
    for (const s of stores) await s.close();
    kube?.close();
    kmsClient?.close();
    await plugin?.close({ graceMs: 500 });
    await kms?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("waits for the apiserver that has not loaded the read configuration, then completes; user writes survive", async () => {
    await kube.postJson("/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "app" },
    });
    const expected = new Map<string, string>();
    for (let i = 0; i < 80; i++) {
      await kube.postJson("/api/v1/namespaces/app/secrets", {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: `s-${i}` },
        stringData: { v: `initial-${i}` },
      });
      expected.set(`s-${i}`, `initial-${i}`);
    }
    agents[0]!.start();
    agents[1]!.start();

    // A user writing through apiservers 1 and 2 for as long as the operation runs.
    let writing = true;
    let n = 0;
    const clients = [kube.forServer(apiservers[1]!.url), kube.forServer(apiservers[2]!.url)];
    const user = (async () => {
      while (writing) {
        const k = clients[n % 2]!;
        const i = n++;
        if (i % 3 === 0) {
          await k.postJson("/api/v1/namespaces/app/secrets", {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: `u-${i}` },
            stringData: { v: `user-${i}` },
          });
          expected.set(`u-${i}`, `user-${i}`);
        } else if (i % 3 === 1) {
          const name = `s-${i % 80}`;
          const s = await k
            .getJson<{ metadata: Record<string, unknown> }>(`/api/v1/namespaces/app/secrets/${name}`)
            .catch(() => undefined);
          if (s === undefined) continue;
          await k
            .putJson(`/api/v1/namespaces/app/secrets/${name}`, {
              apiVersion: "v1",
              kind: "Secret",
              metadata: s.metadata,
              stringData: { v: `updated-${i}` },
            })
            .then(() => expected.set(name, `updated-${i}`))
            .catch((err: unknown) => assert.match(String(err), /Conflict/));
        } else if (i % 9 === 2) {
          const name = `s-${(i * 7) % 80}`;
          await k.delete(`/api/v1/namespaces/app/secrets/${name}`).then(
            () => expected.delete(name),
            (err: unknown) => assert.match(String(err), /NotFound/),
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const events: ProgressEvent[] = [];
    const order: string[] = [];
    const behindUrl = apiservers[2]!.url;
    let agent2Started = false;
    const ops = new EncryptionOperations({
      cluster: loadClusterFile(clusterFile),
      kube,
      kms: kmsClient,
      scanner: storeScanner({
        endpoint: { etcdServers: etcd.endpoints },
        prefix: "/registry",
        resources: ["secrets"],
      }),
      progress: (e) => {
        events.push(e);
        if (e.event === "stage") order.push(`${e.stage}:${e.state}`);
        if (
          e.event === "waiting" &&
          e.stage === "converge-read" &&
          !agent2Started &&
          e.behind.some((b) => b.startsWith(behindUrl))
        ) {
          // Seen as behind, and the writer not switched: only now does its agent start.
          assert.ok(!order.includes("switch-writer:started"));
          assert.match(readFileSync(files[2]!, "utf8"), /identity/);
          assert.doesNotMatch(readFileSync(files[2]!, "utf8"), /kms/);
          agent2Started = true;
          setTimeout(() => agents[2]!.start(), 1_500);
        }
      },
    });
    // The first agent publishes the node's file as the cluster's base configuration.
    await eventually(
      "an agent to publish the base configuration",
      async () => (await ops.delivery.read()).current !== undefined,
    );
    const record = await ops.start({ type: "enable", keyId });
    writing = false;
    await user;
    assert.ok(agent2Started, "the operation reported the third apiserver as behind");
    const waited = events.filter((e) => e.event === "waiting" && e.stage === "converge-read");
    assert.ok(waited.length >= 2, "it kept waiting while that apiserver was behind");
    assert.ok(order.indexOf("switch-writer:started") > order.indexOf("converge-read:succeeded"));
    assert.equal(record.state, "Succeeded");

    // Every Secret, read back through each apiserver, has the value the user last wrote.
    for (const a of apiservers) {
      const list = await kube
        .forServer(a.url)
        .getJson<{ items: Array<{ metadata: { name: string }; data: { v: string } }> }>(
          "/api/v1/namespaces/app/secrets",
        );
      const got = new Map(
        list.items.map((s) => [s.metadata.name, Buffer.from(s.data.v, "base64").toString()]),
      );
      assert.deepEqual(got, expected, `through ${a.url}`);
    }
    // …and is stored under the KMS key (bytes read straight from etcd).
    const page = await stores[0]!.list("/registry/secrets/app/");
    for (const kv of page.items) {
      const v = classifyValue(kv.value);
      assert.equal(v.kind === "encrypted" && v.provider, "kms", kv.key);
    }
    for (const f of files) assert.doesNotMatch(readFileSync(f, "utf8"), /identity/);
  });

  it("disable through the agents, then status agrees on every apiserver", async () => {
    const ops = new EncryptionOperations({
      cluster: loadClusterFile(clusterFile),
      kube,
      kms: kmsClient,
      scanner: storeScanner({
        endpoint: { etcdServers: etcd.endpoints },
        prefix: "/registry",
        resources: ["secrets"],
      }),
    });
    const record = await ops.start({ type: "disable" });
    assert.equal(record.state, "Succeeded");
    const status = await ops.status();
    assert.equal(status.phase, "Running");
    assert.equal(status.apiservers.length, 3);
    assert.ok(
      status.apiservers.every((a) => a.converged && a.healthy),
      JSON.stringify(status.apiservers),
    );
    assert.equal(status.resources["secrets"]?.writer, "identity");
    assert.equal(status.conditions[0]?.reason, "DecryptionCompleted");
  });

  it("`atrest encryption agent` as the static pod runs it: --once writes the cluster's configuration, then finds it current; SIGTERM stops it", async () => {
    const nodeFile = join(dir, "new-node", "encryption-config.yaml");
    mkdirSync(join(dir, "new-node"));
    const kubeconfig = join(dir, "kubeconfig");
    const once = () =>
      runAtrest(["encryption", "agent", `--kubeconfig=${kubeconfig}`, `--file=${nodeFile}`, "--once"], {
        env: { ATREST_LOG_LEVEL: "error" },
      });
    const first = await once();
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout.trim(), "written");
    assert.equal(
      readFileSync(nodeFile, "utf8"),
      readFileSync(files[0]!, "utf8"),
      "the same file as every node",
    );
    assert.equal(statSync(nodeFile).mode & 0o777, 0o600);
    const second = await once();
    assert.equal(second.stdout.trim(), "unchanged", second.stderr);

    // Long-running, as deploy/atrest-encryption-agent.yaml starts it: a lost file comes back.
    rmSync(nodeFile);
    const agent = spawnAtrest(
      ["encryption", "agent", `--kubeconfig=${kubeconfig}`, `--file=${nodeFile}`, "--interval=200ms"],
      { env: { ATREST_LOG_LEVEL: "error" } },
    );
    const exited = new Promise<number | null>((r) => agent.on("exit", (code) => r(code)));
    try {
      await eventually(
        "the agent to write the file again",
        () => Promise.resolve(existsSync(nodeFile)),
        60_000,
      );
      assert.equal(readFileSync(nodeFile, "utf8"), readFileSync(files[0]!, "utf8"));
    } finally {
      agent.kill("SIGTERM");
    }
    assert.equal(await exited, 0, "SIGTERM is a clean stop");
  });
});
