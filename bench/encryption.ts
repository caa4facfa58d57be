/**
 * `npm run bench -- encryption`: what encryption at rest costs through the API. One store (SQLite,
 * then a real etcd), four apiservers on it (each under its own --etcd-prefix), one per
 * EncryptionConfiguration for secrets: identity, aesgcm, KMS v2 and KMS v1, the last two through the
 * real plugin (in process, unix socket, alibaba backend) and a real atrest kms (in process, HTTPS).
 * Create, get and list of 1 KiB Secrets over HTTPS with concurrent keep-alive clients, in interleaved
 * rounds (the configuration order rotates every round); rates are medians over the rounds.
 *
 * Also counted, at the KMS (its request counter, minus the plugin's own status probes): the Encrypt and
 * Decrypt calls the writes cost, and after a restart of the apiserver (a new process state on the same
 * store and config) the Decrypts needed to read everything back.
 * Goals: KMS v2 / identity ≥ 0.9 for create and get, ≥ 0.8 for list; KMS v2 writes cost at most one
 * Encrypt per key_id per apiserver process; a cold read of everything at most one Decrypt per seed.
 *
 * Everything (apiservers, plugin, kms, the clients) shares this process's event loop, so an operation's
 * rate reflects its whole CPU cost, the KMS's included.
 * Sizes: BENCH_ENCRYPTION_COUNT (Secrets per configuration and store, default 10000),
 * BENCH_ENCRYPTION_CONCURRENCY (16), BENCH_ENCRYPTION_ROUNDS (4), BENCH_ENCRYPTION_LIST_ROUNDS (7),
 * BENCH_ENCRYPTION_V1_LIST_ROUNDS (= list rounds).
 */
import { Agent } from "node:https";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApiServer, type ApiServer } from "../src/apiserver/server.js";
import { decodeEncryptedObject } from "../src/envelope/kmsv2/encrypted-object.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { AtrestKmsSdkClient, SdkConfig, kmsSdk } from "../src/plugin/alibaba-sdk-client.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { openStore } from "../src/storage/open-store.js";
import type { Store } from "../src/storage/store.js";
import { startEtcd } from "../test/support/etcd.js";
import { apiCall, apiListAll, apiSide, median, pool, type ApiTarget, type Side } from "./support-api.js";

const COUNT = Number(process.env.BENCH_ENCRYPTION_COUNT ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_ENCRYPTION_CONCURRENCY ?? 16);
/** Create and get each run in this many slices per configuration, interleaved. */
const ROUNDS = Number(process.env.BENCH_ENCRYPTION_ROUNDS ?? 4);
/** Full lists (every page) per configuration, interleaved; one list takes well under a second. */
const LIST_ROUNDS = Number(process.env.BENCH_ENCRYPTION_LIST_ROUNDS ?? 7);
/**
 * KMS v1 may list in fewer rounds: a list that misses the apiserver's decrypted-object cache costs a
 * KMS Decrypt per object beyond its DEK cache (1000), ~50x slower than the others.
 */
const V1_LIST_ROUNDS = Math.min(
  LIST_ROUNDS,
  Number(process.env.BENCH_ENCRYPTION_V1_LIST_ROUNDS ?? LIST_ROUNDS),
);

const CONFIGS = ["identity", "aesgcm", "kmsv2", "kmsv1"] as const;
type ConfigName = (typeof CONFIGS)[number];
const KMS_CONFIGS = ["kmsv2", "kmsv1"] as const;
const V2_NAME = "bench-v2";
const V1_NAME = "bench-v1";

function providersYaml(name: ConfigName, socket: string): string {
  switch (name) {
    case "identity":
      return "      - identity: {}\n";
    case "aesgcm":
      return [
        "      - aesgcm:",
        "          keys:",
        "            - name: key1",
        `              secret: ${randomBytes(32).toString("base64")}`,
        "      - identity: {}",
        "",
      ].join("\n");
    case "kmsv2":
    case "kmsv1":
      return [
        "      - kms:",
        `          apiVersion: ${name === "kmsv2" ? "v2" : "v1"}`,
        `          name: ${name === "kmsv2" ? V2_NAME : V1_NAME}`,
        `          endpoint: unix://${socket}`,
        ...(name === "kmsv1" ? ["          cachesize: 1000"] : []),
        "          timeout: 3s",
        "      - identity: {}",
        "",
      ].join("\n");
  }
}

/** The EncryptionConfiguration file (DESIGN.md §5) for one configuration; returns its path. */
function writeConfig(dir: string, name: ConfigName, socket: string): string {
  const path = join(dir, `encryption-${name}.yaml`);
  writeFileSync(
    path,
    [
      "apiVersion: apiserver.config.k8s.io/v1",
      "kind: EncryptionConfiguration",
      "resources:",
      "  - resources:",
      "      - secrets",
      "    providers:",
      providersYaml(name, socket),
    ].join("\n"),
    { mode: 0o600 },
  );
  return path;
}

interface Chain {
  kms: KmsServer;
  plugin: RunningPlugin;
  socket: string;
  close(): Promise<void>;
}

/** atrest kms over HTTPS with one SOFTWARE key, and the plugin in front of it on a unix socket. */
async function startChain(dir: string): Promise<Chain> {
  const kmsDir = join(dir, "kms");
  const init = await initKmsDataDir({ dataDir: kmsDir, accountId: "1234567890123456" });
  const kms = await startKmsServer({ dataDir: kmsDir, schedulerIntervalMs: 0 });
  let plugin: RunningPlugin | undefined;
  try {
    const credentials = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const caPem = readFileSync(init.caCertFile, "utf8");
    const admin = new AtrestKmsSdkClient(
      new SdkConfig({
        ...credentials,
        endpoint: new URL(kms.url).host,
        regionId: "cn-hangzhou",
        protocol: "https",
      }),
      caPem,
    );
    const keyId = (await admin.createKeyEx(new kmsSdk.CreateKeyRequest({}), {} as never)).keyMetadata.keyId;
    const socket = join(dir, "plugin", "kms.sock");
    plugin = await startPlugin({
      listen: `unix://${socket}`,
      backend: { kind: "alibaba", endpoint: kms.url, regionId: "cn-hangzhou", keyId, credentials, caPem },
      // The probe (one Encrypt + Decrypt) runs at start; a long period keeps it out of the counts
      // (any that still run are subtracted, see kmsCounts).
      statusRefreshMs: 3_600_000,
    });
    const first = await plugin.checkNow();
    if (!first.healthy) throw new Error(`the plugin's KMS check failed: ${first.reason}`);
    const running = plugin;
    return {
      kms,
      plugin: running,
      socket,
      async close() {
        await running.close();
        await kms.close();
      },
    };
  } catch (err) {
    await plugin?.close();
    await kms.close();
    throw err;
  }
}

interface KmsCalls {
  encrypt: number;
  decrypt: number;
  errors: number;
}

/** Successful Encrypt/Decrypt requests the KMS served, minus those of the plugin's status probes. */
async function kmsCounts(chain: Chain): Promise<KmsCalls> {
  const counts = { encrypt: 0, decrypt: 0, errors: 0 };
  for (const v of (await chain.kms.metrics.requests.get()).values) {
    if (v.labels.code !== "OK") counts.errors += v.value;
    else if (v.labels.action === "Encrypt") counts.encrypt += v.value;
    else if (v.labels.action === "Decrypt") counts.decrypt += v.value;
  }
  const probes = chain.plugin.status().checks;
  return { encrypt: counts.encrypt - probes, decrypt: counts.decrypt - probes, errors: counts.errors };
}

function minus(a: KmsCalls, b: KmsCalls): KmsCalls {
  return { encrypt: a.encrypt - b.encrypt, decrypt: a.decrypt - b.decrypt, errors: a.errors - b.errors };
}

function plus(a: KmsCalls, b: KmsCalls): KmsCalls {
  return { encrypt: a.encrypt + b.encrypt, decrypt: a.decrypt + b.decrypt, errors: a.errors + b.errors };
}

const NO_CALLS: KmsCalls = { encrypt: 0, decrypt: 0, errors: 0 };

/** Runs `work` and returns the KMS calls made meanwhile (the configurations never run at once). */
async function counted<T>(chain: Chain, work: () => Promise<T>): Promise<{ result: T; calls: KmsCalls }> {
  const before = await kmsCounts(chain);
  const result = await work();
  return { result, calls: minus(await kmsCounts(chain), before) };
}

interface Running {
  name: ConfigName;
  server: ApiServer;
  target: ApiTarget;
  agent: Agent;
  side: Side;
}

async function waitReady(target: ApiTarget, agent: Agent): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await apiCall(target, agent, "GET", "/readyz");
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function startApi(
  name: ConfigName,
  store: Store,
  storeCheckName: "etcd" | "datastore",
  dir: string,
  configFile: string,
): Promise<Running> {
  const server = await startApiServer({
    store,
    storeCheckName,
    etcdPrefix: `/bench-${name}`,
    securePort: 0,
    dataDir: join(dir, "api"),
    encryptionProviderConfig: configFile,
    encryptionProviderConfigAutomaticReload: false,
  });
  const target: ApiTarget = { url: server.url, token: server.adminToken ?? "", ca: server.caCertPem };
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: server.caCertPem });
  try {
    await waitReady(target, agent);
  } catch (err) {
    agent.destroy();
    await server.close();
    throw err;
  }
  return { name, server, target, agent, side: apiSide(target, agent) };
}

async function stopApi(r: Running): Promise<void> {
  r.agent.destroy();
  await r.server.close();
}

/** Distinct encrypted DEK sources (KMS v2 seeds, KMS v1 DEKs) among the stored values of one prefix. */
async function distinctDekSources(store: Store, name: ConfigName): Promise<number> {
  const prefix = `/bench-${name}/secrets/default/`;
  const marker = Buffer.from(name === "kmsv2" ? `k8s:enc:kms:v2:${V2_NAME}:` : `k8s:enc:kms:v1:${V1_NAME}:`);
  const sources = new Set<string>();
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list(prefix, {
      limit: 1000,
      ...(startAfter === undefined ? {} : { startAfter }),
    });
    for (const kv of page.items) {
      if (!kv.value.subarray(0, marker.length).equals(marker))
        throw new Error(`${kv.key} is not ${name} data`);
      const body = kv.value.subarray(marker.length);
      if (name === "kmsv2") sources.add(decodeEncryptedObject(body).encryptedDEKSource.toString("base64"));
      else sources.add(body.subarray(2, 2 + ((body[0]! << 8) | body[1]!)).toString("base64"));
    }
    if (!page.more) break;
    startAfter = page.items[page.items.length - 1]?.key;
  }
  return sources.size;
}

interface PhaseCalls {
  startup: KmsCalls;
  create: KmsCalls;
  get: KmsCalls;
  list: KmsCalls;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const perTenThousand = (calls: number, writes: number): number => Math.round((calls * 10_000) / writes);

async function benchStore(
  label: "sqlite" | "etcd",
  store: Store,
  chain: Chain,
  dir: string,
  configFiles: Record<ConfigName, string>,
): Promise<Record<string, unknown>> {
  const storeCheckName = label === "etcd" ? "etcd" : "datastore";
  const running = new Map<ConfigName, Running>();
  const calls = new Map<ConfigName, PhaseCalls>();
  const rates = new Map<ConfigName, { create: number[]; get: number[]; list: number[] }>();
  try {
    for (const name of CONFIGS) {
      const { result, calls: startup } = await counted(chain, () =>
        startApi(name, store, storeCheckName, dir, configFiles[name]),
      );
      running.set(name, result);
      calls.set(name, { startup, create: NO_CALLS, get: NO_CALLS, list: NO_CALLS });
      rates.set(name, { create: [], get: [], list: [] });
    }
    const slice = Math.ceil(COUNT / ROUNDS);
    for (const phase of ["create", "get"] as const) {
      for (let r = 0; r < ROUNDS; r++) {
        const from = r * slice;
        const to = Math.min(COUNT, from + slice);
        if (to <= from) continue;
        for (let c = 0; c < CONFIGS.length; c++) {
          const name = CONFIGS[(r + c) % CONFIGS.length]!;
          const api = running.get(name)!;
          const { result: seconds, calls: made } = await counted(chain, () =>
            pool(from, to, CONCURRENCY, (i) => api.side[phase](i)),
          );
          rates.get(name)![phase].push((to - from) / seconds);
          const pc = calls.get(name)!;
          pc[phase] = plus(pc[phase], made);
        }
      }
    }
    for (let r = 0; r < LIST_ROUNDS; r++) {
      for (let c = 0; c < CONFIGS.length; c++) {
        const name = CONFIGS[(r + c) % CONFIGS.length]!;
        if (name === "kmsv1" && r >= V1_LIST_ROUNDS) continue;
        const api = running.get(name)!;
        let items = 0;
        const { result: seconds, calls: made } = await counted(chain, () =>
          pool(0, 1, 1, async () => (items = await api.side.listAll())),
        );
        if (items !== COUNT) throw new Error(`${label} ${name}: listed ${items} Secrets, wrote ${COUNT}`);
        rates.get(name)!.list.push(1 / seconds);
        const pc = calls.get(name)!;
        pc.list = plus(pc.list, made);
      }
    }

    // Restart the KMS apiservers (same store, same config) and read everything back, cold.
    const restart: Record<string, unknown> = {};
    for (const name of KMS_CONFIGS) {
      await stopApi(running.get(name)!);
      running.delete(name);
      const { result: api, calls: startup } = await counted(chain, () =>
        startApi(name, store, storeCheckName, dir, configFiles[name]),
      );
      running.set(name, api);
      let items = 0;
      const started = process.hrtime.bigint();
      const { calls: coldRead } = await counted(
        chain,
        async () => (items = await apiListAll(api.target, api.agent)),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (items !== COUNT) throw new Error(`${label} ${name}: read back ${items} Secrets, wrote ${COUNT}`);
      const sources = await distinctDekSources(store, name);
      restart[name] = {
        itemsRead: items,
        coldReadSeconds: round2(seconds),
        [name === "kmsv2" ? "distinctSeedsStored" : "distinctDeksStored"]: sources,
        startupCalls: startup,
        coldReadCalls: coldRead,
        coldReadDecryptsPerTenThousandObjects: perTenThousand(coldRead.decrypt, items),
      };
    }

    const medians = Object.fromEntries(
      CONFIGS.map((name) => {
        const r = rates.get(name)!;
        return [
          name,
          {
            createPerSec: Math.round(median(r.create)),
            getPerSec: Math.round(median(r.get)),
            fullListsPerSec: round2(median(r.list)),
          },
        ];
      }),
    ) as Record<ConfigName, { createPerSec: number; getPerSec: number; fullListsPerSec: number }>;
    const vsIdentity = (name: ConfigName) => ({
      create: round2(medians[name].createPerSec / medians.identity.createPerSec),
      get: round2(medians[name].getPerSec / medians.identity.getPerSec),
      list: round2(medians[name].fullListsPerSec / medians.identity.fullListsPerSec),
    });
    const kmsCalls = Object.fromEntries(
      KMS_CONFIGS.map((name) => {
        const pc = calls.get(name)!;
        const writes = plus(pc.startup, pc.create);
        return [
          name,
          {
            perTenThousandWrites: {
              encrypt: perTenThousand(writes.encrypt, COUNT),
              decrypt: perTenThousand(writes.decrypt, COUNT),
            },
            observed: pc,
          },
        ];
      }),
    );
    const v2 = calls.get("kmsv2")!;
    const v2Process = plus(plus(v2.startup, v2.create), plus(v2.get, v2.list));
    const v2Restart = restart.kmsv2 as {
      distinctSeedsStored: number;
      startupCalls: KmsCalls;
      coldReadCalls: KmsCalls;
    };
    const ratios = vsIdentity("kmsv2");
    const allErrors = [...calls.values()].reduce(
      (n, pc) => n + pc.startup.errors + pc.create.errors + pc.get.errors + pc.list.errors,
      0,
    );
    return {
      rates: medians,
      overIdentity: { aesgcm: vsIdentity("aesgcm"), kmsv2: ratios, kmsv1: vsIdentity("kmsv1") },
      kmsCalls,
      restart,
      kmsErrors: allErrors,
      goalsMet: {
        kmsv2CreateGetAtLeast0_9: ratios.create >= 0.9 && ratios.get >= 0.9,
        kmsv2ListAtLeast0_8: ratios.list >= 0.8,
        // One key_id all run: the first process and the restarted one may each Encrypt one seed.
        kmsv2AtMostOneEncryptPerKeyIdPerProcess:
          v2Process.encrypt <= 1 && v2Restart.startupCalls.encrypt + v2Restart.coldReadCalls.encrypt <= 1,
        kmsv2ColdReadAtMostOneDecryptPerSeed:
          v2Restart.startupCalls.decrypt + v2Restart.coldReadCalls.decrypt <= v2Restart.distinctSeedsStored,
      },
    };
  } finally {
    for (const r of running.values()) await stopApi(r);
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-encryption-"));
  let chain: Chain | undefined;
  try {
    chain = await startChain(dir);
    const configFiles = Object.fromEntries(
      CONFIGS.map((name) => [name, writeConfig(dir, name, chain!.socket)]),
    ) as Record<ConfigName, string>;

    const sqliteStore = openStore({ sqlitePath: join(dir, "store.db") });
    let sqlite: Record<string, unknown>;
    try {
      sqlite = await benchStore("sqlite", sqliteStore, chain, dir, configFiles);
    } finally {
      await sqliteStore.close();
    }

    const etcd = await startEtcd();
    const etcdStore = new EtcdStore({ endpoints: etcd.endpoints });
    let etcdResult: Record<string, unknown>;
    try {
      etcdResult = await benchStore("etcd", etcdStore, chain, dir, configFiles);
    } finally {
      await etcdStore.close();
      await etcd.stop();
    }

    const met = (r: Record<string, unknown>) => r.goalsMet as Record<string, boolean>;
    const goalsMet = Object.fromEntries(
      Object.keys(met(sqlite)).map((k) => [k, met(sqlite)[k] === true && met(etcdResult)[k] === true]),
    );
    return {
      secretsPerConfig: COUNT,
      dataBytes: 1024,
      concurrency: CONCURRENCY,
      interleavedRounds: ROUNDS,
      listRoundsOfAllPages: LIST_ROUNDS,
      kmsv1ListRounds: V1_LIST_ROUNDS,
      rates: "medians over the rounds; configurations rotate their order each round",
      kmsCallsCountedAt: "atrest kms (requests_total, code OK) minus the plugin's status probes",
      goals:
        "kmsv2/identity >= 0.9 create and get, >= 0.8 list; kmsv2 <= 1 Encrypt per key_id per apiserver process; cold read of everything <= 1 Decrypt per distinct seed",
      goalsMet,
      sqlite,
      etcd: etcdResult,
    };
  } finally {
    await chain?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
