/**
 * `npm run bench -- operations`: `atrest encryption enable` and `disable` on 10,000 Secrets, on the
 * embedded SQLite store and on a real etcd, end to end (all stages, the apiserver reloading its file
 * every 200 ms) with the rewrite stage's own rate; and, on the same data in the same run, the seed
 * documents' procedure as the baseline: with the KMS provider put first in the file,
 * `kubectl get secrets -A -o json | kubectl replace -f -` (the real kubectl), which rewrites the same
 * plaintext → KMS v2 change that enable's rewrite does.
 * Goals: rewrite ≥ 1,000 Secrets/s, ≥ 3× the kubectl pipeline, enable of 10,000 ≤ 30 s end to end.
 * KMS calls per operation are counted at atrest kms (requests_total by action, minus the plugin's own
 * health probes). Everything but kubectl runs in this process (apiserver, plugin, kms, the operation),
 * so the rates include all of their CPU.
 * identityPutFloor, the floor under the rewrite rate: the same apiserver's PUT rate with the identity
 * provider (every Secret listed in pages and PUT back with an annotation changed, the rewrite's
 * concurrency), measured in the same run.
 * cpu: CPU ms per object of the server side (this process: apiserver, plugin, KMS; etcd not included)
 * and of the client (the operation's or kubectl's process) — what bounds the rate on a quiet machine,
 * whatever the load of a shared one.
 * Sizes: BENCH_OPERATIONS_COUNT (default 10000), BENCH_OPERATIONS_STORES (sqlite,etcd).
 */
import { readFileSync } from "node:fs";
import type { OperationRecord } from "../src/operations/operation-record.js";
import type { ProgressEvent } from "../src/operations/progress.js";
import { runAtrest } from "../test/support/cli.js";
import { IDENTITY, kmsV2, secretsConfig } from "../test/support/encryption-system.js";
import { startOperationsCluster, type OperationsCluster } from "../test/support/operations-cluster.js";

const COUNT = Number(process.env.BENCH_OPERATIONS_COUNT ?? 10_000);
const STORES = (process.env.BENCH_OPERATIONS_STORES ?? "sqlite,etcd").split(",") as Array<"sqlite" | "etcd">;

/**
 * CPU ms of this process (apiserver, plugin, KMS: the server side) and of its exited children (the
 * `atrest encryption` and kubectl processes: the client side), from /proc/self/stat. On a shared
 * machine rates follow the load; CPU per object does not, and bounds the rate one core allows.
 */
function cpuMs(): { server: number; client: number } {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ") ?? [];
  const ms = (i: number): number => (Number(f[i]) * 1000) / 100; // USER_HZ is 100 on Linux
  return { server: ms(11) + ms(12), client: ms(13) + ms(14) };
}

function cpuPerObject(
  before: { server: number; client: number },
  after: { server: number; client: number },
  objects: number,
) {
  const server = (after.server - before.server) / Math.max(objects, 1);
  const client = (after.client - before.client) / Math.max(objects, 1);
  return {
    serverMsPerObject: Math.round(server * 1000) / 1000,
    clientMsPerObject: Math.round(client * 1000) / 1000,
    /** The rate the server side's CPU allows on one core (the apiserver is one event loop). */
    serverBoundPerSecond: server > 0 ? Math.round(1000 / server) : null,
  };
}

async function kmsCalls(c: OperationsCluster): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await c.sys.kms!.metrics.requests.get()).values) {
    const key =
      v.labels.code === "OK"
        ? String(v.labels.action)
        : `${String(v.labels.action)}:${String(v.labels.code)}`;
    out[key] = (out[key] ?? 0) + v.value;
  }
  // The plugin's health probe is one Encrypt + one Decrypt, made whatever the apiservers do.
  const probes = c.sys.plugin!.status().checks;
  out["Encrypt"] = (out["Encrypt"] ?? 0) - probes;
  out["Decrypt"] = (out["Decrypt"] ?? 0) - probes;
  return out;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/**
 * Runs `atrest encryption <type>` as its own process, as an operator does (the apiserver, plugin and
 * KMS stay in this one, like a real control plane is not the operator's laptop), and reads the stage
 * timings from its JSON progress lines.
 */
async function timed(c: OperationsCluster, type: "enable" | "disable") {
  const before = await kmsCalls(c);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  const r = await runAtrest(
    [
      "encryption",
      type,
      "--cluster",
      c.clusterFile,
      "--progress",
      "json",
      "-o",
      "json",
      ...(type === "enable" ? ["--key-id", c.sys.kmsKeyId] : []),
    ],
    { env: { ATREST_LOG_LEVEL: "error" }, timeoutMs: 600_000 },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`atrest encryption ${type} exited ${String(r.status)}: ${r.stderr.slice(-500)}`);
  const cpu1 = cpuMs();
  const calls = diff(await kmsCalls(c), before);
  const record = (JSON.parse(r.stdout) as { operation: OperationRecord }).operation;
  const events = r.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as ProgressEvent & { ts: string });
  const stageMs = new Map<string, { start: number; end?: number }>();
  let firstEvent: number | undefined;
  for (const e of events) {
    const at = Date.parse(e.ts);
    firstEvent ??= at;
    if (e.event !== "stage") continue;
    if (e.state === "started") stageMs.set(e.stage, { start: at });
    else {
      const s = stageMs.get(e.stage);
      if (s !== undefined) s.end = at;
    }
  }
  const span = (name: string) => {
    const s = stageMs.get(name);
    return s?.end === undefined ? null : (s.end - s.start) / 1000;
  };
  const rewriteSeconds = span("rewrite") ?? 0;
  return {
    seconds: Math.round(seconds * 100) / 100,
    /** From the process start to its first event: node + tsx start-up and preflight. */
    startupAndPreflightSeconds:
      firstEvent === undefined ? null : Math.round((firstEvent - (Date.now() - seconds * 1000)) / 10) / 100,
    rewriteSeconds,
    rewritten: record.progress.rewritten,
    unchanged: record.progress.unchanged,
    conflictsRetried: record.progress.conflictsRetried,
    rewritePerSecond: rewriteSeconds > 0 ? Math.round(record.progress.rewritten / rewriteSeconds) : null,
    stageSeconds: Object.fromEntries([...stageMs.keys()].map((k) => [k, span(k)])),
    verified: record.verify?.underTarget ?? null,
    /** Over the whole operation (all stages, the verify scan included), per object rewritten. */
    cpu: cpuPerObject(cpu0, cpu1, record.progress.rewritten),
    kmsCalls: calls,
  };
}

/**
 * Lists every Secret in pages and PUTs each back with an annotation changed (so the apiserver really
 * writes it), `concurrency` in flight — the rewrite's traffic without its stale check and KMS.
 */
async function putFloor(c: OperationsCluster) {
  const { pageSize, concurrency } = c.cluster.tunables;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  let written = 0;
  let cont: string | undefined;
  do {
    const page = await c.kube.getJson<{
      metadata: { continue?: string };
      items: Array<{ metadata: { namespace: string; name: string; annotations?: Record<string, string> } }>;
    }>(`/api/v1/secrets?limit=${pageSize}${cont === undefined ? "" : `&continue=${cont}`}`);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < page.items.length) {
        const item = page.items[next++]!;
        item.metadata.annotations = {
          ...item.metadata.annotations,
          "bench.atrest.io/touched": String(written),
        };
        await c.kube.putJson(
          `/api/v1/namespaces/${item.metadata.namespace}/secrets/${item.metadata.name}`,
          { ...item, apiVersion: "v1", kind: "Secret" },
          { retryForMs: 30_000 },
        );
        written++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    cont = page.metadata.continue || undefined;
  } while (cont !== undefined);
  const seconds = (performance.now() - t0) / 1000;
  // (The client runs in this process here: its CPU is in serverMsPerObject.)
  const cpu = cpuPerObject(cpu0, cpuMs(), written);
  return {
    cpu,
    seconds: Math.round(seconds * 100) / 100,
    written,
    perSecond: Math.round(written / seconds),
    concurrency,
  };
}

async function onStore(store: "sqlite" | "etcd") {
  const c = await startOperationsCluster({
    name: `bench-ops-${store}`,
    store,
    statusRefreshMs: 600_000,
    tunables: `operation: {convergeTimeout: 60s, retryTimeout: 30s, leaseDuration: 30s${process.env.BENCH_OPERATIONS_CONCURRENCY === undefined ? "" : `, concurrency: ${process.env.BENCH_OPERATIONS_CONCURRENCY}`}}\n`,
  });
  try {
    const t0 = performance.now();
    await c.createSecrets("bench", COUNT, "bench", 32);
    const createPerSecond = Math.round(COUNT / ((performance.now() - t0) / 1000));

    const enable = await timed(c, "enable");
    process.stderr.write(`operations bench, ${store}, enable: ${JSON.stringify(enable)}\n`);
    const disable = await timed(c, "disable");
    process.stderr.write(`operations bench, ${store}, disable: ${JSON.stringify(disable)}\n`);
    // The floor under the rewrite rate: the apiserver's own PUT rate with the identity provider (no
    // KMS, no encryption), the same client and concurrency as the rewrite, every PUT a real write.
    const identityPutFloor = await putFloor(c);
    process.stderr.write(`operations bench, ${store}, floor: ${JSON.stringify(identityPutFloor)}\n`);

    // Baseline: the seed documents' procedure for the same plaintext → KMS v2 change.
    await c.sys.writeConfig(secretsConfig([kmsV2(c.sys.pluginEndpoint), IDENTITY]));
    const before = await kmsCalls(c);
    const kcpu0 = cpuMs();
    const k0 = performance.now();
    // (Each half may take minutes on a loaded machine: the support's 60 s default would kill it.)
    const got = await c.sys.kubectl.run(["get", "secrets", "--all-namespaces", "-o", "json"], {
      timeoutMs: 900_000,
    });
    if (got.status !== 0)
      throw new Error(`kubectl get exited ${String(got.status)}: ${got.stderr.slice(0, 500)}`);
    const r = await c.sys.kubectl.run(["replace", "-f", "-"], { input: got.stdout, timeoutMs: 900_000 });
    const kubectlSeconds = (performance.now() - k0) / 1000;
    const kcpu1 = cpuMs();
    if (r.status !== 0)
      throw new Error(`kubectl replace exited ${String(r.status)}: ${r.stderr.slice(0, 500)}`);
    const kubectlCalls = diff(await kmsCalls(c), before);
    // Paged, straight from the store (the scan verify uses).
    const secrets = (await c.scanner.scan()).resources["secrets"];
    const total = secrets?.total ?? 0;
    const underKms = secrets?.encrypted ?? 0;
    const kubectlPerSecond = Math.round(total / kubectlSeconds);
    return {
      secrets: COUNT,
      createPerSecond,
      enable,
      disable,
      kubectlReplace: {
        seconds: Math.round(kubectlSeconds * 100) / 100,
        perSecond: kubectlPerSecond,
        encryptedAfter: `${underKms}/${total}`,
        cpu: cpuPerObject(kcpu0, kcpu1, total),
        kmsCalls: kubectlCalls,
      },
      identityPutFloor,
      rewriteVsKubectl:
        enable.rewritePerSecond === null
          ? null
          : Math.round((enable.rewritePerSecond / kubectlPerSecond) * 10) / 10,
      goals: {
        rewriteAtLeast1000PerSecond:
          (enable.rewritePerSecond ?? 0) >= 1000 && (disable.rewritePerSecond ?? 0) >= 1000,
        atLeast3xKubectl: (enable.rewritePerSecond ?? 0) >= 3 * kubectlPerSecond,
        enableWithin30s: enable.seconds <= 30,
      },
    };
  } finally {
    await c.close();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  for (const store of STORES) {
    results[store] = await onStore(store);
    // Partial results survive a later failure.
    process.stderr.write(`operations bench, ${store}: ${JSON.stringify(results[store])}\n`);
  }
  return {
    description:
      "atrest encryption enable/disable on Secrets end to end (all stages; apiserver reload interval 200 ms), the rewrite stage's rate, and kubectl get -A -o json | kubectl replace -f - on the same data as baseline",
    note: "rewritePerSecond counts objects the apiserver really rewrote (new resourceVersion) over the rewrite stage; kmsCalls are atrest kms requests by action during the operation, without the plugin's health probes",
    ...results,
  };
}
