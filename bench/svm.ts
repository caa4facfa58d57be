/**
 * StorageVersionMigration rewrite rate: how fast the in-process migrator re-encrypts stale Secrets
 * (1 KiB of data each, aesgcm keys from an EncryptionConfiguration) on each store — the embedded SQLite
 * (`atrest up`'s default) and a real etcd — beside the baseline of
 * the client-side way kube documents for re-encryption (`kubectl get secrets -A -o json | kubectl
 * replace -f -`): a client that lists the Secrets over HTTPS and PUTs each back, 32 at a time, on
 * the same apiserver and store. Rounds alternate (baseline, SVM, baseline, SVM), each after the key
 * is rotated (a new first key), so machine load falls on both alike. Every round checks that every
 * Secret ends up under the round's key. Goal: SVM ≥ 1,000 Secrets/s.
 * Sizes: BENCH_SVM_COUNT (default 3000), BENCH_SVM_STORES (sqlite,etcd), BENCH_SVM_CONCURRENCY (32, the
 * migrator's default, and the baseline client's).
 */
import { Agent } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { requireResource } from "../src/apiserver/resources.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import type { Store } from "../src/storage/store.js";
import { startEtcd } from "../test/support/etcd.js";
import { apiCall, pool, type ApiTarget } from "./support-api.js";

const COUNT = Number(process.env.BENCH_SVM_COUNT ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_SVM_CONCURRENCY ?? 32);
const ROUNDS = 4;
const STORES = (process.env.BENCH_SVM_STORES ?? "sqlite,etcd").split(",") as Array<"sqlite" | "etcd">;

function configYaml(keys: readonly string[]): string {
  return [
    "apiVersion: apiserver.config.k8s.io/v1",
    "kind: EncryptionConfiguration",
    "resources:",
    "  - resources: [secrets]",
    "    providers:",
    "      - aesgcm:",
    "          keys:",
    ...keys.flatMap((k) => [`            - name: ${k}`, `              secret: ${randomKeys.get(k) ?? ""}`]),
    "",
  ].join("\n");
}
const randomKeys = new Map<string, string>();
for (let i = 0; i <= ROUNDS; i++) randomKeys.set(`k${i}`, randomBytes(32).toString("base64"));

/** Every stored Secret's key name (`k8s:enc:aesgcm:v1:<name>:`), counted. */
async function storedUnder(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list("/registry/secrets/", {
      limit: 1000,
      ...(startAfter === undefined ? {} : { startAfter }),
    });
    for (const kv of page.items) {
      const name = /^k8s:enc:aesgcm:v1:([^:]+):/.exec(Buffer.from(kv.value).toString("latin1"))?.[1] ?? "?";
      out[name] = (out[name] ?? 0) + 1;
    }
    const last = page.items[page.items.length - 1];
    if (!page.more || last === undefined) return out;
    startAfter = last.key;
  }
}

/** The client-side re-encryption: list pages over HTTPS, PUT every Secret back unchanged. */
async function clientRewrite(server: ApiServer): Promise<number> {
  const api: ApiTarget = { url: server.url, token: server.adminToken ?? "", ca: server.caCertPem };
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: api.ca });
  const started = process.hrtime.bigint();
  try {
    let cont = "";
    for (;;) {
      const page = JSON.parse(
        await apiCall(
          api,
          agent,
          "GET",
          `/api/v1/secrets?limit=500${cont === "" ? "" : `&continue=${encodeURIComponent(cont)}`}`,
        ),
      ) as { items: Record<string, unknown>[]; metadata: { continue?: string } };
      const items = page.items;
      await pool(0, items.length, CONCURRENCY, async (i) => {
        const obj: Record<string, unknown> = { apiVersion: "v1", kind: "Secret", ...items[i] };
        const meta = obj.metadata as { namespace: string; name: string };
        await apiCall(
          api,
          agent,
          "PUT",
          `/api/v1/namespaces/${meta.namespace}/secrets/${meta.name}`,
          JSON.stringify(obj),
        );
      });
      cont = page.metadata.continue ?? "";
      if (cont === "") break;
    }
  } finally {
    agent.destroy();
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** One SVM for secrets, created in process; the seconds until it is Succeeded. */
async function svmRewrite(server: ApiServer, round: number): Promise<{ seconds: number; status: unknown }> {
  const svms = requireResource("storageversionmigrations", "storagemigration.k8s.io");
  const started = process.hrtime.bigint();
  await server.registry.create(
    svms,
    undefined,
    {
      apiVersion: "storagemigration.k8s.io/v1beta1",
      kind: "StorageVersionMigration",
      metadata: { name: `secrets-${round}` },
      spec: { resource: { group: "", resource: "secrets" } },
    },
    { dryRun: false },
  );
  for (;;) {
    const svm = await server.registry.get(svms, undefined, `secrets-${round}`);
    const status = (svm.status ?? {}) as { conditions?: { type: string; status: string }[] };
    const done = status.conditions?.find(
      (c) => (c.type === "Succeeded" || c.type === "Failed") && c.status === "True",
    );
    if (done !== undefined) {
      if (done.type === "Failed") throw new Error(`the migration failed: ${JSON.stringify(status)}`);
      return { seconds: Number(process.hrtime.bigint() - started) / 1e9, status };
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const stores: Record<string, Record<string, unknown>> = {};
  for (const kind of STORES) {
    stores[kind] = await onStore(kind);
    process.stderr.write(`svm bench, ${kind}: ${JSON.stringify(stores[kind])}\n`);
  }
  return {
    secrets: COUNT,
    dataBytes: 1024,
    provider: "aesgcm",
    concurrency: CONCURRENCY,
    goal: "svm >= 1000 Secrets/s",
    stores,
    /** The machine is shared: rates scale with the CPU left to this process and etcd. */
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 10) / 10,
    goalMet: Object.values(stores).every((r) => r.goalMet === true),
  };
}

async function onStore(kind: "sqlite" | "etcd"): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-svm-"));
  const etcd = kind === "etcd" ? await startEtcd() : undefined;
  const store: Store =
    etcd !== undefined
      ? new EtcdStore({ endpoints: etcd.endpoints })
      : new SqliteStore({ path: join(dir, "apiserver.db") });
  const configFile = join(dir, "encryption-config.yaml");
  const start = (keys: string[], migrator: boolean): Promise<ApiServer> => {
    writeFileSync(configFile, configYaml(keys));
    return startApiServer({
      store,
      storeCheckName: kind === "etcd" ? "etcd" : "datastore",
      dataDir: join(dir, "apiserver"),
      securePort: 0,
      encryptionProviderConfig: configFile,
      storageVersionMigrator: migrator ? { concurrency: CONCURRENCY } : false,
    });
  };
  const rates: { baseline: number[]; svm: number[] } = { baseline: [], svm: [] };
  /** This process's CPU (user + system) per Secret: the apiserver's work, with the client's in the baseline. */
  const cpuMs: { baseline: number[]; svm: number[] } = { baseline: [], svm: [] };
  let lastProgress: unknown;
  try {
    let server = await start(["k0"], false);
    const secrets = requireResource("secrets");
    await pool(0, COUNT, 32, (i) =>
      server.registry.create(
        secrets,
        "default",
        {
          metadata: { name: `s${String(i).padStart(6, "0")}` },
          data: { payload: Buffer.alloc(1024, i % 251).toString("base64") },
          type: "Opaque",
        },
        { dryRun: false },
      ),
    );
    await server.close();
    for (let round = 1; round <= ROUNDS; round++) {
      const keys = Array.from({ length: round + 1 }, (_, i) => `k${round - i}`);
      const svm = round % 2 === 0;
      server = await start(keys, svm);
      const cpu = process.cpuUsage();
      try {
        if (svm) {
          const r = await svmRewrite(server, round);
          rates.svm.push(COUNT / r.seconds);
          lastProgress = (r.status as { progress?: unknown }).progress;
        } else rates.baseline.push(COUNT / (await clientRewrite(server)));
        const used = process.cpuUsage(cpu);
        (svm ? cpuMs.svm : cpuMs.baseline).push((used.user + used.system) / 1000 / COUNT);
      } finally {
        await server.close();
      }
      const under = await storedUnder(store);
      if (under[`k${round}`] !== COUNT)
        throw new Error(`round ${round}: not every Secret is under k${round}: ${JSON.stringify(under)}`);
    }
  } finally {
    await store.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const meanOf = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  const mean = (v: number[]): number => Math.round(meanOf(v));
  const svmRate = mean(rates.svm);
  const baselineRate = mean(rates.baseline);
  return {
    store: kind,
    svmSecretsPerSecond: svmRate,
    baselineClientListPutSecretsPerSecond: baselineRate,
    svmOverBaseline: Math.round((svmRate / baselineRate) * 100) / 100,
    rounds: {
      svm: rates.svm.map(Math.round),
      baseline: rates.baseline.map(Math.round),
    },
    cpuMsPerSecret: {
      svm: Math.round(meanOf(cpuMs.svm) * 1000) / 1000,
      baselineApiserverAndClient: Math.round(meanOf(cpuMs.baseline) * 1000) / 1000,
    },
    lastSvmProgress: lastProgress,
    goalMet: svmRate >= 1000,
  };
}
