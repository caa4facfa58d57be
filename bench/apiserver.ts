/**
 * The API path against the raw store, same store, same run: create, get and list of Secrets with
 * 1 KiB of data, over HTTPS with concurrent keep-alive clients. The apiserver runs as its own process
 * (`atrest apiserver`), as in production; the raw baseline drives the same kind of store from here.
 * The watch load (support-watch-load.ts): many idle watches beside two large Secrets.
 * Goal: API throughput ≥ 0.5× raw store throughput for create and get.
 */
import { Agent } from "node:https";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { Store } from "../src/storage/store.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { openStore } from "../src/storage/open-store.js";
import { spawnAtrest } from "../test/support/cli.js";
import { startEtcd } from "../test/support/etcd.js";
import { apiSide, pool, secretJson, type ApiTarget, type Side } from "./support-api.js";
import { watchLoad } from "./support-watch-load.js";

const COUNT = Number(process.env.BENCH_APISERVER_COUNT ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_APISERVER_CONCURRENCY ?? 16);
const LIST_ROUNDS = 10;
/** Raw and API alternate in this many slices per phase. */
const ROUNDS = 4;

/** What the apiserver stores for such a Secret (JSON with uid and timestamp), for the raw baseline. */
function storedBytes(i: number): Buffer {
  const obj = JSON.parse(secretJson(i)) as { metadata: Record<string, unknown> };
  obj.metadata.uid = "00000000-0000-0000-0000-000000000000";
  obj.metadata.creationTimestamp = "2026-01-01T00:00:00Z";
  return Buffer.from(JSON.stringify(obj));
}

function rawSide(store: Store, prefix: string): Side {
  return {
    create: (i) => store.create(`${prefix}/secrets/default/s${i}`, storedBytes(i)),
    get: (i) => store.get(`${prefix}/secrets/default/s${i}`),
    async listAll() {
      let startAfter: string | undefined;
      let items = 0;
      for (;;) {
        const page = await store.list(`${prefix}/secrets/default/`, {
          limit: 500,
          ...(startAfter !== undefined ? { startAfter } : {}),
        });
        items += page.items.length;
        if (!page.more) break;
        startAfter = page.items[page.items.length - 1]?.key;
      }
      return items;
    },
  };
}

/**
 * Raw and API work in alternating rounds (raw slice, API slice, raw slice, …), so the load other
 * processes put on the machine falls on both sides alike; rates are totals over all rounds.
 */
async function interleaved(raw: Side, api: Side): Promise<Record<string, unknown>> {
  const seconds = { raw: { create: 0, get: 0, list: 0 }, api: { create: 0, get: 0, list: 0 } };
  const slice = Math.ceil(COUNT / ROUNDS);
  for (const phase of ["create", "get"] as const) {
    for (let r = 0; r < ROUNDS; r++) {
      const from = r * slice;
      const to = Math.min(COUNT, from + slice);
      seconds.raw[phase] += await pool(from, to, CONCURRENCY, (i) => raw[phase](i));
      seconds.api[phase] += await pool(from, to, CONCURRENCY, (i) => api[phase](i));
    }
  }
  for (let r = 0; r < LIST_ROUNDS; r++) {
    seconds.raw.list += await pool(0, 1, 1, () => raw.listAll());
    seconds.api.list += await pool(0, 1, 1, () => api.listAll());
  }
  const rate = (n: number, s: number): number => Math.round(n / s);
  const rates = (side: { create: number; get: number; list: number }): Record<string, number> => ({
    createPerSec: rate(COUNT, side.create),
    getPerSec: rate(COUNT, side.get),
    fullListsPerSec: Math.round((LIST_ROUNDS / side.list) * 10) / 10,
  });
  const rawRates = rates(seconds.raw);
  const apiRates = rates(seconds.api);
  const ratio = (k: string): number =>
    Math.round(((apiRates[k] ?? 0) / Math.max(1e-9, rawRates[k] ?? 1)) * 100) / 100;
  return {
    raw: rawRates,
    api: apiRates,
    apiOverRaw: { create: ratio("createPerSec"), get: ratio("getPerSec"), list: ratio("fullListsPerSec") },
  };
}

export interface Api extends ApiTarget {
  child: ChildProcess;
}

export async function startApi(dir: string, storeArgs: string[]): Promise<Api> {
  const child = spawnAtrest(["apiserver", "--secure-port", "0", "--data-dir", dir, ...storeArgs], {
    env: { ATREST_LOG_LEVEL: "warn" },
  });
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`apiserver did not start: ${err}`)), 60_000);
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.includes("apiserver ready"));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.on("exit", (code) => reject(new Error(`apiserver exited ${String(code)}: ${err}`)));
  });
  const token = readFileSync(join(dir, "tokens.csv"), "utf8").split(",")[0] ?? "";
  return { url, token, ca: readFileSync(join(dir, "pki", "ca.crt"), "utf8"), child };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(t);
}

async function benchEtcd(): Promise<Record<string, unknown>> {
  const etcd = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-apiserver-"));
  let api: Api | undefined;
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  try {
    api = await startApi(dir, ["--etcd-servers", etcd.endpoints.join(",")]);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: api.ca });
    try {
      return await interleaved(rawSide(store, "/bench-raw"), apiSide(api, agent));
    } finally {
      agent.destroy();
    }
  } finally {
    if (api !== undefined) await stopChild(api.child);
    await store.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchSqlite(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-apiserver-"));
  let api: Api | undefined;
  const store = openStore({ sqlitePath: join(dir, "raw.db") });
  try {
    api = await startApi(dir, ["--datastore-endpoint", `sqlite://${join(dir, "api.db")}`]);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: api.ca });
    try {
      return await interleaved(rawSide(store, "/registry"), apiSide(api, agent));
    } finally {
      agent.destroy();
    }
  } finally {
    if (api !== undefined) await stopChild(api.child);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `BENCH_APISERVER_PARTS=watch` (or `throughput`) runs one part only. */
const PARTS = (process.env.BENCH_APISERVER_PARTS ?? "throughput,watch").split(",");

export async function run(): Promise<Record<string, unknown>> {
  const watch = PARTS.includes("watch") ? { watchLoad: await watchLoad(startApi) } : {};
  if (!PARTS.includes("throughput")) return watch;
  return {
    ...watch,
    secrets: COUNT,
    dataBytes: 1024,
    concurrency: CONCURRENCY,
    listRoundsOfAllPages: LIST_ROUNDS,
    interleavedRounds: ROUNDS,
    goal: "api/raw >= 0.5 for create and get",
    sqlite: await benchSqlite(),
    etcd: await benchEtcd(),
  };
}
