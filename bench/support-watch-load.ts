/**
 * The watch-load part of the apiserver benchmark (issue 16): two ~1.9 MB Secrets (encrypted with
 * aesgcm) in a namespace, then many idle watches that select nothing
 * (`fieldSelector=metadata.name=nothing`). Measured side by side in the same run: GET and /healthz
 * latency (p50/p99) with no watches, while the watches start, and with all of them open; the
 * apiserver's CPU per watch start (from /proc); full lists of the namespace per second. Run once with
 * the watch cache and once with `--watch-cache=false` (the path without it), same machine, same run.
 */
import { request, type Agent } from "node:https";
import { Agent as HttpsAgent } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Api } from "./apiserver.js";
import { apiCall } from "./support-api.js";
import { processCpuMs } from "./support-process-cpu.js";

// kube caps a Secret's data at 1 MiB; this much is ≈ 1.4 MB of JSON (base64).
const BIG_BYTES = Number(process.env.BENCH_WATCH_BIG_BYTES ?? 1_048_000);
const WATCHES = Number(process.env.BENCH_WATCH_COUNT ?? 200);
const PROBES = Number(process.env.BENCH_WATCH_PROBES ?? 100);
const LIST_ROUNDS = 10;
/** `BENCH_WATCH_SIDES=cache` (or `nocache`) runs one side only. */
const SIDES = (process.env.BENCH_WATCH_SIDES ?? "cache,nocache").split(",");
const NS = "/api/v1/namespaces/default/secrets";

export type StartApi = (dir: string, args: string[]) => Promise<Api>;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)]! * 10) / 10;
}

/** Latency of GET secret and GET /healthz, one after the other, `PROBES` times each, in ms. */
async function probe(api: Api, agent: Agent): Promise<Record<string, Record<string, number>>> {
  const times = { get: [] as number[], healthz: [] as number[] };
  for (let i = 0; i < PROBES; i++) {
    for (const [k, path] of [
      ["get", `${NS}/small`],
      ["healthz", "/healthz"],
    ] as const) {
      const t = performance.now();
      await apiCall(api, agent, "GET", path);
      times[k].push(performance.now() - t);
    }
  }
  const stats = (v: number[]): Record<string, number> => {
    const s = [...v].sort((a, b) => a - b);
    return { p50Ms: percentile(s, 50), p99Ms: percentile(s, 99), maxMs: percentile(s, 100) };
  };
  return { get: stats(times.get), healthz: stats(times.healthz) };
}

/** Opens a watch and resolves when its response headers arrived (the watch has started). */
function openWatch(api: Api, agent: Agent): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(`${NS}?watch=1&fieldSelector=metadata.name%3Dnothing`, api.url),
      { agent, ca: api.ca, headers: { Authorization: `Bearer ${api.token}` } },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`watch: ${String(res.statusCode)}`));
        res.resume();
        resolve(() => req.destroy());
      },
    );
    req.on("error", (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}

async function listsPerSec(api: Api, agent: Agent, query: string): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < LIST_ROUNDS; i++) {
    const list = JSON.parse(await apiCall(api, agent, "GET", NS + query)) as { items: unknown[] };
    if (list.items.length !== 3) throw new Error(`list returned ${list.items.length} items`);
  }
  return Math.round((LIST_ROUNDS / ((performance.now() - t) / 1000)) * 10) / 10;
}

async function scenario(startApi: StartApi, watchCache: boolean): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-watch-"));
  const config = join(dir, "encryption.yaml");
  writeFileSync(
    config,
    [
      "apiVersion: apiserver.config.k8s.io/v1",
      "kind: EncryptionConfiguration",
      "resources:",
      "  - resources: [secrets]",
      "    providers:",
      "      - aesgcm:",
      "          keys:",
      `            - {name: k1, secret: ${Buffer.alloc(32, 7).toString("base64")}}`,
      "      - identity: {}",
      "",
    ].join("\n"),
  );
  let api: Api | undefined;
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 4 });
  const watchAgent = new HttpsAgent({ keepAlive: false, maxSockets: WATCHES + 10 });
  const closers: (() => void)[] = [];
  try {
    api = await startApi(dir, [
      "--encryption-provider-config",
      config,
      ...(watchCache ? [] : ["--watch-cache=false"]),
    ]);
    for (const name of ["big-1", "big-2"]) {
      const payload = Buffer.alloc(BIG_BYTES, name).toString("base64");
      const body = { apiVersion: "v1", kind: "Secret", metadata: { name }, data: { payload } };
      await apiCall(api, agent, "POST", NS, JSON.stringify(body));
    }
    const small = { apiVersion: "v1", kind: "Secret", metadata: { name: "small" }, data: { a: "YQ==" } };
    await apiCall(api, agent, "POST", NS, JSON.stringify(small));
    await probe(api, agent); // warm-up
    const noWatches = await probe(api, agent);
    const cpuBefore = processCpuMs(api.child.pid);
    const started = performance.now();
    const opening = Promise.all(Array.from({ length: WATCHES }, () => openWatch(api!, watchAgent)));
    const duringStart = await probe(api, agent);
    closers.push(...(await opening));
    const startSeconds = (performance.now() - started) / 1000;
    const cpuMs = processCpuMs(api.child.pid) - cpuBefore;
    const watchesOpen = await probe(api, agent);
    const lists = {
      rv0PerSec: await listsPerSec(api, agent, "?resourceVersion=0"),
      consistentPerSec: await listsPerSec(api, agent, ""),
    };
    return {
      watchCache,
      noWatches,
      duringWatchStart: duringStart,
      withWatchesOpen: watchesOpen,
      watchStart: {
        watches: WATCHES,
        allStartedSeconds: Math.round(startSeconds * 100) / 100,
        // includes the probes' own CPU, the same in both scenarios
        apiserverCpuMsPerWatch: Math.round((cpuMs / WATCHES) * 100) / 100,
      },
      fullListsOfNamespace: lists,
      p99OverNoWatches: {
        get: Math.round((watchesOpen.get!.p99Ms! / Math.max(0.1, noWatches.get!.p99Ms!)) * 10) / 10,
        healthz:
          Math.round((watchesOpen.healthz!.p99Ms! / Math.max(0.1, noWatches.healthz!.p99Ms!)) * 10) / 10,
        getDuringStart:
          Math.round((duringStart.get!.p99Ms! / Math.max(0.1, noWatches.get!.p99Ms!)) * 10) / 10,
      },
    };
  } finally {
    for (const close of closers) close();
    agent.destroy();
    watchAgent.destroy();
    if (api !== undefined) {
      const { stopChild } = await import("./apiserver.js");
      await stopChild(api.child);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function watchLoad(startApi: StartApi): Promise<Record<string, unknown>> {
  return {
    secrets: `2 × ${BIG_BYTES} bytes of data (aesgcm), 1 small`,
    idleWatches: WATCHES,
    fieldSelector: "metadata.name=nothing",
    goal: "GET and /healthz p99 with the watches open ≤ 2× the no-watch figures",
    withWatchCache: SIDES.includes("cache") ? await scenario(startApi, true) : "skipped",
    withoutWatchCache: SIDES.includes("nocache") ? await scenario(startApi, false) : "skipped",
  };
}
